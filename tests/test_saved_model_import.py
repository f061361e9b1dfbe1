"""A TensorFlow SavedModel folder imports through tf2onnx and the ONNX converter, with its weights."""

from __future__ import annotations

import json

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from designer.cli import main
from designer.export import savedmodel
from designer.graph.project import load_project
from designer.keras_bridge.build import build_model
from designer.keras_bridge.weights import apply_weights


def small_cnn() -> keras.Model:
    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(4, 3, activation="relu", bias_initializer="random_normal", name="conv")(inp)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Flatten(name="flat")(x)
    return keras.Model(inp, layers.Dense(3, bias_initializer="random_normal", name="logits")(x), name="cnn")


def test_a_savedmodel_folder_imports_with_its_outputs(tmp_path, capsys):
    model = small_cnn()
    folder = tmp_path / "exported"
    savedmodel.write(model, folder)  # the designer's own SavedModel export
    project = tmp_path / "sm.kdn"
    assert main(["import", str(folder), "-o", str(project), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["report"]["parity"]["ok"] and result["report"]["producer"].startswith("tf2onnx")
    loaded = load_project(project)
    assert {n.type for n in loaded.document.nodes.values()} >= {"Conv2D", "Dense"}  # layers, no Lambda
    rebuilt = build_model(loaded.document)
    assert apply_weights(rebuilt, dict(np.load(tmp_path / loaded.weights))) == []
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(rebuilt(x), model(x), rtol=1e-4, atol=1e-5)


def test_a_tf_module_savedmodel_imports(tmp_path, capsys):
    class Affine(tf.Module):
        def __init__(self):
            self.w = tf.Variable(np.random.default_rng(1).normal(size=(4, 2)).astype("float32"))

        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.nn.sigmoid(tf.matmul(x, self.w))}

    module = Affine()
    tf.saved_model.save(module, str(tmp_path / "affine"), signatures=module.__call__)
    assert main(["import", str(tmp_path / "affine"), "-o", str(tmp_path / "a.kdn")]) == 0
    assert "parity" in capsys.readouterr().out


def test_a_folder_that_is_not_a_savedmodel_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["import", str(tmp_path / "empty"), "-o", str(tmp_path / "p.kdn")]) == 2
    err = capsys.readouterr().err
    assert "saved_model.pb" in err and len(err.strip().splitlines()) == 1
