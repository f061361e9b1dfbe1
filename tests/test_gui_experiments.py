"""The Experiment Manager, driven as a user would: a results table over real Optuna and MLflow stores
(sort, filter, hide columns, stars and notes written back), the compare views, the definition editor,
opening a trial in the designer, and one real sweep started from the window."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from PySide6.QtCore import QItemSelectionModel, Qt

from designer.app.experiment_manager import ExperimentManager
from designer.data.sources import load_source
from designer.experiments.definition import Experiment
from designer.experiments.results import pareto_front
from designer.experiments.study import default_storage, study_name
from designer.graph.document import NetworkDocument
from designer.graph.project import Project
from designer.training.stores import default_tracking_uri

UNITS = [4, 8, 16, 32, 64, 12]
ACCURACY = [0.70, 0.82, 0.91, 0.93, 0.94, 0.88]
PARAMETERS = [35, 67, 131, 259, 515, 99]


def iris_project() -> Project:
    doc = NetworkDocument("iris_mlp")
    ids = [doc.add_node(t, n, p).id for t, n, p in (
        ("InputLayer", "features", {"shape": [4]}), ("Dense", "hidden", {"units": 8, "activation": "relu"}),
        ("Dense", "species", {"units": 3, "activation": "softmax"}))]
    doc.connect(ids[0], ids[1])
    doc.connect(ids[1], ids[2])
    experiment = Experiment(name="tune", params={"hidden.units": "int:4:64", "training.learning_rate": "0.01,0.03"},
                            strategy="random", objective="val_accuracy", trials=6)
    return Project(doc, data={"source": "builtin:iris"}, training={"epochs": 3, "batch_size": 16},
                   experiments={"tune": experiment.to_dict()})


@pytest.fixture
def stores(tmp_path):
    """Six finished trials written with Optuna's and MLflow's own APIs, as a sweep leaves them."""
    project = iris_project()
    name = study_name(project.name, "tune")
    study = optuna.create_study(study_name=name, storage=default_storage(tmp_path), direction="maximize")
    client = MlflowClient(default_tracking_uri(tmp_path))
    experiment_id = client.create_experiment(name, artifact_location=(tmp_path / "mlruns").as_uri())
    dists = {"hidden.units": optuna.distributions.IntDistribution(4, 64),
             "training.learning_rate": optuna.distributions.CategoricalDistribution([0.01, 0.03])}
    for i, (units, accuracy, size) in enumerate(zip(UNITS, ACCURACY, PARAMETERS, strict=True)):
        run = client.create_run(experiment_id, tags={"trial": str(i)})
        client.log_batch(run.info.run_id, params=[], metrics=[
            Metric("val_accuracy", accuracy * (e + 1) / 3, 0, e + 1) for e in range(3)])
        client.log_param(run.info.run_id, "hidden.units", str(units))
        client.set_terminated(run.info.run_id, "FINISHED")
        study.add_trial(optuna.trial.create_trial(
            params={"hidden.units": units, "training.learning_rate": 0.01 if i % 2 else 0.03}, distributions=dists,
            value=accuracy, user_attrs={"run_id": run.info.run_id, "parameters": size, "duration_s": 2.0 + i,
                                        "metrics": {"val_accuracy": accuracy, "loss": 1 - accuracy}}))
    return project, tmp_path


@pytest.fixture
def manager(qtbot, stores):
    project, folder = stores
    saved, opened = [], []

    def save(experiments):
        saved.append(experiments)
        project.experiments = experiments

    window = ExperimentManager(lambda: (project, folder), save, opened.append, lambda: None)
    qtbot.addWidget(window)
    window.saved, window.opened = saved, opened
    return window


def column(window, name):
    return window.table.trials.columns.index(name)


def shown(window, name):
    return [window.table.proxy.index(r, column(window, name)).data() for r in range(window.table.proxy.rowCount())]


def test_the_table_holds_one_row_per_trial_and_sorts_filters_and_hides(manager):
    table = manager.table
    assert table.proxy.rowCount() == 6
    assert {"★", "trial", "status", "progress", "hidden.units", "val_accuracy", "duration (s)", "parameters",
            "note"} <= set(table.trials.columns)
    table.sortByColumn(column(manager, "val_accuracy"), Qt.SortOrder.DescendingOrder)
    assert shown(manager, "trial")[0] == "4"  # the best trial first
    table.sortByColumn(column(manager, "hidden.units"), Qt.SortOrder.AscendingOrder)
    assert shown(manager, "hidden.units") == [str(u) for u in sorted(UNITS)]  # numbers, not text, order
    manager.filter.setText("0.94")
    assert shown(manager, "trial") == ["4"]
    manager.filter.clear()
    table.set_hidden("duration (s)", True)
    assert table.isColumnHidden(column(manager, "duration (s)"))
    assert not table.isColumnHidden(column(manager, "parameters"))


def test_stars_and_notes_are_kept_with_the_trials_runs(manager, stores, qtbot):
    _, folder = stores
    table = manager.table
    table.sortByColumn(column(manager, "trial"), Qt.SortOrder.AscendingOrder)
    star = table.proxy.index(2, column(manager, "★"))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualRect(star).center())
    note = table.proxy.index(2, column(manager, "note"))
    assert table.proxy.setData(note, "widest that still fits")
    run_id = table.trials.rows[2]["run_id"]
    tags = MlflowClient(default_tracking_uri(folder)).get_run(run_id).data.tags
    assert tags["star"] == "1" and tags["note"] == "widest that still fits"
    manager.reload()  # read back from the store
    row = next(r for r in manager.table.trials.rows if r["trial"] == 2)
    assert row["star"] and row["note"] == "widest that still fits"


def test_csv_export_writes_every_trial(manager, tmp_path):
    manager.export_csv(str(tmp_path / "results.csv"))
    with open(tmp_path / "results.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["trial"]) for r in rows] == list(range(6))
    assert [float(r["val_accuracy"]) for r in rows] == ACCURACY and rows[0]["hidden.units"] == "4"


def test_compare_views_draw_the_trials(manager):
    manager.table.selectRow(0)
    flags = QItemSelectionModel.SelectionFlag
    manager.table.selectionModel().select(manager.table.proxy.index(3, 0), flags.Select | flags.Rows)
    assert [n for n, _ in manager.curves.histories] == [0, 3]
    assert manager.curves.metric.currentText() == "val_accuracy"
    assert len(manager.curves.plot.getPlotItem().listDataItems()) == 2

    parallel = manager.parallel
    assert len(parallel.lines) == 6 and len(parallel.bands) == 3  # two hyperparameters and the objective
    received = []
    parallel.brushed.connect(received.append)
    parallel.brush(2, 0.9, 1.0)  # the top of the objective's range
    best_two = sorted(range(6), key=lambda i: ACCURACY[i])[-2:]
    assert sorted(received[-1]) == sorted(best_two)

    assert len(manager.scatter.points.data) == 6
    front = pareto_front(list(zip(PARAMETERS, ACCURACY, strict=True)), maximize=True)
    assert [PARAMETERS[i] for i in front] == [35, 67, 99, 131, 259, 515]  # each bigger one is better here
    assert pareto_front([(10, 0.9), (20, 0.8), (30, 0.95)], maximize=True) == [0, 2]

    manager.show_tab("Diff")
    assert manager.diff.rowCount() > 0 and manager.diff.item(0, 0).text() == "hidden.units"
    assert (manager.diff.item(0, 1).text(), manager.diff.item(0, 2).text()) == ("4", "32")


def test_trial_results_show_one_trial_or_compare_several(manager):
    """Chosen by its tab after the selection (as a user does), the page shows the selected trial's run, or
    the selected trials' metrics side by side; before, it stayed an empty plot."""
    results = manager.tabs.indexOf(manager.results_page)
    manager.tabs.setCurrentIndex(results)
    assert manager.results_page.currentWidget() is manager.compared
    assert "Select trials" in manager.compared.hint.text() and not manager.compared.table.isVisibleTo(manager)
    manager.tabs.setCurrentIndex(0)
    manager.table.sortByColumn(column(manager, "trial"), Qt.SortOrder.AscendingOrder)
    manager.table.selectRow(0)
    flags = QItemSelectionModel.SelectionFlag
    manager.table.selectionModel().select(manager.table.proxy.index(3, 0), flags.Select | flags.Rows)
    manager.tabs.setCurrentIndex(results)
    table = manager.compared.table
    assert manager.results_page.currentWidget() is manager.compared and "2 trials" in manager.compared.hint.text()
    assert [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())] == ["trial 0", "trial 3"]
    names = [table.verticalHeaderItem(i).text() for i in range(table.rowCount())]
    objective, loss = names.index("val_accuracy"), names.index("loss")
    assert (table.item(objective, 0).text(), table.item(objective, 1).text()) == ("0.7", "0.93")
    assert table.item(loss, 1).text() == f"{1 - 0.93:.4g}"
    manager.table.selectRow(3)
    assert manager.results_page.currentWidget() is manager.result
    assert manager.result.run_id == manager.table.selected_trials()[0]["run_id"]


