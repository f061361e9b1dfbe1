"""The Results' Explain page: pick test samples and a method, explain the run's model in a worker
process (``netdesigner explain RUN --json``), and show each map as an overlay (images) or as bars per
feature (tables, sequences). The GUI only starts, reads and cancels the process; it never waits on it."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import QProcess, QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from designer.app.scratch import scratch_folder
from designer.app.subprocesses import designer_process
from designer.inspection.stream import parse_progress, parse_sample

METHODS = {"Grad-CAM": "gradcam", "Guided Grad-CAM": "guided-gradcam", "Occlusion": "occlusion", "LIME": "lime",
           "Integrated gradients": "integrated-gradients"}
LAST_CONVOLUTION = "(last convolution)"
SHOWN = 64  # test samples offered as thumbnails
COLUMNS = 4  # maps per row


def thumbnail(sample: np.ndarray, size: int = 48) -> QIcon | None:
    """An image sample (H, W, C) as an icon scaled to its values' range; None for other samples."""
    if sample.ndim != 3 or sample.shape[-1] not in (1, 3):
        return None
    values = sample.astype("float32")
    low, high = float(values.min()), float(values.max())
    pixels = np.ascontiguousarray(((values - low) / max(high - low, 1e-8) * 255).astype("uint8"))
    height, width, channels = pixels.shape
    fmt = QImage.Format.Format_Grayscale8 if channels == 1 else QImage.Format.Format_RGB888
    image = QImage(pixels.data, width, height, width * channels, fmt).copy()  # own the bytes
    return QIcon(QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio))


