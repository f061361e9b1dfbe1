"""Import → save → load → build is lossless for hand-built models of every tricky kind."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import layers

from designer.graph.project import Project, load_project, save_project
from designer.keras_bridge.build import build_model
from designer.keras_bridge.importer import import_model
from designer.keras_bridge.weights import apply_weights, collect_weights, layer_paths


def leaf_operations(model) -> int:
    """Operations (layers and keras.ops calls) inside nested models too, inputs aside: a top-level
    Sequential comes back as the equivalent functional model."""
    ops = model.layers if isinstance(model, keras.Sequential) else model.operations
    return sum(leaf_operations(op) if isinstance(op, keras.Model) else int(not isinstance(op, layers.InputLayer))
               for op in ops)


def sample_inputs(model, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [tuple(96 if d is None else d for d in t.shape[1:]) for t in model.inputs]  # any-size images
    return [rng.random((batch, *shape), dtype=np.float32) * 2 - 1 for shape in shapes]


def assert_round_trip(model, tmp_path, analyzer=None):
    doc = import_model(model)
    save_project(Project(doc), tmp_path / "m.kdn")
    rebuilt = build_model(load_project(tmp_path / "m.kdn").document)
    assert leaf_operations(rebuilt) == leaf_operations(model)
    count = lambda ws: sum(int(np.prod(w.shape)) for w in ws)  # noqa: E731
    assert count(rebuilt.trainable_weights) == count(model.trainable_weights)
    assert count(rebuilt.non_trainable_weights) == count(model.non_trainable_weights)
    originals = dict(layer_paths(model))
    for path, layer in layer_paths(rebuilt):
        assert json.dumps(layer.get_config(), sort_keys=True, default=str) == \
            json.dumps(originals[path].get_config(), sort_keys=True, default=str), path
    assert apply_weights(rebuilt, collect_weights(model)) == []
    x = sample_inputs(model)
    expected = keras.tree.flatten(model(x if len(x) > 1 else x[0], training=False))
    got = keras.tree.flatten(rebuilt(x if len(x) > 1 else x[0], training=False))
    for e, g in zip(expected, got, strict=False):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(g), keras.ops.convert_to_numpy(e), atol=1e-6)
    if analyzer is not None:
        analysis = analyzer.analyze(doc)
        assert analysis.ok, analysis.diagnostics[:3]
        assert analysis.total_params == model.count_params()
    return doc, rebuilt


def tricky_graph():
    """Two inputs through one shared layer, keras.ops calls, and a nested Sequential block."""
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    shared = layers.Dense(4, activation="tanh", name="shared")
    s = keras.ops.add(shared(a), shared(b))
    r = keras.ops.reshape(s, (-1, 2, 2))
    block = keras.Sequential([keras.Input((2, 2)), layers.Flatten(name="f"), layers.Dense(3, name="sd")],
                             name="seqblock")
    return a, b, s, block(r)


def test_shared_layers_ops_and_nested_sequential(tmp_path, analyzer):
    a, b, _, out = tricky_graph()
    model = keras.Model([a, b], out, name="tricky")
    doc, rebuilt = assert_round_trip(model, tmp_path, analyzer)
    shares = [n for n in doc.nodes.values() if n.share]
    assert [n.name for n in shares] == ["shared"]
    assert any(n.module.startswith("keras.src.ops") for n in doc.nodes.values())
    assert isinstance(rebuilt.get_layer("seqblock"), keras.Sequential)


def test_multiple_inputs_outputs_and_frozen_layers(tmp_path, analyzer):
    img = keras.Input((8, 8, 3), name="img")
    meta = keras.Input((5,), name="meta")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(img)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Concatenate(name="cat")([x, meta])
    out1 = layers.Dense(3, activation="softmax", name="cls")(x)
    out2 = layers.Dense(1, name="reg")(x)
    model = keras.Model([img, meta], [out1, out2], name="multi")
    model.get_layer("conv").trainable = False
    model.get_layer("conv").kernel.assign(np.random.default_rng(1).random((3, 3, 3, 4)))
    _doc, rebuilt = assert_round_trip(model, tmp_path, analyzer)
    assert not rebuilt.get_layer("conv").trainable
    assert [t.name for t in rebuilt.inputs] == ["img", "meta"]


def test_nested_functional_model_called_twice(tmp_path, analyzer):
    inner_in = keras.Input((6,), name="inner_in")
    inner = keras.Model(inner_in, layers.Dense(6, name="inner_dense")(inner_in), name="encoder")
    x = keras.Input((6,), name="x")
    model = keras.Model(x, layers.Add(name="sum")([inner(x), inner(layers.Dense(6, name="pre")(x))]))
    doc, _ = assert_round_trip(model, tmp_path, analyzer)
    assert sum(1 for n in doc.nodes.values() if n.is_block) == 2


def test_sequential_model_and_rnn_attention(tmp_path, analyzer):
    seq = keras.Sequential([keras.Input((10, 8)), layers.LSTM(6, return_sequences=True, name="lstm"),
                            layers.Bidirectional(layers.GRU(3), name="bigru"), layers.Dense(2, name="out")],
                           name="seq")
    assert_round_trip(seq, tmp_path, analyzer)
    q = keras.Input((5, 8), name="q")
    v = keras.Input((7, 8), name="v")
    att = layers.MultiHeadAttention(2, 4, name="mha")(q, v, v)
    assert_round_trip(keras.Model([q, v], layers.LayerNormalization(name="ln")(att)), tmp_path, analyzer)


def test_imported_params_leave_defaults_out():
    inp = keras.Input((4,), name="x")
    model = keras.Model(inp, layers.Dense(3, activation="relu", name="d")(inp))
    doc = import_model(model)
    dense = next(n for n in doc.nodes.values() if n.type == "Dense")
    assert dense.params == {"units": 3, "activation": "relu"}
    assert next(n for n in doc.nodes.values() if n.is_input).params == {"shape": [4]}


@pytest.mark.parametrize("bad", ["lambda", "custom"])
def test_unimportable_layers_are_refused_clearly(bad):
    from designer.keras_bridge.importer import ModelImportError

    inp = keras.Input((2,), name="x")
    if bad == "lambda":
        model = keras.Model(inp, layers.Lambda(lambda t: t * 2, name="double")(inp))
        match = "Lambda"
    else:
        class Twice(layers.Layer):
            def call(self, t):
                return t * 2

        model = keras.Model(inp, Twice(name="twice")(inp))
        match = "custom class"
    with pytest.raises(ModelImportError, match=match):
        import_model(model)


def exec_generated(source: str) -> keras.Model:
    namespace: dict = {}
    exec(compile(source, "generated.py", "exec"), namespace)
    return namespace["build_model"]()


def assert_codegen_rebuilds(doc, built=None):
    from designer.keras_bridge.codegen import generate

    source = generate(doc)
    rebuilt = exec_generated(source)
    built = built if built is not None else build_model(doc)
    originals = dict(layer_paths(built))
    assert [p for p, _ in layer_paths(rebuilt)] == list(originals)
    for path, layer in layer_paths(rebuilt):
        if not hasattr(layer, "get_config") or type(layer).__module__.startswith("keras.src.ops"):
            continue
        assert layer.get_config() == originals[path].get_config(), path
    assert rebuilt.count_params() == built.count_params()
    return source


def test_codegen_for_hand_built_models(tmp_path):
    a, b, s, out = tricky_graph()
    x = layers.Dense(3, name="frozen_head")(out)
    model = keras.Model([a, b], [x, s], name="tricky")
    model.get_layer("frozen_head").trainable = False
    source = assert_codegen_rebuilds(import_model(model))
    assert "shared_layer = layers.Dense(4, activation=\"tanh\", name=\"shared\")" in source
    assert "frozen_head_layer.trainable = False  # frozen" in source
    assert "def seqblock_block():" in source and "keras.ops.add(" in source
