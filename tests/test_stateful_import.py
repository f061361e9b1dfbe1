"""Adapted preprocessing (statistics, bin boundaries, vocabularies) survives `netdesigner import` and
every export, each compared with the ORIGINAL model."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import layers

from designer.cli import main
from designer.export import keras_file, onnx_file, savedmodel, tflite_file

LOADERS = {"keras": (keras_file.load, ".keras"), "savedmodel": (savedmodel.load, ""),
           "onnx": (onnx_file.load, ".onnx"), "tflite": (tflite_file.load, ".tflite")}


def statistics_model() -> keras.Model:
    """An adapted Normalization: its mean and variance are variables, what it computes with is derived."""
    norm = layers.Normalization(name="norm")
    norm.adapt(np.random.default_rng(0).normal(5.0, 3.0, (128, 6)).astype("float32"))
    features = keras.Input((6,), name="features")
    x = layers.Dense(8, activation="relu", name="hidden")(norm(features))
    return keras.Model(features, layers.Dense(3, activation="softmax", name="out")(x), name="statistics")


def imported(model: keras.Model, tmp_path, capsys) -> str:
    model.save(tmp_path / "source.keras")
    project = tmp_path / "imported.kdn"
    assert main(["import", str(tmp_path / "source.keras"), "-o", str(project)]) == 0
    capsys.readouterr()
    return str(project)


def export(project: str, fmt: str, tmp_path, capsys) -> tuple[int, dict]:
    out = tmp_path / f"out{LOADERS[fmt][1]}"
    code = main(["export", project, "--format", fmt, "-o", str(out), "--json"])
    return code, json.loads(capsys.readouterr().out)


def assert_matches_original(model: keras.Model, fmt: str, tmp_path, feeds: dict) -> None:
    """Reload the artifact as its users do and run it beside the original model."""
    names, run = LOADERS[fmt][0](tmp_path / f"out{LOADERS[fmt][1]}")
    got = run(feeds)
    got = list(got.values()) if isinstance(got, dict) else got
    expected = model([feeds[n] for n in names] if len(names) > 1 else feeds[names[0]], training=False)
    np.testing.assert_allclose(np.asarray(got[0]), keras.ops.convert_to_numpy(expected), atol=1e-5)


@pytest.mark.parametrize("fmt", ["keras", "savedmodel", "onnx", "tflite"])
def test_adapted_statistics_survive_import_and_export(fmt, tmp_path, capsys):
    model = statistics_model()
    project = imported(model, tmp_path, capsys)
    code, report = export(project, fmt, tmp_path, capsys)
    assert code == 0 and report["ok"], report
    feeds = {"features": np.random.default_rng(2).normal(5.0, 3.0, (5, 6)).astype("float32")}
    assert_matches_original(model, fmt, tmp_path, feeds)