class ExplainPage(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.samples = QListWidget()
        self.samples.setViewMode(QListWidget.ViewMode.IconMode)
        self.samples.setIconSize(QSize(48, 48))
        self.samples.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.samples.setMaximumWidth(260)
        self.samples.setToolTip("Test samples (not trained on); select the ones to explain")
        self.method = QComboBox()
        self.method.addItems(list(METHODS))
        self.layer = QComboBox(editable=True)
        self.layer.setToolTip("Grad-CAM's convolutional layer")
        self.method.currentTextChanged.connect(lambda text: self.layer.setEnabled("Grad-CAM" in text))
        self.explain_button = QPushButton("Explain")
        self.explain_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel", enabled=False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar(maximum=100)
        self.progress.setMaximumHeight(12)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.maps = pg.GraphicsLayoutWidget()
        row = QHBoxLayout()
        for widget in (QLabel("Method"), self.method, QLabel("Layer"), self.layer, self.explain_button,
                       self.cancel_button):
            row.addWidget(widget)
        row.addWidget(self.progress, 1)
        right = QVBoxLayout()
        right.addLayout(row)
        right.addWidget(self.status)
        right.addWidget(self.maps, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.samples)
        layout.addLayout(right, 1)
        self.dataset: Any = None
        # (data, test indices, convolutions) from the data setup, asked for when a run is shown
        self.data_source: Callable[[], tuple[Any, Any, list[str]] | None] = lambda: None
        self.run: tuple[str, str] | None = None  # tracking URI, run id
        self.folder = Path(".")  # the project's folder: its data paths are relative to it
        self.process: QProcess | None = None
        # The run's model and the maps: removed with the next run, a reset, or at exit at the latest.
        self.scratch: tempfile.TemporaryDirectory[str] | None = None
        self.expected = 0
        self.records: list[dict[str, Any]] = []
        self.error = ""
        self.set_run(None)

    def set_data(self, dataset: Any, test_indices: np.ndarray, convolutions: list[str]) -> None:
        """The data setup's test samples as thumbnails, and the network's convolutions for Grad-CAM."""
        self.dataset = dataset
        self.samples.clear()
        names = getattr(dataset, "class_names", [])
        for index in test_indices[:SHOWN]:
            index = int(index)
            label = dataset.y[index]
            text = names[int(label)] if names and np.ndim(label) == 0 and int(label) < len(names) else ""
            item = QListWidgetItem(f"#{index} {text}".strip())
            icon = thumbnail(np.asarray(dataset.x[index]))
            if icon is not None:
                item.setIcon(icon)
            item.setData(Qt.ItemDataRole.UserRole, index)
            self.samples.addItem(item)
        for row in range(min(4, self.samples.count())):
            self.samples.item(row).setSelected(True)
        self.layer.clear()
        self.layer.addItems([LAST_CONVOLUTION, *convolutions])

    def set_run(self, run: tuple[str, str] | None) -> None:
        """The run whose model is explained (tracking URI, run id); None: nothing to explain."""
        self.cancel()
        self._clean()
        self.run = run
        offered = self.data_source() if run is not None else None
        if offered is not None:
            self.set_data(*offered)
        self.maps.clear()
        self.progress.setValue(0)
        self.explain_button.setEnabled(run is not None)
        self.status.setText("Choose test samples and a method, then Explain." if run else
                            "A finished run's decisions can be explained here.")

    def chosen(self) -> list[int]:
        return sorted(int(item.data(Qt.ItemDataRole.UserRole)) for item in self.samples.selectedItems())

    def start(self) -> QProcess | None:
        """Fetch the run's model here, where the store is open, then explain it in its own process."""
        from designer.training.records import download_trained_model

        chosen = self.chosen()
        if self.run is None or not chosen:
            self.status.setText("Select one or more test samples on the left first.")
            return None
        self._clean()
        self.scratch = scratch_folder("netdesigner-explain-")
        files = Path(self.scratch.name)
        try:
            download_trained_model(*self.run, files / "run")
        except Exception as exc:  # a store gone or a run without a model: say so here
            self.status.setText(f"Cannot explain: {exc}")
            return None
        method = METHODS[self.method.currentText()]
        arguments = ["explain", str(files / "run"), "--method", method, "--samples",
                     ",".join(map(str, chosen)), "-o", str(files / "maps"), "--json"]
        if method.endswith("gradcam") and self.layer.currentText() not in ("", LAST_CONVOLUTION):
            arguments += ["--layer", self.layer.currentText()]
        self.expected, self.records, self.error = len(chosen), [], ""
        self.maps.clear()
        self.progress.setValue(0)
        self.status.setText(f"Explaining {len(chosen)} sample(s) with {self.method.currentText()} "
                            "(loading TensorFlow first) …")
        process = designer_process(self, arguments, self._finished)
        process.setWorkingDirectory(str(self.folder))
        process.readyReadStandardOutput.connect(lambda: self._read_samples(process))
        process.readyReadStandardError.connect(lambda: self._read_progress(process))
        self.explain_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        process.start()
        self.process = process
        return process

    def cancel(self) -> None:
        """Stop the worker now: a cancelled explanation keeps nothing worth waiting for."""
        process, self.process = self.process, None
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            process.kill()
            self.status.setText("Cancelled.")
        self.cancel_button.setEnabled(False)
        self.explain_button.setEnabled(self.run is not None)

    def _read_samples(self, process: QProcess) -> None:
        while process.canReadLine():
            record = parse_sample(bytes(process.readLine().data()).decode(errors="replace"))
            if record is not None:
                self.records.append(record)
                self._show(record, len(self.records) - 1)

    def _read_progress(self, process: QProcess) -> None:
        text = bytes(process.readAllStandardError().data()).decode(errors="replace")
        for line in text.splitlines():
            share = parse_progress(line)
            if share is not None:
                self.progress.setValue(int(share * 100))
            elif line.strip():
                self.error = line.strip()  # the last line is the one-line reason when it fails

    def _finished(self, process: QProcess) -> None:
        if process is not self.process:
            return  # cancelled, or replaced by a newer run
        self._read_samples(process)
        self._read_progress(process)
        self.process = None
        self.cancel_button.setEnabled(False)
        self.explain_button.setEnabled(self.run is not None)
        if process.exitCode() == 0 and len(self.records) == self.expected:
            self.progress.setValue(100)
            self.status.setText(f"{len(self.records)} sample(s) explained with {self.method.currentText()}: "
                                + ("warm colours mark the evidence for the class." if self._images() else
                                   "red bars speak for the class, blue against it."))
        else:
            self.status.setText(f"Explaining failed: {self.error or 'the worker stopped'}")

    def _images(self) -> bool:
        return self.dataset is not None and np.asarray(self.dataset.x[:1]).ndim == 4

    def _show(self, record: dict[str, Any], i: int) -> None:
        heat = np.load(record["map"])
        title = f"#{record['sample']}: {record['class']} ({record['probability']:.0%})"
        self.maps.addLabel(title, row=(i // COLUMNS) * 2, col=i % COLUMNS, size="8pt")
        if heat.ndim == 2 and self._images():
            box = self.maps.addViewBox(row=(i // COLUMNS) * 2 + 1, col=i % COLUMNS, lockAspect=True, invertY=True,
                                       enableMouse=False)
            with Image.open(record["png"]) as picture:
                box.addItem(pg.ImageItem(np.swapaxes(np.asarray(picture.convert("RGB")), 0, 1)))
            return
        values = heat.reshape(-1)
        plot = self.maps.addPlot(row=(i // COLUMNS) * 2 + 1, col=i % COLUMNS)
        brushes = ["#c62828" if v >= 0 else "#1565c0" for v in values]
        plot.addItem(pg.BarGraphItem(x=np.arange(len(values)), height=values, width=0.8, brushes=brushes))
        plot.setLabel("bottom", "feature" if heat.ndim == 1 else "position")

    def _clean(self) -> None:
        if self.scratch is not None:
            self.scratch.cleanup()
        self.scratch = None
