"""netdesigner compress on a small CNN trained on scikit-learn's digits: every method writes an artifact
that loads and runs, measured against the float artifact of its kind; the figures the issue asks for
hold; bad requests are refused with the reason, and an artifact outside the tolerance is not written."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import os
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from keras import layers
from mlflow.tracking import MlflowClient

from conftest import SAMPLES
from designer.cli import main
from designer.compress import prune, writers
from designer.compress.compressor import LOADERS, Settings, compress
from designer.compress.methods import DEFAULT_EPOCHS, DEFAULT_TOLERANCE, KIND, METHODS, PROJECT, suffix
from designer.data.sources import load_source
from designer.export.report import ExportError
from designer.graph.project import Project, load_project
from designer.keras_bridge.importer import import_model
from designer.keras_bridge.saving import save_with_weights
from designer.keras_bridge.weights import collect_weights
from designer.training.spec import TrainingSpec


@pytest.fixture(scope="module")
def digits():
    return load_source("builtin:digits")


@pytest.fixture(scope="module")
def project(digits, tmp_path_factory):
    """A CNN trained for a few seconds on the training part of the split compress measures on."""
    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 1), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(image)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.Dense(64, activation="relu", name="hidden")(layers.Flatten(name="flat")(x))
    model = keras.Model(image, layers.Dense(10, activation="softmax", name="digit")(x), name="digits_cnn")
    spec = TrainingSpec()
    train = digits.split(spec.validation_split, spec.test_split, spec.seed).train
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(train.x, train.y, epochs=8, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("compress") / "digits_cnn.kdn"
    save_with_weights(Project(import_model(model), data={"source": "builtin:digits"}), path, collect_weights(model))
    return path


@pytest.fixture(scope="module")
def compressed(project):
    """Each method's CLI exit code, JSON report (its last line) and artifact, made once for the module."""

    @functools.cache
    def run(method):
        out = project.parent / f"{method}{suffix(method)}"
        printed = io.StringIO()
        longer = ["--epochs", "6"] if method == "prune-structured" else []  # whole filters gone take longer
        with contextlib.redirect_stdout(printed):
            code = main(["compress", str(project), "--method", method, "-o", str(out), "--json", *longer])
        return code, json.loads(printed.getvalue().strip().splitlines()[-1]), out

    return run


@pytest.mark.parametrize("method", METHODS)
def test_every_method_writes_an_artifact_that_loads_and_runs(method, compressed, digits):
    code, report, out = compressed(method)
    assert code == 0 and report["ok"] and report["method"] == method and report["path"] == str(out)
    written = [out, out.with_name(load_project(out).weights)] if KIND[method] == PROJECT else [out]
    assert report["size_bytes"] == sum(os.path.getsize(p) for p in written)
    assert report["baseline_bytes"] > 0 and report["compressed_bytes"] > 0
    assert set(report["latency_ms"]) == set(report["baseline_latency_ms"]) == {"1", "32"}
    names, run = LOADERS[KIND[method]](out)
    scores = np.asarray(next(iter(dict(run({names[0]: digits.x[:5]})).values())))
    assert scores.shape == (5, 10) and np.allclose(scores.sum(axis=1), 1, atol=0.02)
    assert report["agreement"] >= 0.9 and report["loss_points"] <= 2.0
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_int8_tflite_is_a_third_of_the_float_size_and_keeps_accuracy(compressed):
    _, report, _ = compressed("int8")
    assert report["size_bytes"] <= 0.35 * report["baseline_bytes"]
    assert report["loss_points"] <= 1.0


def test_pruning_keeps_exact_zeros_and_shrinks_the_compressed_file(compressed):
    _, report, out = compressed("prune")
    assert report["loss_points"] <= 1.5
    assert report["compressed_bytes"] <= 0.75 * report["baseline_compressed_bytes"]
    assert report["size_bytes"] <= 1.01 * report["baseline_bytes"]  # the same weights, no optimizer state
    reloaded = keras.saving.load_model(out, compile=False, safe_mode=True)
    for kernel in prune.prunable(reloaded):
        values = keras.ops.convert_to_numpy(kernel)
        assert np.sum(values == 0) == round(0.6 * values.size), kernel.path  # exact zeros, each kernel at 60 %
    assert report["nonzero_params"] < 0.45 * report["params"]


