"""Compression in the Experiment Manager: ``compress.method`` and ``compress.sparsity`` are swept like any
hyperparameter; each trial trains, then its model is compressed, the variant recorded as a run linked to the
trial's, and its size and metric added to the trial's metrics (and usable as the objective)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from test_experiments import mlp

from designer.cli import main
from designer.compress.record import list_variants
from designer.experiments import compression
from designer.experiments.definition import Experiment, check_bindings
from designer.experiments.results import load_trials
from designer.experiments.trial import trial_project
from designer.graph.serialize import DocumentFormatError


@pytest.mark.parametrize("params, says", [
    ({"compress.method": "gzip,int8"}, "gzip: the methods are dynamic, float16, int8"),
    ({"compress.method": "int:1:3"}, "a range: the methods are"),
    ({"compress.sparsity": "0.5,1.5"}, "the sparsity is the share of weights"),
    ({"compress.level": "3"}, "no compression option 'level' (known: method, sparsity)"),
])
def test_compression_hyperparameters_are_checked(params, says, tmp_path):
    with pytest.raises(DocumentFormatError, match=says.replace("(", r"\(").replace(")", r"\)")):
        check_bindings(Experiment(params=params), mlp(tmp_path).document)
    check_bindings(Experiment(params={"compress.method": "int8,prune", "compress.sparsity": "float:0.2:0.8"}),
                   mlp(tmp_path).document)


def test_compression_values_leave_the_network_alone_and_default_to_pruning(tmp_path):
    project = mlp(tmp_path)
    trial, training = trial_project(project, {"compress.method": "int8", "hidden.units": 4})
    assert training == {} and {n.name: n.params for n in trial.document.nodes.values()}["hidden"]["units"] == 4
    assert compression.options({"compress.method": "int8", "hidden.units": 4}) == {"method": "int8"}
    assert compression.options({"compress.sparsity": 0.3}) == {"method": "prune", "sparsity": 0.3}
    assert compression.options({"hidden.units": 4}) == {}


def test_the_data_reaches_the_compression_from_any_folder(tmp_path):
    arguments = compression.data_arguments({"source": "csv:data/wine.csv", "target": "kind",
                                            "features": ["a", "b"]}, tmp_path)
    assert arguments == ["--data", f"csv:{(tmp_path / 'data/wine.csv').resolve()}", "--target", "kind",
                         "--features", "a,b"]
    assert compression.data_arguments({"source": "builtin:digits"}, tmp_path) == ["--data", "builtin:digits"]


def sweep(tmp_path: Path, *params: str, objective: str) -> list[dict]:
    printed = io.StringIO()
    argv = ["sweep", str(tmp_path / "iris.kdn"), "--strategy", "grid", "--workers", "1", "--objective", objective,
            "--json"]
    for param in params:
        argv += ["--param", param]
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0
    return [json.loads(line) for line in printed.getvalue().splitlines() if line.startswith("{")]


@pytest.mark.slow  # two trials, each trained and then compressed by its own netdesigner process
def test_a_sweep_over_methods_records_each_trials_compressed_size_and_accuracy(tmp_path):
    mlp(tmp_path, epochs=15)
    events = sweep(tmp_path, "compress.method=dynamic,prune", "compress.sparsity=0.5",
                   objective="compress_test_accuracy")
    summary = events[-1]
    assert summary["trials"] == {"complete": 2, "pruned": 0, "fail": 0}, events
    assert sorted(e["method"] for e in events if e["event"] == "trial_compressing") == ["dynamic", "prune"]
    finished = {e["params"]["compress.method"]: e for e in events if e["event"] == "trial_finished"}
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    for method, event in finished.items():
        metrics = event["metrics"]
        assert event["objective"] == metrics["compress_test_accuracy"]
        assert metrics["compress_size_bytes"] > 0 and "compress_baseline_test_accuracy" in metrics
        assert metrics["compress_size_ratio"] == pytest.approx(metrics["compress_size_bytes"]
                                                               / metrics["compress_baseline_bytes"])
        [variant] = list_variants(uri, event["run_id"])  # recorded by the sweep, linked to the trial's run
        assert variant["method"] == method and variant["metrics"]["size_bytes"] == metrics["compress_size_bytes"]
        assert variant["params"].get("sparsity") == ("0.5" if method == "prune" else None)
    experiment = Experiment(params={"compress.method": "dynamic,prune", "compress.sparsity": "0.5"})
    rows = load_trials(experiment, summary["study"], summary["storage"], uri)
    assert {r["params"]["compress.method"]: r["metrics"]["compress_size_bytes"] for r in rows} == {
        m: e["metrics"]["compress_size_bytes"] for m, e in finished.items()}
    client = MlflowClient(uri)  # the variants are runs of the experiment beside the trials, not trials
    runs = client.search_runs([client.get_experiment_by_name(summary["study"]).experiment_id])
    assert sorted("trial" in r.data.tags for r in runs) == [False, False, True, True]


def test_the_pareto_view_weighs_trials_by_their_compressed_size(qtbot):
    from designer.app.experiment_views import ObjectiveScatter

    view = ObjectiveScatter(pareto=True)
    qtbot.addWidget(view)
    rows = [{"trial": i, "objective": accuracy, "params": {"compress.method": method}, "parameters": 67,
             "metrics": {"compress_size_bytes": size, "compress_test_accuracy": accuracy}}
            for i, (method, size, accuracy) in enumerate([("dynamic", 1_900, 0.95), ("prune", 19_000, 0.92),
                                                          ("float16", 3_100, 0.96)])]
    view.show_trials(rows, ["compress.method"], "compress_test_accuracy", maximize=True)
    assert [view.choice.itemText(i) for i in range(view.choice.count())] == ["parameters",
                                                                              "compressed size on disk (B)"]
    assert view.choice.currentText() == "compressed size on disk (B)"  # the size the experiment is about
    assert sorted(10 ** x for x in view.points.data["x"]) == pytest.approx([1_900, 3_100, 19_000])
    front = next(item for item in view.plot.listDataItems() if item.name() == "Pareto front")
    assert [round(10 ** x) for x in front.getData()[0]] == [1_900, 3_100]  # prune is bigger and worse
    view.choice.setCurrentText("parameters")
    assert list(view.points.data["x"]) == pytest.approx([np.log10(67)] * 3)
    view.show_trials([{**r, "metrics": {}} for r in rows], [], "val_accuracy", maximize=True)
    assert [view.choice.itemText(i) for i in range(view.choice.count())] == ["parameters"]  # nothing compressed


def test_the_pareto_view_turns_to_the_compressed_size_once_trials_have_one(qtbot):
    from designer.app.experiment_views import ObjectiveScatter

    view = ObjectiveScatter(pareto=True)
    qtbot.addWidget(view)
    trained = {"trial": 0, "objective": 0.9, "params": {}, "parameters": 67, "metrics": {}}
    view.show_trials([trained], [], "compress_test_accuracy", maximize=True)  # while the first trial compresses
    assert view.choice.currentText() == "parameters"
    view.show_trials([{**trained, "metrics": {"compress_size_bytes": 1_900}}], [], "compress_test_accuracy", True)
    assert view.choice.currentText() == "compressed size on disk (B)"
    view.choice.setCurrentText("parameters")  # the user's choice holds while the sizes on offer stay
    view.show_trials([{**trained, "metrics": {"compress_size_bytes": 1_900}}], [], "compress_test_accuracy", True)
    assert view.choice.currentText() == "parameters"
