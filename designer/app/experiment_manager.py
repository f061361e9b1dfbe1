"""The Experiment Manager window: define a sweep (hyperparameter table, strategy, budget, objective),
run it in parallel warm workers, follow every trial in the results table, compare trials, and
open, export or re-run one. The sweep runs on a plain thread; its events reach the window in
batches on a timer, as a training run's do."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from designer.app.experiment_views import CurveOverlay, ObjectiveScatter, ParallelCoordinates, TrialDiff, TrialMetrics
from designer.app.monitor import plot_defaults
from designer.app.results import ResultsView
from designer.app.trial_table import TrialTable
from designer.experiments.definition import PRUNERS, STRATEGIES, Experiment
from designer.graph.project import Project
from designer.graph.serialize import DocumentFormatError
from designer.training.stores import default_tracking_uri

OBJECTIVES = ("val_loss", "val_accuracy", "loss", "accuracy", "test_accuracy", "test_loss", "val_mae",
              "compress_test_accuracy",  # of each trial's compressed variant (compress.method)
              "sample_quality")  # a GAN's or VAE's samples scored by its judge (training.gan.judge)


class SweepController(QObject):
    """Runs a sweep on a plain thread and keeps its workers warm for the next one."""

    events = Signal(list)
    stage = Signal(str)  # what the sweep is doing before its first trial trains; "" once one does

    def __init__(self, parent: QObject | None = None, interval_ms: int = 100) -> None:
        super().__init__(parent)
        self.pending: deque[dict[str, Any]] = deque()
        self.sweep: Any = None
        self.running = False
        self.warm: list[Any] = []  # workers importing Keras (or done) for the next sweep
        self.said = ""
        self.closed = False
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self._deliver)

    def prepare(self, count: int, spec: Any) -> None:
        """Workers for the next sweep, importing Keras while the user sets it up (seconds each)."""
        from designer.experiments.workers import start_workers

        self.closed = False
        if not self.running and not self.warm:
            self.warm = start_workers(count, spec)

    def start(self, sweep: Any) -> None:
        self.sweep, self.running, self.said = sweep, True, ""
        self.warm = []  # the sweep took them
        threading.Thread(target=self._pump, daemon=True, name="sweep").start()
        self.timer.start()

    def _pump(self) -> None:
        try:
            for event in self.sweep.run():
                self.pending.append(event)
        except Exception as exc:  # a store that cannot open, a study of another direction: say so in the window
            self.pending.append({"event": "sweep_failed", "message": f"{type(exc).__name__}: {exc}"})

    def _deliver(self) -> None:
        if self.sweep.stage != self.said:
            self.said = self.sweep.stage
            self.stage.emit(self.said)
        batch = []
        while self.pending:
            batch.append(self.pending.popleft())
        if batch:
            if batch[-1]["event"] in ("summary", "sweep_failed"):
                self.timer.stop()
                self.running = False
                self.warm = self.sweep.kept  # still warm: the next sweep starts at once
                if self.closed:
                    self.shutdown()
            self.events.emit(batch)

    def shutdown(self) -> None:
        """On closing: stop the sweep (its trials run again on resume) and let every worker go, waiting for
        none of them (each is joined on a thread of its own as it ends)."""
        self.closed = True
        if self.running and self.sweep is not None:
            self.sweep.keep_workers = False
            self.sweep.stop()
        for handle in self.warm:
            handle.close()
        self.warm = []


class DefinitionEditor(QWidget):
    """The experiment's settings and its hyperparameter table (key, values), checked as they are typed."""

    changed = Signal(object)  # a valid Experiment

    def __init__(self) -> None:
        super().__init__()
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["hyperparameter (training.OPTION, LAYER.PARAM, compress.method, "
                                              "compress.sparsity)",
                                              "values (a,b,c · int:LOW:HIGH · float:… · log:…)"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.itemChanged.connect(lambda _: self._check())
        add, remove = QPushButton("Add row"), QPushButton("Remove row")
        add.clicked.connect(lambda: self.add_row("", ""))
        remove.clicked.connect(lambda: self.table.removeRow(max(self.table.currentRow(), 0))
                               if self.table.rowCount() else None)
        self.strategy = QComboBox()
        self.strategy.addItems(STRATEGIES)
        self.trials = QSpinBox(minimum=0, maximum=100000, specialValueText="whole grid / 10")
        self.workers = QSpinBox(minimum=1, maximum=64)
        self.objective = QComboBox(editable=True)
        self.objective.addItems(OBJECTIVES)
        self.pruner = QComboBox()
        self.pruner.addItems(PRUNERS)
        for widget in (self.strategy, self.objective, self.pruner):
            widget.currentTextChanged.connect(lambda _: self._check())
        for spin in (self.trials, self.workers):
            spin.valueChanged.connect(lambda _: self._check())
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828")
        self.error.setWordWrap(True)
        form = QFormLayout()
        for label, widget in (("strategy", self.strategy), ("trials", self.trials), ("parallel workers", self.workers),
                              ("objective", self.objective), ("pruning", self.pruner)):
            form.addRow(label, widget)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch()
        left = QVBoxLayout()
        left.addWidget(self.table)
        left.addLayout(buttons)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addLayout(left, 3)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.error)
        right.addStretch()
        row.addLayout(right, 1)
        self.name = "experiment"
        self.loading = False

    def add_row(self, key: str, values: str) -> None:
        self.table.insertRow(self.table.rowCount())
        self.table.setItem(self.table.rowCount() - 1, 0, QTableWidgetItem(key))
        self.table.setItem(self.table.rowCount() - 1, 1, QTableWidgetItem(values))

    def load(self, experiment: Experiment) -> None:
        self.loading = True
        self.name = experiment.name
        self.table.setRowCount(0)
        for key, values in experiment.params.items():
            self.add_row(key, values)
        self.strategy.setCurrentText(experiment.strategy)
        self.trials.setValue(experiment.trials or 0)
        self.workers.setValue(experiment.workers)
        self.objective.setCurrentText(experiment.objective)
        self.pruner.setCurrentText(experiment.pruner)
        self.loading = False
        self.error.clear()

    def experiment(self) -> Experiment:
        """The settings as an experiment; ``DocumentFormatError`` names the row or field that is wrong."""
        params = {}
        for i in range(self.table.rowCount()):
            key, values = (self.table.item(i, c).text().strip() if self.table.item(i, c) else "" for c in (0, 1))
            if key or values:
                params[key] = values
        return Experiment.from_dict(self.name, {
            "params": params, "strategy": self.strategy.currentText(), "trials": self.trials.value() or None,
            "workers": self.workers.value(), "objective": self.objective.currentText().strip(),
            "pruner": self.pruner.currentText()})

    def _check(self) -> None:
        if self.loading:
            return
        try:
            experiment = self.experiment()
        except DocumentFormatError as exc:
            self.error.setText(str(exc))
            return
        self.error.clear()
        self.changed.emit(experiment)


