"""The Training dock: data setup with preview, options, Train/Stop/Kill with the live monitor,
results, and the project's runs (any of them overlaid on the curves)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from designer.app.background import ThreadResult
from designer.app.compression.page import CompressPage
from designer.app.monitor import TrainingMonitor, plot_defaults
from designer.app.results import ResultsView
from designer.app.training_runs import TrainingController
from designer.compress.record import PARENT
from designer.data.builtin import BUILTIN
from designer.wording import plural


class _Loaded(QObject):
    """Carries a dataset (or its error) from the loading thread to the GUI thread."""

    done = Signal(int, object, str)


SAMPLE_SIZE, SAMPLE_COLUMNS = (64, 76), 4  # the data page's labelled thumbnails


def scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area: a short dock scrolls it instead of squeezing the canvas."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area


class DataSetup(QWidget):
    """Where the data comes from, how it is split, what it looks like, and whether it fits the network."""

    changed = Signal(dict)  # the data setup to store in the project
    augment = Signal(str, bool)  # an augmentation layer to put in after the input, or take out

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        plot_defaults()  # before its class-distribution plot is made
        self.source = QComboBox(editable=True)
        self.source.addItems([f"builtin:{name}" for name in BUILTIN])
        self.source.setToolTip("builtin:NAME, images:FOLDER, npz:PATH or csv:PATH (relative to the project's folder)")
        browse = QPushButton("File…")
        browse.clicked.connect(self.browse)
        folder = QPushButton("Folder…")
        folder.setToolTip("An image folder: one sub-folder per class")
        folder.clicked.connect(self.browse_folder)
        self.target = QLineEdit(placeholderText="CSV: the column to predict")
        self.features = QLineEdit(placeholderText="CSV: input columns, comma-separated (empty: all the others)")
        self.target_size = QSpinBox(minimum=0, maximum=1024, specialValueText="as stored")
        self.target_size.setToolTip("Resize images to this side length (0: keep their size)")
        self.validation = QDoubleSpinBox(maximum=0.9, singleStep=0.05, value=0.15)
        self.test = QDoubleSpinBox(maximum=0.9, singleStep=0.05, value=0.15)
        self.seed = QSpinBox(maximum=1_000_000)
        self.fit = QLabel("")
        self.fit.setWordWrap(True)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.source, 1)
        row.addWidget(browse)
        row.addWidget(folder)
        form = QFormLayout()
        form.addRow("source", row)
        form.addRow("target column", self.target)
        form.addRow("feature columns", self.features)
        form.addRow("image size", self.target_size)
        form.addRow("validation split", self.validation)  # Keras's word, as in the training options
        form.addRow("test split", self.test)
        form.addRow("split seed", self.seed)
        from designer.graph.augmentation import AUGMENTATIONS

        self.augmentations: dict[str, QCheckBox] = {}
        boxes = QGridLayout()
        for i, (kind, (layer, params)) in enumerate(AUGMENTATIONS.items()):
            box = QCheckBox(kind)
            box.setToolTip(f"{layer}({', '.join(f'{k}={v}' for k, v in params.items())}) after the input: "
                           "active in training only; edit it on the canvas")
            box.toggled.connect(lambda on, kind=kind: self.augment.emit(kind, on))
            self.augmentations[kind] = box
            boxes.addWidget(box, i // 3, i % 3)
        form.addRow("augmentation", boxes)
        form.addRow(self.summary)
        form.addRow(self.fit)
        left = QWidget()
        left.setLayout(form)
        self.samples = QWidget()
        self.samples_grid = QGridLayout(self.samples)
        self.counts = pg.PlotWidget(title="class distribution")
        self.counts.setMinimumWidth(200)
        self.table = QTableWidget()
        split = QSplitter()
        self.samples_area = scrolled(self.samples)  # scrolls down only: its four columns always show
        self.samples_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        margins = self.samples_grid.contentsMargins()
        self.samples_area.setMinimumWidth(SAMPLE_COLUMNS * (SAMPLE_SIZE[0] + self.samples_grid.spacing())
                                          + margins.left() + margins.right()
                                          + self.samples_area.verticalScrollBar().sizeHint().width())
        for w in (scrolled(left), self.samples_area, self.table, self.counts):
            split.addWidget(w)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)
        self.loaded = _Loaded()
        self.loaded.done.connect(self._show)
        self.generation = 0
        self.folder = Path(".")
        self.extra: dict[str, Any] = {}  # data options without an editor here (e.g. "classes"), kept as they are
        self.dataset: Any = None
        self.shapes: tuple[list[Any], list[Any]] | None = None
        for signal in (self.source.currentTextChanged, self.target.editingFinished, self.features.editingFinished,
                       self.target_size.valueChanged):
            signal.connect(self.reload)
        for spin in (self.validation, self.test, self.seed):
            spin.valueChanged.connect(lambda _: self.changed.emit(self.setup()))

    def setup(self) -> dict[str, Any]:
        data = {**self.extra, "source": self.source.currentText().strip()}
        if self.target.text().strip():
            data["target"] = self.target.text().strip()
        features = [c.strip() for c in self.features.text().split(",") if c.strip()]
        if features:
            data["features"] = features
        if self.target_size.value():
            data["target_size"] = self.target_size.value()
        return data

    def splits(self) -> dict[str, Any]:
        return {"validation_split": round(self.validation.value(), 4), "test_split": round(self.test.value(), 4),
                "seed": self.seed.value()}

    def load_project(self, data: dict[str, Any], training: dict[str, Any], folder: Path) -> None:
        self.folder = folder
        self.extra = {k: v for k, v in data.items() if k not in ("source", "target", "target_size", "features")}
        editors = (self.source, self.target, self.features, self.target_size, self.validation, self.test, self.seed)
        for w in editors:  # showing the project's setup is not an edit of it
            w.blockSignals(True)
        self.source.setCurrentText(data.get("source", ""))
        self.target.setText(data.get("target", ""))
        self.features.setText(", ".join(data.get("features", [])))
        self.target_size.setValue(int(data.get("target_size") or 0))
        self.validation.setValue(training.get("validation_split", 0.15))
        self.test.setValue(training.get("test_split", 0.15))
        self.seed.setValue(training.get("seed", 0))
        for w in editors:
            w.blockSignals(False)
        self.reload(emit=False)

    def browse(self) -> None:
        path = QFileDialog.getOpenFileName(self, "Data file", str(self.folder), "Data (*.npz *.csv)")[0]
        if path:
            self.source.setCurrentText(f"{Path(path).suffix[1:]}:{path}")

    def browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Image folder (one sub-folder per class)", str(self.folder))
        if path:
            self.source.setCurrentText(f"images:{path}")

    def reload(self, *_: Any, emit: bool = True) -> None:
        """Load the dataset in a thread (scikit-learn and files can take a moment)."""
        if emit:
            self.changed.emit(self.setup())
        self.generation += 1
        generation, setup, folder = self.generation, self.setup(), self.folder
        if not setup["source"]:
            self.summary.setText("Choose a data source.")
            return
        self.summary.setText(f"Loading {setup['source']} …")

        def load() -> None:
            from designer.data.sources import load_source

            try:
                dataset = load_source(setup["source"], folder, target=setup.get("target"),
                                      target_size=setup.get("target_size"), classes=setup.get("classes"),
                                      features=setup.get("features"))
                self.loaded.done.emit(generation, dataset, "")
            except Exception as exc:  # DataError and unreadable files alike: shown, never raised
                self.loaded.done.emit(generation, None, str(exc))

        threading.Thread(target=load, daemon=True).start()

    def _show(self, generation: int, dataset: Any, error: str) -> None:
        if generation != self.generation:
            return
        self.dataset = dataset
        if dataset is None:
            self.summary.setText(f"<span style='color:#c62828'>{error}</span>")
            return
        preview = dataset.preview(16)
        classes = len(preview["classes"] or [])
        self.summary.setText(f"<b>{dataset.name}</b>: {plural(preview['samples'], 'sample')} of shape "
                             f"{tuple(preview['input_shape'])}, {dataset.task}"
                             + (f", {plural(classes, 'class', 'classes')}" if classes else ""))
        self._preview_samples(preview)
        counts = preview["class_counts"]
        self.counts.clear()
        if counts:
            self.counts.addItem(pg.BarGraphItem(x=np.arange(len(counts)), height=list(counts.values()), width=0.7,
                                                brush="#1e88e5"))
            self.counts.getAxis("bottom").setTicks([list(enumerate(counts))])
        self.check_fit()

    def _preview_samples(self, preview: dict[str, Any]) -> None:
        while self.samples_grid.count():
            self.samples_grid.takeAt(0).widget().deleteLater()
        x, y, classes = preview["first_x"], preview["first_y"], preview["classes"]
        images = x.ndim == 4 and x.shape[-1] in (1, 3)
        self.samples_area.setVisible(images)
        self.table.setVisible(not images)
        if images:
            for i, (sample, label) in enumerate(zip(x[:16], y[:16], strict=False)):
                view = pg.GraphicsLayoutWidget()
                view.setFixedSize(*SAMPLE_SIZE)
                box = view.addViewBox(lockAspect=True, invertY=True)
                box.addItem(pg.ImageItem(np.swapaxes(sample[..., 0] if sample.shape[-1] == 1 else sample, 0, 1)))
                box.setMouseEnabled(False, False)
                text = classes[int(label)] if classes else (f"{float(np.ravel(label)[0]):.2f}"
                                                            if np.size(label) == 1 else "→ itself")
                view.addLabel(text, row=1, col=0, size="7pt")
                self.samples_grid.addWidget(view, i // SAMPLE_COLUMNS, i % SAMPLE_COLUMNS)
            return
        flat = x.reshape(len(x), -1)[:, :12]
        self.table.setRowCount(len(flat))
        self.table.setColumnCount(flat.shape[1] + 1)
        self.table.setHorizontalHeaderLabels([*(f"x{j}" for j in range(flat.shape[1])), "target"])
        for i, row in enumerate(flat):
            for j, value in enumerate(row):
                self.table.setItem(i, j, QTableWidgetItem(f"{value:.3g}"))
            label = classes[int(y[i])] if classes else f"{float(np.ravel(y[i])[0]):.3g}"
            self.table.setItem(i, flat.shape[1], QTableWidgetItem(label))

    def show_augmentations(self, present: set[str]) -> None:
        for kind, box in self.augmentations.items():
            box.blockSignals(True)
            box.setChecked(kind in present)
            box.blockSignals(False)

    def set_network_shapes(self, inputs: list[Any], outputs: list[Any]) -> None:
        self.shapes = (inputs, outputs)
        self.check_fit()

    def check_fit(self) -> list[str]:
        """Data against the network as analysed: each mismatch says how to fix it."""
        if self.dataset is None or self.shapes is None:
            self.fit.setText("")
            return []
        from designer.data.dataset import check_fit

        problems = check_fit(self.dataset, *self.shapes)
        self.fit.setText("<span style='color:#2e7d32'>✔ the data fits the network</span>" if not problems else
                         "<br>".join(f"<span style='color:#c62828'>✖ {p}</span>" for p in problems))
        return problems


class RunsList(QWidget):
    """The project's runs from the run store; ticked ones are overlaid on the monitor's curves. The
    store is read in a thread: MLflow takes seconds to import, and a project opens without waiting."""

    overlay = Signal(list)
    opened = Signal(dict)
    HINT = "Tick runs to overlay their curves on the monitor."

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["run", "started", "status", "val_loss", "test metrics"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSortingEnabled(True)
        self.table.itemChanged.connect(lambda _: self._ticked())
        self.table.cellDoubleClicked.connect(self._open)
        self.table.setToolTip("Double-click a run to see its results again")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.note = QLabel(self.HINT)
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        layout.addWidget(self.table)
        layout.addWidget(refresh, alignment=Qt.AlignmentFlag.AlignRight)
        self.tracking_uri = ""
        self.experiment = ""
        self.runs: list[dict[str, Any]] = []
        self.generation = 0
        self.loading = False
        self.loaded = ThreadResult()  # runs, or the reason they could not be read
        self.loaded.done.connect(self._fill)

    def set_store(self, tracking_uri: str, experiment: str) -> None:
        self.tracking_uri, self.experiment = tracking_uri, experiment
        self.refresh()

    def refresh(self) -> None:
        """Read the store again; the newest request wins when several overlap."""
        self.generation += 1
        uri = self.tracking_uri
        if not uri or (uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file()):
            self._fill(self.generation, [])
            return
        self.loading = True
        threading.Thread(target=self._load, args=(self.generation, uri, self.experiment), daemon=True,
                         name="runs-list").start()

    def _load(self, generation: int, uri: str, experiment: str) -> None:
        try:
            from designer.training.records import list_runs

            result: object = list_runs(uri, experiment)
        except Exception as exc:  # a damaged or unreachable store is said in the panel, not raised
            result = f"The runs in {uri} could not be read: {exc}"
        self.loaded.done.emit(generation, result)

    def _fill(self, generation: int, runs: object) -> None:
        if generation != self.generation:
            return
        self.loading = False
        self.note.setText(runs if isinstance(runs, str) else self.HINT)
        # compressed variants are listed on their parent's Compress page, not as training runs
        self.runs = [] if isinstance(runs, str) else [r for r in runs if PARENT not in r["tags"]]  # type: ignore[union-attr]
        self.table.blockSignals(True)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.runs))
        for i, run in enumerate(self.runs):
            first = QTableWidgetItem(run["run_id"][:8])
            first.setFlags(first.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            first.setCheckState(Qt.CheckState.Unchecked)
            first.setData(Qt.ItemDataRole.UserRole, run["run_id"])
            metrics = run["metrics"]
            tests = ", ".join(f"{k[5:]} {v:.3f}" for k, v in metrics.items() if k.startswith("test_"))
            cells = [first, QTableWidgetItem(datetime.fromtimestamp(run["start_ms"] / 1000).strftime("%Y-%m-%d %H:%M")),
                     QTableWidgetItem(run["status"] + (f": {run['failure'][:60]}" if run["failure"] else "")),
                     QTableWidgetItem(f"{metrics['val_loss']:.4f}" if "val_loss" in metrics else ""),
                     QTableWidgetItem(tests)]
            for j, cell in enumerate(cells):
                self.table.setItem(i, j, cell)
        self.table.setSortingEnabled(True)
        self.table.blockSignals(False)

    def _open(self, row: int, _column: int = 0) -> None:
        from designer.training.records import run_result

        run_id = self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)
        run = next(r for r in self.runs if r["run_id"] == run_id)
        self.opened.emit(run_result(self.tracking_uri, run))

    def tick(self, run_ids: list[str]) -> None:
        for i in range(self.table.rowCount()):
            item = self.table.item(i, 0)
            checked = item.data(Qt.ItemDataRole.UserRole) in run_ids
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def _ticked(self) -> None:
        from designer.training.records import epoch_history

        chosen = []
        for i in range(self.table.rowCount()):
            item = self.table.item(i, 0)
            if item is not None and item.checkState() == Qt.CheckState.Checked:
                run_id = item.data(Qt.ItemDataRole.UserRole)
                chosen.append((run_id[:8], epoch_history(self.tracking_uri, run_id)))
        self.overlay.emit(chosen)


class TrainingDock(QTabWidget):
    """Setup · Monitor · Results · Runs, driven by the window's project."""

    def __init__(self, project_getter: Callable[[], tuple[Any, Path]], on_setup: Callable[..., None],
                 parent: QWidget | None = None) -> None:
        """``on_setup(data, training, whole=False)`` stores an edit of the data setup and training options."""
        super().__init__(parent)
        self.project_getter = project_getter
        self.data = DataSetup()
        self.options_button = QPushButton("Training options…")
        self.train_button = QPushButton("Train")
        self.train_button.setStyleSheet("font-weight: bold")
        self.train_button.setToolTip("Train the network on this data in a background process")
        setup = QWidget()
        column = QVBoxLayout(setup)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.data, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.options_button)
        buttons.addWidget(self.train_button)
        column.addLayout(buttons)
        self.monitor = TrainingMonitor()
        self.results = ResultsView()
        self.results.explain.data_source = self.explain_data
        self.runs = RunsList()
        self.compress = CompressPage()
        for widget, title in ((setup, "Data"), (self.monitor, "Monitor"), (self.results, "Results"),
                              (self.compress, "Compress"), (self.runs, "Runs")):
            self.addTab(widget, title)
        self.controller = TrainingController(self)
        self.controller.events.connect(self.monitor.add_events)
        self.controller.ended.connect(self._ended)
        self.controller.released.connect(self._released)
        self.monitor.stop_requested.connect(self.controller.stop)
        self.monitor.kill_requested.connect(self.controller.kill)
        self.runs.overlay.connect(self.monitor.overlay)
        self.runs.opened.connect(self._reopen)
        self.results.compress_requested.connect(lambda: self.setCurrentWidget(self.compress))
        self.train_button.clicked.connect(self.train)
        self.options_button.clicked.connect(self.edit_options)
        self.data.changed.connect(lambda data: on_setup(data, self.data.splits()))
        self.on_setup = on_setup
        self.notify: Callable[[str], None] = lambda _: None
        self.analysis: Callable[[], Any] = lambda: None  # the window's newest analysis of the network

    def show_project(self, project: Any, folder: Path, tracking_uri: str) -> None:
        """Another project: nothing of the last one's runs stays (curves, overlays, results, Export)."""
        self.monitor.reset(running=False)
        self.monitor.overlay([])
        self.results.reset()
        self.results.folder = self.compress.folder = folder
        self.compress.show_run("", "")
        self.data.load_project(project.data, project.training, folder)
        self.runs.set_store(tracking_uri, project.name)

    def edit_options(self) -> None:
        from designer.app.generative.recipe_fit import drawn_latent_sizes, recipe_problems
        from designer.app.training_options import TrainingOptionsDialog

        project, _ = self.project_getter()
        doc = project.document
        dialog = TrainingOptionsDialog({**project.training, **self.data.splits()}, self,
                                       blocks=[node.name for node in doc.nodes.values() if node.is_block],
                                       check=lambda recipe, options: recipe_problems(doc, self.analysis(), recipe,
                                                                                     options),
                                       drawn=drawn_latent_sizes(doc, project.training))
        if dialog.exec():
            self.on_setup(self.data.setup(), dialog.values(), True)

    def train(self) -> None:
        if self.controller.running:
            return
        project, folder = self.project_getter()
        problems = self.data.check_fit()
        if problems:
            self.setCurrentWidget(self.data.parentWidget())
            self.notify("The data does not fit the network: " + problems[0])
            return
        from designer.training.spec import TrainingSpec

        epochs = TrainingSpec.from_dict(project.training).epochs
        self.monitor.reset(running=True, epochs=epochs)
        self.train_button.setEnabled(False)
        self.setCurrentWidget(self.monitor)
        self.controller.start(project, folder, self.runs.tracking_uri or None)

    def _show_result(self, event: dict[str, Any], tracking_uri: str) -> None:
        """On the Results page, and on the Compress page when the run finished (a failed run has no model)."""
        self.results.show_result(event, tracking_uri)
        self.compress.show_run(self.results.run_id if self.results.compress_button.isEnabled() else "",
                               tracking_uri)

    def explain_data(self) -> tuple[Any, Any, list[str]] | None:
        """What the Explain pages offer: the data setup, its test samples' indices and the network's 2-D
        convolutions (for Grad-CAM); None while the data loads."""
        dataset = self.data.dataset
        if dataset is None:
            return None
        project, _ = self.project_getter()
        splits = self.data.splits()
        test = dataset.split_indices(splits["validation_split"], splits["test_split"], splits["seed"])[2]
        return dataset, test, [node.name for node in project.document.nodes.values() if "Conv2D" in node.type]

    def _reopen(self, event: dict[str, Any]) -> None:
        self._show_result(event, self.runs.tracking_uri)
        self.setCurrentWidget(self.results)

    def release_run(self, ask: Any) -> bool:
        """Before another project replaces this one: True when no run is training, or the user agreed to stop
        it (the best checkpoint is kept and the run recorded as stopped); its last events then go nowhere."""
        if not self.controller.running:
            return True
        if not ask("Training in progress", "A run of this network is still training. Stop it and go on? "
                   "Its best checkpoint is kept and the run is recorded as stopped."):
            return False
        self.controller.detach()
        return True

    def _released(self) -> None:
        self.controller.prepare()
        self.train_button.setEnabled(True)

    def _ended(self, event: dict[str, Any]) -> None:
        self.controller.prepare()  # the next run starts warm
        self.train_button.setEnabled(True)
        self._show_result(event, self.controller.tracking_uri)
        self.runs.refresh()
        ok = event["event"] == "finished"
        if ok:
            self.setCurrentWidget(self.results)
        self.notify("Training finished." if ok else f"Training failed ({event.get('cause')}): {event.get('message')}")
