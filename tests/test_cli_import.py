"""netdesigner import / codegen / export: round trips through files, and refusals that write nothing."""

from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest
from keras import layers

from conftest import SAMPLES
from designer.cli import main


@pytest.fixture
def trained_keras_file(tmp_path):
    inp = keras.Input((6,), name="features")
    x = layers.Dense(12, activation="relu", name="hidden")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inp, layers.Dense(3, activation="softmax", name="out")(x), name="trained")
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.random((64, 6)), rng.integers(0, 3, 64), epochs=2, verbose=0)
    path = tmp_path / "trained.keras"
    model.save(path)
    return path, model


def test_import_then_export_keeps_predictions(tmp_path, trained_keras_file, capsys):
    source, model = trained_keras_file
    project = tmp_path / "proj.kdn"
    assert main(["import", str(source), "-o", str(project)]) == 0
    weights = json.loads(project.read_text())["weights"]
    assert weights.startswith("proj.") and weights.endswith(".weights.npz") and (tmp_path / weights).is_file()
    out = tmp_path / "out.keras"
    assert main(["export", str(project), "--format", "keras", "-o", str(out)]) == 0
    again = keras.saving.load_model(out, safe_mode=True)
    x = np.random.default_rng(1).random((5, 6)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_import_h5_and_json_config(tmp_path, trained_keras_file):
    _, model = trained_keras_file
    model.save(tmp_path / "legacy.h5")
    assert main(["import", str(tmp_path / "legacy.h5"), "-o", str(tmp_path / "h5.kdn")]) == 0
    (tmp_path / "model.json").write_text(model.to_json())
    assert main(["import", str(tmp_path / "model.json"), "-o", str(tmp_path / "json.kdn")]) == 0
    assert main(["analyze", str(tmp_path / "json.kdn")]) == 0


def test_import_an_application_and_generate_code(tmp_path, capsys):
    project = tmp_path / "mnv2.kdn"
    assert main(["import", "keras.applications:MobileNetV2", "-o", str(project)]) == 0
    assert not (tmp_path / "mnv2.weights.npz").exists()  # nothing to keep: weights were never trained
    script = tmp_path / "mnv2.py"
    assert main(["codegen", str(project), "-o", str(script)]) == 0
    namespace: dict = {}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    rebuilt = namespace["build_model"]()
    keras.backend.clear_session()  # so the reference's input gets Keras's first default name too
    reference = keras.applications.MobileNetV2(weights=None)
    assert rebuilt.count_params() == reference.count_params()
    assert [layer.get_config() for layer in rebuilt.layers] == [layer.get_config() for layer in reference.layers]


def test_codegen_to_stdout(capsys):
    assert main(["codegen", str(SAMPLES / "classic_cnn.kdn")]) == 0
    source = capsys.readouterr().out
    assert 'conv1 = layers.Conv2D(32, (3, 3), activation="relu", name="conv1")(image)' in source


def lambda_model_file(tmp_path):
    inp = keras.Input((2,), name="x")
    model = keras.Model(inp, layers.Lambda(lambda t: t * 2, name="double")(inp))
    path = tmp_path / "lambda.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("kind", ["not_zip", "truncated", "unknown_class", "lambda", "missing", "bad_json",
                                  "unknown_app", "bad_suffix"])
def test_hostile_sources_exit_2_and_write_nothing(tmp_path, trained_keras_file, capsys, kind):
    source, _ = trained_keras_file
    bad = tmp_path / f"bad_{kind}.keras"
    if kind == "not_zip":
        bad.write_text("hello")
    elif kind == "truncated":
        bad.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    elif kind == "unknown_class":
        with zipfile.ZipFile(source) as zin, zipfile.ZipFile(bad, "w") as zout:
            for item in zin.infolist():
                data = zin.read(item.filename)
                if item.filename == "config.json":
                    data = data.replace(b'"BatchNormalization"', b'"MagicNormalization"')
                zout.writestr(item, data)
    elif kind == "lambda":
        bad = lambda_model_file(tmp_path)
    elif kind == "missing":
        bad = tmp_path / "missing.keras"
    elif kind == "bad_json":
        bad = tmp_path / "bad.json"
        bad.write_text('{"class_name": ')
    elif kind == "unknown_app":
        bad = "keras.applications:ResNet9000"
    else:
        bad = tmp_path / "model.onnx"
        bad.write_text("x")
    before = set(tmp_path.iterdir())
    capsys.readouterr()
    assert main(["import", str(bad), "-o", str(tmp_path / "out.kdn")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("netdesigner: ") and err.count("\n") == 1, err
    assert set(tmp_path.iterdir()) == before
    if kind == "lambda":
        assert "Lambda" in err
    if kind == "unknown_class":
        assert "MagicNormalization" in err


def test_checked_in_codegen_example_is_current_and_runs(capsys):
    """docs/codegen_example.py is what `netdesigner codegen docs/siamese.kdn` writes today."""
    from conftest import ROOT

    assert main(["codegen", str(ROOT / "docs" / "siamese.kdn")]) == 0
    generated = capsys.readouterr().out
    checked_in = (ROOT / "docs" / "codegen_example.py").read_text()
    assert generated.split('"""', 2)[2] == checked_in.split('"""', 2)[2]  # the title line aside
    namespace: dict = {}
    exec(compile(checked_in, "codegen_example.py", "exec"), namespace)
    model = namespace["build_model"]()
    assert model.get_layer("encoder").get_layer("conv_a").trainable is False