def test_keras_int8_names_the_layers_it_leaves_in_float(compressed):
    _, report, out = compressed("keras-int8")
    assert any("'conv1' (Conv2D) stays float32" in n for n in report["notes"])
    reloaded = keras.saving.load_model(out, compile=False, safe_mode=True)
    assert reloaded.get_layer("hidden").kernel.dtype == "int8"
    assert report["size_bytes"] < report["baseline_bytes"]


def test_keras_int8_refuses_a_model_with_no_layer_it_can_quantise(digits, tmp_path):
    image = keras.Input((8, 8, 1), name="image")
    scores = layers.Softmax(name="soft")(layers.Flatten(name="flat")(layers.Conv2D(10, 8, name="only_conv")(image)))
    with pytest.raises(ExportError) as caught:
        compress(keras.Model(image, scores), "keras-int8", tmp_path / "q.keras", digits, TrainingSpec())
    assert caught.value.usage and "'only_conv' (Conv2D)" in str(caught.value) and "no int8 mode" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra, says", [
    (["--method", "prune", "--sparsity", "1.5"], "--sparsity 1.5: give the share of weights to zero"),
    (["--method", "int8", "--sparsity", "0.5"], "apply to --method prune and prune-structured only"),
    (["--method", "prune", "--epochs", "0"], "at least 1 epoch"),
    (["--method", "onnx-int8", "-o", "model.tflite"], "writes a .onnx file"),
])
def test_bad_requests_exit_2_with_one_line(extra, says, project, tmp_path, capsys):
    argv = ["compress", str(project), "-o", str(tmp_path / "model.keras"), *extra]
    if "-o" in extra:
        argv[2:4] = []
        argv[-1] = str(tmp_path / argv[-1])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_an_artifact_outside_the_tolerance_exits_1_and_is_not_written(project, monkeypatch, tmp_path, capsys):
    real = writers.write

    def scrambled(method, job, path):  # the fault: the weights shuffled before conversion
        model = writers.copy(job.model)
        rng = np.random.default_rng(0)
        model.set_weights([rng.permutation(w.ravel()).reshape(w.shape) for w in model.get_weights()])
        return real(method, dataclasses.replace(job, model=model), path)

    monkeypatch.setattr(writers, "write", scrambled)
    out = tmp_path / "broken.tflite"
    assert main(["compress", str(project), "--method", "dynamic", "-o", str(out)]) == 1
    assert "OUTSIDE the tolerance" in capsys.readouterr().out and not out.exists()


def test_magnitude_mask_zeros_exactly_the_smallest_weights():
    values = np.array([[0.5, -0.1, 0.3], [-0.05, 2.0, -0.4]], dtype="float32")
    assert magnitude_mask_zeros(values, 0.5) == {(0, 1), (1, 0), (0, 2)}
    assert prune.scheduled_sparsity(0.6, 0, 10) == 0 and prune.scheduled_sparsity(0.6, 10, 10) == pytest.approx(0.6)
    assert prune.scheduled_sparsity(0.6, 3, 10) < prune.scheduled_sparsity(0.6, 6, 10) < 0.6


def magnitude_mask_zeros(values, sparsity):
    return {tuple(int(i) for i in p) for p in np.argwhere(prune.magnitude_mask(values, sparsity) == 0)}


def test_a_copy_keeps_adapted_normalization_in_use():
    norm = layers.Normalization(name="norm")
    norm.adapt(np.arange(12, dtype="float32").reshape(6, 2) * 10)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, layers.Dense(1, name="out")(norm(inputs)))
    x = np.ones((3, 2), "float32")
    assert np.allclose(writers.copy(model).predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory):
    """A run of the tabular sample recorded in a store of its own: (store, run id, folder)."""
    folder = tmp_path_factory.mktemp("wine_run")
    project = folder / "mlp.kdn"
    project.write_text((SAMPLES / "tabular_mlp.kdn").read_text())
    uri = f"sqlite:///{folder / 'runs.db'}"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["train", str(project), "--epochs", "20", "--tracking-uri", uri, "--json"]) == 0
    return uri, json.loads(printed.getvalue().strip().splitlines()[-1])["run_id"], folder