def test_the_curves_tab_asks_for_trials_until_some_are_selected(manager):
    curves = manager.curves
    assert curves.hint.isVisibleTo(manager) and not curves.plot.isVisibleTo(manager)
    assert "Select one or more trials" in curves.hint.text()
    manager.table.selectRow(1)
    assert curves.plot.isVisibleTo(manager) and not curves.hint.isVisibleTo(manager)


def test_the_definition_editor_checks_and_saves_the_experiment(manager, qtbot):
    editor = manager.definition
    assert editor.table.rowCount() == 2 and editor.strategy.currentText() == "random"
    editor.table.item(0, 1).setText("int:64:4")
    assert "LOW < HIGH" in editor.error.text() and manager.saved == []
    editor.table.item(0, 1).setText("8,16")
    editor.strategy.setCurrentText("grid")
    assert editor.error.text() == ""
    assert manager.saved[-1]["tune"]["params"]["hidden.units"] == "8,16"
    assert manager.saved[-1]["tune"]["strategy"] == "grid"


def test_a_trial_opens_in_the_designer_with_its_values(manager):
    manager.table.sortByColumn(column(manager, "trial"), Qt.SortOrder.AscendingOrder)
    manager.table.selectRow(3)
    manager.open_trial()
    project = manager.opened[-1]
    hidden = next(n for n in project.document.nodes.values() if n.name == "hidden")
    assert hidden.params["units"] == 32 and project.training["learning_rate"] == 0.01
    assert project.name == "iris_mlp_trial3" and project.experiments == {}