class ExperimentManager(QMainWindow):
    def __init__(self, project: Callable[[], tuple[Project, Path]], save: Callable[[dict[str, Any]], None],
                 open_project: Callable[[Project], None], catalog: Callable[[], Any]) -> None:
        """``project()`` gives the open project and its folder; ``save(experiments)`` stores the edited
        definitions in it (one undo step); ``open_project`` shows a trial's network in the designer."""
        super().__init__()
        plot_defaults()
        self.setWindowTitle("Experiment Manager")
        self.resize(1400, 900)
        self.get_project, self.save, self.open_project, self.catalog = project, save, open_project, catalog
        self.controller = SweepController(self)
        self.controller.events.connect(self._events)
        self.controller.stage.connect(self._stage)
        self.sweep_line = ""  # the status once the trials train
        self.choose = QComboBox()
        self.choose.currentTextChanged.connect(self._chosen)
        new = QPushButton("New…")
        new.clicked.connect(self.new_experiment)
        self.run_button, self.stop_button = QPushButton("▶ Run"), QPushButton("■ Stop")
        self.run_button.clicked.connect(self.run)
        self.stop_button.clicked.connect(lambda: self.controller.sweep and self.controller.sweep.stop())
        self.stop_button.setEnabled(False)
        self.definition = DefinitionEditor()
        self.definition.changed.connect(self._edited)
        self.filter = QLineEdit(placeholderText="filter trials…")
        self.table = TrialTable()
        self.table.trials.note_edited.connect(self._tag)
        self.filter.textChanged.connect(self.table.filter)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selected())
        self.status = QLabel()
        actions = QHBoxLayout()
        for text, slot in (("Cancel trial", self.cancel_trial), ("Open in designer", self.open_trial),
                           ("Re-run", self.rerun_trial), ("Export CSV…", self.export_csv)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            actions.addWidget(button)
        actions.addWidget(self.filter, 1)
        self.curves = CurveOverlay()
        self.parallel = ParallelCoordinates()
        self.scatter = ObjectiveScatter()
        self.pareto = ObjectiveScatter(pareto=True)
        self.result = ResultsView()
        self.compared = TrialMetrics()
        self.results_page = QStackedWidget()  # one finished trial's results, or the selection's metrics
        self.results_page.addWidget(self.compared)
        self.results_page.addWidget(self.result)
        self.diff = TrialDiff()
        self.tabs = QTabWidget()
        for widget, title in ((self.curves, "Curves"), (self.parallel, "Parallel coordinates"),
                              (self.scatter, "Objective vs hyperparameter"), (self.pareto, "Objective vs size"),
                              (self.results_page, "Trial results"), (self.diff, "Diff")):
            self.tabs.addTab(widget, title)
        self.tabs.currentChanged.connect(lambda _: self._selected())  # a tab chosen after the selection
        for view in (self.scatter, self.pareto):
            view.picked.connect(self.select_trial)
        self.parallel.brushed.connect(lambda numbers: self.status.setText(
            f"{len(numbers)} trials inside the brushed ranges: {', '.join(map(str, numbers))}"))
        top = QHBoxLayout()
        for widget in (QLabel("Experiment"), self.choose, new, self.run_button, self.stop_button):
            top.addWidget(widget)
        top.addWidget(self.status, 1)
        table_side = QWidget()
        column = QVBoxLayout(table_side)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(actions)
        column.addWidget(self.table)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.definition)
        split.addWidget(table_side)
        split.addWidget(self.tabs)
        split.setSizes([170, 300, 430])
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self.setCentralWidget(body)
        self.rows: dict[int, dict[str, Any]] = {}
        self.histories: dict[int, dict[str, list[tuple[int, float]]]] = {}
        self.experiment: Experiment | None = None
        self.load_project()

    # ---- the project's experiments ----------------------------------------------------------
    def load_project(self) -> None:
        project, _ = self.get_project()
        self.choose.blockSignals(True)
        self.choose.clear()
        self.choose.addItems(list(project.experiments))
        self.choose.blockSignals(False)
        if project.experiments:
            self._chosen(self.choose.currentText())
        else:
            self.definition.load(Experiment(name="experiment", params={}))

    def new_experiment(self) -> None:
        name, ok = QInputDialog.getText(self, "New experiment", "Name")
        if ok and name.strip():
            self.add_experiment(Experiment(name=name.strip(), params={}))

    def add_experiment(self, experiment: Experiment) -> None:
        self.choose.addItem(experiment.name)
        self.choose.setCurrentText(experiment.name)
        self.definition.load(experiment)

    def _chosen(self, name: str) -> None:
        project, _ = self.get_project()
        if name not in project.experiments:
            return
        try:
            self.experiment = Experiment.from_dict(name, project.experiments[name])
        except DocumentFormatError as exc:
            self.status.setText(f"<span style='color:#c62828'>{exc}</span>")
            return
        self.definition.load(self.experiment)
        self.reload()

    def _edited(self, experiment: Experiment) -> None:
        self.experiment = experiment
        project, _ = self.get_project()
        self.save({**project.experiments, experiment.name: experiment.to_dict()})

    def _stores(self) -> tuple[str, str, str]:
        from designer.experiments.study import default_storage, study_name

        project, folder = self.get_project()
        assert self.experiment is not None
        return (study_name(project.name, self.experiment.name), default_storage(folder),
                default_tracking_uri(folder))

    def reload(self) -> None:
        """The table and views from the stores: what earlier sweeps of this experiment left."""
        from designer.experiments.results import load_trials

        if self.experiment is None:
            return
        study, storage, tracking = self._stores()
        rows = load_trials(self.experiment, study, storage, tracking) if Path(
            storage.removeprefix("sqlite:///")).exists() else []
        self.rows = {r["trial"]: r for r in rows}
        self.histories = {n: h for n, h in self.histories.items() if n in self.rows}
        self._refresh(full=True)

    # ---- running ----------------------------------------------------------------------------
    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.warm_up()

    def warm_up(self) -> None:
        """Start the experiment's workers importing Keras now, so that Run starts training at once."""
        from designer.experiments.workers import worker_count
        from designer.training.spec import TrainingSpec

        project, _ = self.get_project()
        try:
            experiment = self.definition.experiment()
            count, spec = worker_count(experiment)[0], TrainingSpec.from_dict(project.training)
        except DocumentFormatError:  # the definition is being edited: its workers start with the sweep
            return
        self.controller.prepare(count, spec)

    def run(self, experiment: Experiment | None = None) -> None:
        from designer.experiments.sweep import Sweep

        try:
            experiment = experiment or self.definition.experiment()
            project, folder = self.get_project()
            sweep = Sweep(project, folder, experiment, catalog=self.catalog(), workers=self.controller.warm,
                          keep_workers=True)
        except DocumentFormatError as exc:
            self.status.setText(f"<span style='color:#c62828'>{exc}</span>")
            return
        self.experiment = experiment
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.sweep_line = ""
        self.status.setText(sweep.stage)
        self.controller.start(sweep)

    def _stage(self, stage: str) -> None:
        self.status.setText(stage or self.sweep_line)

    def cancel_trial(self) -> None:
        if self.controller.sweep is not None:
            for row in self.table.selected_trials():
                if row["status"] == "running":
                    self.controller.sweep.cancel(row["trial"])

    def rerun_trial(self) -> None:
        """The selected trials' values again, as new trials of the same study."""
        import optuna

        selected = self.table.selected_trials()
        if not selected or self.experiment is None or self.controller.running:
            return
        study_name, storage, _ = self._stores()
        study = optuna.load_study(study_name=study_name, storage=storage)
        for row in selected:
            study.enqueue_trial(dict(study.trials[row["trial"]].params), user_attrs={"rerun_of": row["trial"]})
        from designer.experiments.study import spent

        # The queued values run first; a grid's budget cannot grow past its size, so a re-run goes as random.
        strategy = "random" if self.experiment.strategy == "grid" else self.experiment.strategy
        self.run(replace(self.experiment, trials=spent(study) + len(selected), strategy=strategy))

    def _events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            kind = event["event"]
            number = event.get("trial")
            if kind == "sweep_started":
                self.sweep_line = (f"{event['workers']} workers, {event['budget']} trials"
                                   f"{', going on from ' + str(event['done_before']) if event['done_before'] else ''}")
                if not self.controller.said:
                    self.status.setText(self.sweep_line)
            elif kind == "trial_started":
                self.rows[number] = {"trial": number, "status": "running", "objective": None, "params": event["params"],
                                     "metrics": {}, "duration_s": None, "parameters": None, "run_id": event["run_id"],
                                     "cause": "", "message": "", "note": "", "star": False, "epochs_done": 0,
                                     "epochs": event["epochs"]}
                self.histories[number] = {}
            elif kind == "trial_epoch" and number in self.rows:
                self.rows[number]["epochs_done"] = event["epoch"]
                for key, value in event.items():
                    if isinstance(value, float) and key not in ("wall_time",):
                        self.histories[number].setdefault(key, []).append((event["epoch"], value))
            elif kind == "trial_compressing" and number in self.rows:  # trained; its compression runs
                self.rows[number]["status"] = "compressing"
            elif kind in ("trial_finished", "trial_failed", "trial_pruned") and number in self.rows:
                row = self.rows[number]
                row["status"] = {"trial_finished": "finished", "trial_pruned": "pruned"}.get(kind, "failed")
                row.update({k: event[k] for k in ("objective", "metrics", "duration_s", "parameters", "cause",
                                                  "message") if k in event})
            elif kind == "summary":
                self.run_button.setEnabled(True)
                self.stop_button.setEnabled(False)
                best = event["best"]
                self.reload()
                self.status.setText(f"done in {event['duration_s']:.0f} s" + (
                    f" — best: trial {best['trial']}, {event['objective']} {best['objective']:.4f}" if best else ""))
                return
            elif kind == "sweep_failed":
                self.run_button.setEnabled(True)
                self.stop_button.setEnabled(False)
                self.status.setText(f"<span style='color:#c62828'>{event['message']}</span>")
        self._refresh(full=any(e["event"] != "trial_epoch" for e in events))

    # ---- views ------------------------------------------------------------------------------
    def _refresh(self, full: bool) -> None:
        assert self.experiment is not None
        keys = list(self.experiment.params)
        rows = [self.rows[n] for n in sorted(self.rows)]
        if full:
            self.table.trials.set_rows(rows, keys, self.experiment.objective)
            self.parallel.show_trials(rows, keys, self.experiment.objective)
            self.scatter.show_trials(rows, keys, self.experiment.objective, self.experiment.maximize)
            self.pareto.show_trials(rows, keys, self.experiment.objective, self.experiment.maximize)
        else:
            for row in rows:
                if row["status"] == "running":
                    self.table.trials.update_row(row)
        self._selected()

    def select_trial(self, number: int) -> None:
        for i in range(self.table.proxy.rowCount()):
            if self.table.proxy.index(i, 1).data() == str(number):
                self.table.selectRow(i)
                return

    def _selected(self) -> None:
        selected = self.table.selected_trials()
        assert self.experiment is not None
        self.curves.show_trials([(r["trial"], self._history(r)) for r in selected], self.experiment.objective)
        if self.tabs.currentWidget() is self.results_page:
            self._show_results(selected)
        if len(selected) >= 2 and self.tabs.currentWidget() is self.diff:
            self.diff.show_pair(selected[0], selected[1], (self._settings(selected[0]), self._settings(selected[1])))

    def _history(self, row: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
        if row["trial"] not in self.histories and row["run_id"]:
            from designer.training.records import epoch_history

            self.histories[row["trial"]] = epoch_history(self._stores()[2], row["run_id"])
        return self.histories.get(row["trial"], {})

    def _settings(self, row: dict[str, Any]) -> dict[str, Any]:
        from designer.training.records import find_run

        return find_run(self._stores()[2], row["run_id"])["params"] if row["run_id"] else {}

    def _show_results(self, selected: list[dict[str, Any]]) -> None:
        """One finished trial: its confusion matrix, per-class scores and Export; otherwise the selected
        trials' metrics side by side, with what to select for the rest."""
        from designer.training.records import find_run, run_result

        assert self.experiment is not None
        one = selected[0] if len(selected) == 1 else None
        if one is None or one["status"] != "finished" or not one["run_id"]:
            self.compared.show_trials(selected, self.experiment.objective)
            self.results_page.setCurrentWidget(self.compared)
            return
        if one["run_id"] != self.result.run_id:
            tracking = self._stores()[2]
            self.result.show_result(run_result(tracking, find_run(tracking, one["run_id"])), tracking)
        self.results_page.setCurrentWidget(self.result)

    def show_tab(self, title: str) -> None:
        index = next(i for i in range(self.tabs.count()) if self.tabs.tabText(i) == title)
        self.tabs.setCurrentIndex(index)
        self._selected()

    def _tag(self, run_id: str, key: str, value: str) -> None:
        from designer.experiments.results import set_run_tag

        set_run_tag(self._stores()[2], run_id, key, value)

    def open_trial(self) -> None:
        """The selected trial's network and options, as a new unsaved project in the designer."""
        from designer.experiments.trial import trial_project

        selected = self.table.selected_trials()
        if not selected:
            return
        row = selected[0]
        base, _ = self.get_project()
        project, training = trial_project(base, {k: tuple(v) if isinstance(v, list) else v
                                                 for k, v in row["params"].items()})
        project.training = {**project.training, **training}
        project.experiments = {}
        project.document.name = f"{base.name}_trial{row['trial']}"
        self.open_project(project)

    def export_csv(self, path: str | None = None) -> None:
        from designer.experiments.results import write_csv

        path = path or QFileDialog.getSaveFileName(self, "Export the results table", filter="*.csv")[0]
        if path:
            write_csv([self.rows[n] for n in sorted(self.rows)], Path(path))
            self.status.setText(f"wrote {path}")

    def closeEvent(self, event: Any) -> None:
        self.controller.shutdown()
        super().closeEvent(event)
