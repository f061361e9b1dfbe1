"""Adapted preprocessing (statistics, bin boundaries, vocabularies) survives `netdesigner import` and
every export, each compared with the ORIGINAL model; and the source check that would have caught it."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from designer.cli import main
from designer.export import keras_file, onnx_file, savedmodel, tflite_file
from designer.export.formats import SUFFIX
from designer.export.probes import WORDS, input_names
from designer.graph.project import load_project
from designer.keras_bridge.saving import model_with_weights
from designer.keras_bridge.weights import load_weights_file, save_weights_file

LOADERS = {"keras": keras_file.load, "savedmodel": savedmodel.load, "onnx": onnx_file.load, "tflite": tflite_file.load}


def statistics_model() -> keras.Model:
    """An adapted Normalization: its mean and variance are variables, what it computes with is derived."""
    norm = layers.Normalization(name="norm")
    norm.adapt(np.random.default_rng(0).normal(5.0, 3.0, (128, 6)).astype("float32"))
    features = keras.Input((6,), name="features")
    x = layers.Dense(8, activation="relu", name="hidden")(norm(features))
    return keras.Model(features, layers.Dense(3, activation="softmax", name="out")(x), name="statistics")


def tables_model() -> keras.Model:
    """TextVectorization (TF-IDF), IntegerLookup and Discretization, adapted: vocabularies are tables,
    not weights, and bin boundaries are config."""
    rng = np.random.default_rng(1)
    vectorize = layers.TextVectorization(output_mode="tf_idf", name="vectorize")
    vectorize.adapt([" ".join(rng.choice(WORDS[:8], 3)) for _ in range(40)])
    ids = layers.IntegerLookup(output_mode="multi_hot", name="ids_lookup")
    ids.adapt(np.array([1, 1, 3, 7, 7, 7]))
    bins = layers.Discretization(num_bins=4, output_mode="one_hot", name="bins")
    bins.adapt(rng.normal(0.5, 0.2, (64, 1)).astype("float32"))
    text, numbers = keras.Input((1,), dtype="string", name="text"), keras.Input((4,), dtype="int64", name="ids")
    value = keras.Input((1,), name="value")
    x = layers.Concatenate(name="cat")([layers.Flatten(name="flat")(vectorize(text)), ids(numbers), bins(value)])
    return keras.Model([text, numbers, value], layers.Dense(3, activation="softmax", name="out")(x), name="tables")


def imported(model: keras.Model, tmp_path, capsys) -> str:
    model.save(tmp_path / "source.keras")
    project = tmp_path / "imported.kdn"
    assert main(["import", str(tmp_path / "source.keras"), "-o", str(project)]) == 0
    capsys.readouterr()
    return str(project)


def export(project: str, fmt: str, tmp_path, capsys) -> tuple[int, dict]:
    out = tmp_path / f"out{SUFFIX[fmt]}"
    code = main(["export", project, "--format", fmt, "-o", str(out), "--json"])
    return code, json.loads(capsys.readouterr().out)


def assert_matches_original(model: keras.Model, fmt: str, tmp_path, feeds: dict) -> None:
    """Reload the artifact as its users do and run it beside the original model."""
    _, run = LOADERS[fmt](tmp_path / f"out{SUFFIX[fmt]}")
    got = run(feeds)
    got = list(got.values()) if isinstance(got, dict) else got
    xs = [feeds[n] for n in input_names(model)]
    expected = model(xs if len(xs) > 1 else xs[0], training=False)
    np.testing.assert_allclose(np.asarray(got[0]), keras.ops.convert_to_numpy(expected), atol=1e-5)


@pytest.mark.parametrize("fmt", ["keras", "savedmodel", "onnx", "tflite"])
def test_adapted_statistics_survive_import_and_export(fmt, tmp_path, capsys):
    model = statistics_model()
    project = imported(model, tmp_path, capsys)
    code, report = export(project, fmt, tmp_path, capsys)
    assert code == 0 and report["ok"], report
    assert report["source_max_abs_diff"] <= 1e-5  # checked against the source model, not only against itself
    feeds = {"features": np.random.default_rng(2).normal(5.0, 3.0, (5, 6)).astype("float32")}
    assert_matches_original(model, fmt, tmp_path, feeds)


def test_runs_start_from_the_imported_model(tmp_path, capsys):
    """Training, trials and the results panel build the model as the export does; nothing exported here."""
    model = statistics_model()
    project = imported(model, tmp_path, capsys)
    built, skipped = model_with_weights(load_project(Path(project)), tmp_path)
    x = np.random.default_rng(3).normal(5.0, 3.0, (4, 6)).astype("float32")
    assert skipped == []
    np.testing.assert_allclose(built.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("fmt", ["keras", "savedmodel", "python"])  # ONNX lacks the tables and Bucketize
def test_adapted_tables_survive_import_and_export(fmt, tmp_path, capsys):
    model = tables_model()
    project = imported(model, tmp_path, capsys)
    code, report = export(project, fmt, tmp_path, capsys)
    assert code == 0 and report["ok"], report
    assert report["source_max_abs_diff"] <= 1e-5
    params = {n["name"]: n["params"] for n in json.loads(Path(project).read_text())["graph"]["nodes"]}
    assert params["ids_lookup"]["vocabulary"] == [7, 1, 3]  # by frequency, as adapt ordered them
    feeds = {"text": np.array([["the storm scores"], ["robot rain unknownword"]], dtype=object),
             "ids": np.array([[1, 7, 9, 0], [3, 3, 1, 2]], dtype="int64"),
             "value": np.array([[0.1], [0.55]], dtype="float32")}
    if fmt in LOADERS:  # the script is checked by the export itself, which imports and runs it
        assert_matches_original(model, fmt, tmp_path, feeds)


def test_a_drift_from_the_source_fails_the_export(tmp_path, capsys):
    """The designer's model and its artifact agree with each other but not with what was imported:
    a damaged weight stands in for any bug in how the designer rebuilds a model."""
    project = imported(statistics_model(), tmp_path, capsys)
    weights = tmp_path / load_project(project).weights
    arrays = load_weights_file(weights)
    arrays["hidden|1"] = arrays["hidden|1"] + 0.5
    save_weights_file(arrays, weights)
    code, report = export(project, "keras", tmp_path, capsys)
    assert code == 1 and not report["ok"]
    assert report["max_abs_diff"] == 0.0 and report["source_max_abs_diff"] > 1e-3
    assert not (tmp_path / "out.keras").exists()


def test_the_source_check_stops_when_the_network_is_edited(tmp_path, capsys):
    """Moving nodes keeps the check; changing what the network computes ends it, and the export says so."""
    project = imported(statistics_model(), tmp_path, capsys)
    data = json.loads(Path(project).read_text())
    for node in data["graph"]["nodes"]:
        node["position"] = [node["position"][0] + 40, node["position"][1]]
    Path(project).write_text(json.dumps(data))
    code, report = export(project, "keras", tmp_path, capsys)
    assert code == 0 and report["source_max_abs_diff"] is not None
    next(n for n in data["graph"]["nodes"] if n["name"] == "out")["params"]["activation"] = "linear"
    Path(project).write_text(json.dumps(data))
    code, report = export(project, "keras", tmp_path, capsys)
    assert code == 0 and report["ok"] and report["source_max_abs_diff"] is None
    assert any("edited since it was imported" in n for n in report["notes"])
