"""Every sample project loads, analyses cleanly and builds a real model."""

from __future__ import annotations

import pytest

from conftest import SAMPLES
from designer.graph.project import load_project
from designer.keras_bridge.build import build_model

PROJECTS = sorted(SAMPLES.glob("*.kdn"))


def test_there_are_samples():
    assert PROJECTS


@pytest.mark.parametrize("path", PROJECTS, ids=[p.stem for p in PROJECTS])
def test_sample_analyses_and_builds(path, analyzer):
    project = load_project(path)
    analysis = analyzer.analyze(project.document)
    assert analysis.ok, analysis.diagnostics
    model = build_model(project.document)
    assert model.count_params() == analysis.total_params
    assert project.description


@pytest.mark.parametrize("path", PROJECTS, ids=[p.stem for p in PROJECTS])
def test_sample_trains_briefly(path, tmp_path, trainer):
    from designer.graph.project import project_to_dict
    from designer.training.worker import start_run

    project = load_project(path)
    assert project.data.get("source"), "every sample carries its data setup"
    events = list(start_run(project_to_dict(project), path.parent, trainer, training={"epochs": 1}).events())
    assert events[-1]["event"] == "finished", events[-1]
    recipe = project.training.get("recipe", "supervised")
    if recipe != "supervised":  # the generative samples name the shipped judge: they score out of the box
        assert project.training[recipe]["judge"] == "digits_judge.keras"
        assert 0 <= events[-1]["metrics"]["sample_quality"] <= 1


def test_the_transformer_sample_tells_the_topics_apart_as_shipped(trainer):
    """Its own epochs, batch size and learning rate, as `netdesigner train` runs it: the issue asks ≥ 0.95."""
    from designer.graph.project import project_to_dict
    from designer.training.worker import start_run

    path = SAMPLES / "transformer_text.kdn"
    events = list(start_run(project_to_dict(load_project(path)), path.parent, trainer).events())
    assert events[-1]["event"] == "finished", events[-1]
    assert events[-1]["metrics"]["test_accuracy"] >= 0.95


def test_a_sample_ships_an_experiment_that_fits_its_network(catalog):
    from designer.experiments.definition import Experiment, check_bindings

    shipped = [(load_project(p), name) for p in PROJECTS for name in load_project(p).experiments]
    assert shipped, "at least one sample defines an experiment"
    for project, name in shipped:
        check_bindings(Experiment.from_dict(name, project.experiments[name]), project.document, catalog)