def reaped(pid):
    return not Path(f"/proc/{pid}").exists()  # an ended child nobody joined keeps its entry as a zombie


def test_a_sweep_runs_from_the_window(qtbot, tmp_path):
    """Opening the window warms the workers, the sweep trains in them and says what it does until its trials
    report; closing takes no time and every worker is reaped."""
    project = iris_project()
    project.experiments = {"quick": Experiment(name="quick", params={"hidden.units": "4,8"}, strategy="grid",
                                               objective="val_accuracy", workers=2).to_dict()}
    project.training["epochs"] = 1
    window = ExperimentManager(lambda: (project, tmp_path), lambda e: None, lambda p: None, lambda: None)
    qtbot.addWidget(window)
    window.show()
    warm = {handle.process.pid for handle in window.controller.warm}
    assert len(warm) == 2
    stages, events = [], []
    window.controller.stage.connect(stages.append)
    window.controller.events.connect(events.extend)
    window.run()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=120_000)
    assert "best: trial" in window.status.text()
    assert {e["pid"] for e in events if e["event"] == "trial_started"} <= warm  # no cold start
    # the window polls the stage, so which of the quick ones it catches depends on the machine's speed
    said = ("taking the warm workers", "creating the study", "opening the run store", "first trials starting")
    assert any(s.startswith(said) for s in stages) and stages[-1] == ""
    assert {handle.process.pid for handle in window.controller.warm} == warm  # kept warm for the next sweep
    rows = window.table.trials.rows
    assert [r["status"] for r in rows] == ["finished", "finished"] and all(r["parameters"] for r in rows)
    iris = load_source(project.data["source"], tmp_path)
    window.result.explain.data_source = lambda: (iris, np.arange(10), [])  # the window gives its data setup's
    window.table.selectRow(0)
    window.show_tab("Trial results")
    assert window.result.run_id == window.table.selected_trials()[0]["run_id"]
    assert window.result.matrix.isVisibleTo(window.result)  # the trial's confusion matrix
    explain = window.result.explain  # the trial's run can be explained, on the data setup's test samples
    assert explain.run == (window.result.tracking_uri, window.result.run_id) and explain.explain_button.isEnabled()
    assert explain.samples.count() == 10 and explain.chosen() == [0, 1, 2, 3]
    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < 1.0 and window.controller.warm == []
    qtbot.waitUntil(lambda: all(reaped(pid) for pid in warm), timeout=30_000)
