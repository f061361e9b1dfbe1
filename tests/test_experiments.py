"""Experiments: hyperparameter definitions, trial projects, and real sweeps in parallel warm workers,
read back with MLflow's and Optuna's own APIs."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys

import optuna
import pytest
from mlflow.tracking import MlflowClient

from conftest import ROOT
from designer.cli import main
from designer.experiments.definition import Experiment, check_bindings, parse_assignment, parse_hyperparameter
from designer.experiments.sweep import Sweep
from designer.experiments.trial import trial_project
from designer.graph.document import NetworkDocument
from designer.graph.project import Project, load_project, save_project
from designer.graph.serialize import DocumentFormatError


def mlp(tmp_path, epochs: int = 2) -> Project:
    """A tiny iris classifier with a switchable dropout layer; saved so the CLI can open it."""
    doc = NetworkDocument("iris_mlp")
    ids = [doc.add_node(t, n, p).id for t, n, p in (
        ("InputLayer", "features", {"shape": [4]}), ("Dense", "hidden", {"units": 8, "activation": "relu"}),
        ("Dropout", "drop", {"rate": 0.1}), ("Dense", "species", {"units": 3, "activation": "softmax"}))]
    for a, b in itertools.pairwise(ids):
        doc.connect(a, b)
    project = Project(doc, data={"source": "builtin:iris"},
                      training={"epochs": epochs, "batch_size": 16, "learning_rate": 0.01, "jit_compile": False})
    save_project(project, tmp_path / "iris.kdn")
    return project


# ---- definitions ---------------------------------------------------------------------------
@pytest.mark.parametrize(("spec", "kind", "values"), [
    ("16,32,64", "choice", (16, 32, 64)),
    ("adam, sgd", "choice", ("adam", "sgd")),
    ("true,false", "choice", (True, False)),
    ("[[3,3],[5,5]]", "choice", ((3, 3), (5, 5))),
    ("int:2:6", "int", ()),
    ("log:1e-4:1e-2", "log", ()),
])
def test_value_sets_parse_as_the_command_line_writes_them(spec, kind, values):
    h = parse_hyperparameter("hidden.units", spec)
    assert h.kind == kind and h.values == values
    assert parse_hyperparameter("hidden.units", h.text()) == h  # and read back from their own text


@pytest.mark.parametrize(("text", "says"), [
    ("hidden.units", "KEY=SPEC"),
    ("units=8", "training.OPTION or LAYER.PARAM"),
    ("hidden.units=", "at least one value"),
    ("hidden.units=int:8:2", "LOW < HIGH"),
    ("hidden.units=log:0:1", "both > 0"),
    ("hidden.units=int:1.5:4", "whole numbers"),
    ("hidden.units=8,8", "twice"),
])
def test_bad_hyperparameters_say_what_is_wrong(text, says):
    with pytest.raises(DocumentFormatError, match=says):
        parse_assignment(text)


def test_bindings_are_checked_against_the_network_options_and_keras_signatures(tmp_path, catalog):
    doc = mlp(tmp_path).document
    good = Experiment(params={"hidden.units": "4,8", "drop.enabled": "true,false", "training.batch_size": "8,16"})
    check_bindings(good, doc, catalog)
    for params, says in (({"hiden.units": "4"}, "no layer named 'hiden'"),
                         ({"hidden.unit": "4"}, "Dense has no parameter 'unit'"),
                         ({"training.lr": "0.1"}, "no training option 'lr'"),
                         ({"drop.enabled": "1,2"}, "enabled takes true,false")):
        with pytest.raises(DocumentFormatError, match=says):
            check_bindings(Experiment(params=params), doc, catalog)
    with pytest.raises(DocumentFormatError, match="grid cannot enumerate"):
        Experiment(params={"drop.rate": "float:0:0.5"}, strategy="grid").budget()
    with pytest.raises(DocumentFormatError, match=r"experiments\.e\.strategy"):
        Experiment.from_dict("e", {"params": {"hidden.units": "4"}, "strategy": "annealing"})
    assert Experiment(params={"a.b": "1,2,3", "c.d": "int:1:4"}, strategy="grid").budget() == 12
    assert Experiment(objective="val_accuracy").maximize and not Experiment(objective="val_mae").maximize


def test_a_trial_project_carries_its_values_and_can_bypass_a_layer(tmp_path):
    project = mlp(tmp_path)
    trial, training = trial_project(project, {"hidden.units": 32, "drop.enabled": False,
                                              "training.learning_rate": 0.1})
    names = {n.name: n for n in trial.document.nodes.values()}
    assert names["hidden"].params["units"] == 32 and "drop" not in names
    assert [(e.src, e.dst) for e in trial.document.in_edges(names["species"].id)] == [(names["hidden"].id,
                                                                                      names["species"].id)]
    assert training == {"learning_rate": 0.1}
    assert project.document.nodes[names["hidden"].id].params["units"] == 8  # the base project is untouched


def test_only_a_one_input_layer_can_be_switched_off():
    doc = NetworkDocument("merge")
    a, b = (doc.add_node("InputLayer", n, {"shape": [4]}) for n in ("a", "b"))
    add = doc.add_node("Add", "sum", {})
    doc.connect(a.id, add.id)
    doc.connect(b.id, add.id)
    with pytest.raises(DocumentFormatError, match="one input and one output"):
        trial_project(Project(doc), {"sum.enabled": False})


def test_an_experiment_saved_in_a_project_round_trips(tmp_path):
    project = mlp(tmp_path)
    experiment = Experiment(name="tune", params={"hidden.units": "4,8"}, strategy="grid", workers=2)
    project.experiments["tune"] = experiment.to_dict()
    save_project(project, tmp_path / "iris.kdn")
    again = load_project(tmp_path / "iris.kdn").experiments["tune"]
    assert Experiment.from_dict("tune", again) == experiment


# ---- real sweeps --------------------------------------------------------------------------
def test_a_grid_sweep_with_two_workers_survives_a_killed_trial(tmp_path, monkeypatch):
    """Through the command line, as a server would run it: one trial's worker is killed from outside;
    that trial is marked failed, the others finish, and both stores hold the same story."""
    mlp(tmp_path)
    command = [sys.executable, "-m", "designer", "sweep", str(tmp_path / "iris.kdn"), "--param", "hidden.units=4,16",
               "--param", "training.learning_rate=0.01,0.03", "--strategy", "grid", "--workers", "2",
               "--objective", "val_accuracy", "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    events, killed = [], None
    for line in process.stdout:
        event = json.loads(line)
        events.append(event)
        if event["event"] == "trial_started" and killed is None:
            killed = event["trial"]
            os.kill(event["pid"], signal.SIGKILL)
    assert process.wait(timeout=60) == 0
    summary = events[-1]
    assert summary["event"] == "summary" and summary["trials"] == {"complete": 3, "pruned": 0, "fail": 1}
    failed = [e for e in events if e["event"] == "trial_failed"]
    assert [(e["trial"], e["cause"]) for e in failed] == [(killed, "killed")]
    finished = [e for e in events if e["event"] == "trial_finished"]
    assert {tuple(sorted(e["params"].items())) for e in finished + failed} == {
        (("hidden.units", u), ("training.learning_rate", lr)) for u in (4, 16) for lr in (0.01, 0.03)}
    assert summary["best"]["objective"] == max(e["objective"] for e in finished)

    study = optuna.load_study(study_name="iris_mlp/sweep", storage=f"sqlite:///{tmp_path / 'sweeps.db'}")
    states = {t.number: t.state.name for t in study.trials}
    assert sorted(states.values()) == ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL"] and states[killed] == "FAIL"
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs.db'}")
    runs = {r.data.tags["trial"]: r for r in client.search_runs(
        [client.get_experiment_by_name("iris_mlp/sweep").experiment_id])}
    assert len(runs) == 4 and runs[str(killed)].data.tags["failure_cause"] == "killed"
    for trial in study.trials:
        run = runs[str(trial.number)]
        assert trial.user_attrs["run_id"] == run.info.run_id
        assert run.data.params["hidden.units"] == str(trial.params["hidden.units"])
        if trial.state.name == "COMPLETE":
            assert run.info.status == "FINISHED" and run.data.metrics["val_accuracy"] == pytest.approx(trial.value)
            # a trial runs again from its start, so it keeps the best and final models but no last checkpoint
            files = {f.path for f in client.list_artifacts(run.info.run_id)}
            assert {"best.keras", "model.keras"} <= files and "last.keras" not in files

    # The records read back on the command line, too.
    monkeypatch.chdir(tmp_path)
    assert main(["runs", "list", "--experiment", "iris_mlp/sweep", "--json"]) == 0
    first, second = (r.info.run_id for r in list(runs.values())[:2])
    assert main(["runs", "compare", first[:8], second[:8]]) == 0
    assert main(["runs", "show", "nope"]) == 2


def test_an_interrupted_bayesian_sweep_resumes_to_its_budget(tmp_path):
    project = mlp(tmp_path)
    experiment = Experiment(name="bayes", strategy="bayesian", trials=6, workers=2, objective="val_loss",
                            pruner="median", params={"hidden.units": "int:2:24",
                                                     "training.learning_rate": "log:1e-3:1e-1"})
    first = Sweep(project, tmp_path, experiment).run()
    seen = []
    for event in first:
        seen.append(event)
        if sum(e["event"] in ("trial_finished", "trial_pruned") for e in seen) == 2:
            break
    first.close()  # as Ctrl+C would: the running trial is failed without counting, and queued again
    interrupted = [t for t in optuna.load_study(study_name="iris_mlp/bayes",
                                                storage=f"sqlite:///{tmp_path / 'sweeps.db'}").trials
                   if t.state.name == "FAIL"]
    events = list(Sweep(project, tmp_path, experiment).run())
    assert events[0]["event"] == "sweep_started" and events[0]["done_before"] == 2
    summary = events[-1]
    assert summary["trials"]["complete"] + summary["trials"]["pruned"] == 6
    study = optuna.load_study(study_name="iris_mlp/bayes", storage=f"sqlite:///{tmp_path / 'sweeps.db'}")
    retried = [t for t in study.trials if "retry_of" in t.user_attrs]
    assert {t.user_attrs["retry_of"] for t in retried} == {t.number for t in interrupted}
    assert all(t.params == study.trials[t.user_attrs["retry_of"]].params for t in retried)
    assert summary["best"]["objective"] == study.best_value