def compress_run(wine_run, out, *extra):
    uri, run_id, _ = wine_run
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["compress", run_id[:8], "--tracking-uri", uri, "-o", str(out), "--json", *extra])
    return code, json.loads(printed.getvalue().strip().splitlines()[-1])


def test_a_variant_of_a_run_is_a_run_linked_to_it_with_its_artifact(wine_run):
    uri, parent, folder = wine_run
    out = folder / "dynamic.tflite"
    code, report = compress_run(wine_run, out, "--method", "dynamic")
    assert code == 0 and report["parent_run_id"] == parent
    client = MlflowClient(uri)
    variant = client.get_run(report["run_id"])
    assert variant.info.experiment_id == client.get_run(parent).info.experiment_id
    assert variant.data.tags["parent_run_id"] == variant.data.tags["mlflow.parentRunId"] == parent
    assert variant.info.status == "FINISHED" and variant.data.tags["status"] == "finished"
    assert variant.data.params == {"method": "dynamic", "tolerance": "2.0"}
    assert variant.data.metrics["size_bytes"] == out.stat().st_size == report["size_bytes"]
    assert variant.data.metrics["test_accuracy"] == report["metrics"]["accuracy"]
    assert variant.data.metrics["baseline_test_accuracy"] == report["baseline_metrics"]["accuracy"]
    assert variant.data.metrics["latency_ms_batch1"] == report["latency_ms"]["1"]
    assert {a.path for a in client.list_artifacts(variant.info.run_id)} == {"dynamic.tflite", "compress_report.json"}
    kept = mlflow.artifacts.download_artifacts(run_id=variant.info.run_id, artifact_path="dynamic.tflite",
                                               tracking_uri=uri, dst_path=str(folder / "kept"))
    assert Path(kept).read_bytes() == out.read_bytes()


def test_a_variant_outside_the_tolerance_is_recorded_failed_without_artifact(wine_run, monkeypatch):
    real = writers.write

    def scrambled(method, job, path):  # the fault: the weights reversed before conversion
        model = writers.copy(job.model)
        model.set_weights([-w for w in model.get_weights()])
        return real(method, dataclasses.replace(job, model=model), path)

    monkeypatch.setattr(writers, "write", scrambled)
    uri, _, folder = wine_run
    code, report = compress_run(wine_run, folder / "broken.tflite", "--method", "dynamic")
    assert code == 1 and not report["ok"] and not (folder / "broken.tflite").exists()
    variant = MlflowClient(uri).get_run(report["run_id"])
    assert variant.info.status == "FAILED" and "outside the tolerance" in variant.data.tags["failure_message"]
    assert variant.data.params["method"] == "dynamic"
    assert [a.path for a in MlflowClient(uri).list_artifacts(variant.info.run_id)] == ["compress_report.json"]


def test_a_pruned_variant_records_its_sparsity_and_epochs_defaults_filled_in():
    assert Settings(sparsity=0.3).params("prune") == {"method": "prune", "sparsity": 0.3, "epochs": DEFAULT_EPOCHS,
                                                      "tolerance": DEFAULT_TOLERANCE}
    assert Settings().params("int8") == {"method": "int8", "tolerance": DEFAULT_TOLERANCE}
    assert Settings(sparsity=0.5).params("prune-structured")["sparsity"] == 0.5


def test_activations_of_a_run_come_from_the_store(wine_run, tmp_path):
    uri, parent, _ = wine_run
    assert main(["activations", parent, "--tracking-uri", uri, "--layer", "hidden", "--samples", "0,1",
                 "-o", str(tmp_path / "hidden.npz")]) == 0
    assert np.load(tmp_path / "hidden.npz")["activations"].shape == (2, 32)
