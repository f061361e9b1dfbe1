"""Documents build into exactly the Keras models they describe, and analysis agrees with Keras."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from conftest import SAMPLES, chain
from designer.graph.document import NetworkDocument, PortRef
from designer.graph.project import load_project
from designer.keras_bridge.build import BuildError, build_model


def classic_cnn_reference() -> keras.Model:
    inp = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(32, (3, 3), activation="relu", name="conv1")(inp)
    x = layers.MaxPooling2D((2, 2), name="pool1")(x)
    x = layers.Conv2D(64, (3, 3), activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D((2, 2), name="pool2")(x)
    x = layers.Conv2D(64, (3, 3), activation="relu", name="conv3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="hidden")(x)
    out = layers.Dense(10, activation="softmax", name="classes")(x)
    return keras.Model(inp, out, name="classic_cnn")


def test_classic_cnn_analyses_to_93322_and_builds_the_hand_written_model(analyzer):
    doc = load_project(SAMPLES / "classic_cnn.kdn").document
    analysis = analyzer.analyze(doc)
    assert analysis.ok, analysis.diagnostics
    assert analysis.total_params == 93_322
    model = build_model(doc)
    reference = classic_cnn_reference()
    assert model.get_config() == reference.get_config()
    assert model.count_params() == reference.count_params() == 93_322


def assert_analysis_matches_keras(analyzer, doc):
    analysis = analyzer.analyze(doc)
    assert analysis.ok, analysis.diagnostics
    model = build_model(doc)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert analysis.total_params == model.count_params()
    assert analysis.trainable_params == trainable
    for out_ref, tensor in zip(doc.effective_outputs(), model.outputs, strict=False):
        assert analysis.nodes[out_ref.node].outputs[out_ref.port][0] == tuple(tensor.shape)
    return analysis, model


def residual_doc() -> NetworkDocument:
    doc = NetworkDocument("residual")
    inp = doc.add_node("InputLayer", "x", {"shape": [16, 16, 8]}).id
    conv = chain(doc, inp, ("Conv2D", "conv", {"filters": 8, "kernel_size": 3, "padding": "same"}),
                 ("BatchNormalization", "bn", {}), ("ReLU", "relu", {}))
    add = doc.add_node("Add", "add")
    doc.connect(inp, add.id)
    doc.connect(conv, add.id)
    chain(doc, add.id, ("GlobalAveragePooling2D", "gap", {}), ("Dense", "out", {"units": 3}))
    return doc


def test_residual_add(analyzer):
    analysis, model = assert_analysis_matches_keras(analyzer, residual_doc())
    assert analysis.non_trainable_params == 16  # BatchNormalization's moving mean and variance
    assert [layer.name for layer in model.layers] == ["x", "conv", "bn", "relu", "add", "gap", "out"]


def test_concatenate_and_multiple_inputs_and_outputs(analyzer):
    doc = NetworkDocument("two_heads")
    a = doc.add_node("InputLayer", "image", {"shape": [8]}).id
    b = doc.add_node("InputLayer", "meta", {"shape": [3]}).id
    cat = doc.add_node("Concatenate", "cat")
    doc.connect(a, cat.id)
    doc.connect(b, cat.id)
    hidden = chain(doc, cat.id, ("Dense", "hidden", {"units": 16, "activation": "relu"}))
    cls = chain(doc, hidden, ("Dense", "cls", {"units": 4, "activation": "softmax"}))
    reg = chain(doc, hidden, ("Dense", "reg", {"units": 1}))
    doc.outputs = [PortRef(cls), PortRef(reg)]
    analysis, model = assert_analysis_matches_keras(analyzer, doc)
    assert analysis.nodes[cat.id].outputs[0][0] == (None, 11)
    assert [t.name for t in model.inputs] == ["image", "meta"]
    assert len(model.outputs) == 2
    pred = model.predict([np.ones((2, 8)), np.ones((2, 3))], verbose=0)
    assert pred[0].shape == (2, 4) and pred[1].shape == (2, 1)


def test_multi_head_attention_positional_ports(analyzer):
    doc = NetworkDocument("attn")
    q = doc.add_node("InputLayer", "q", {"shape": [5, 16]}).id
    v = doc.add_node("InputLayer", "v", {"shape": [7, 16]}).id
    mha = doc.add_node("MultiHeadAttention", "mha", {"num_heads": 2, "key_dim": 8})
    doc.connect(q, mha.id)
    doc.connect(v, mha.id)
    analysis, _ = assert_analysis_matches_keras(analyzer, doc)
    assert analysis.nodes[mha.id].outputs[0][0] == (None, 5, 16)


def test_lstm_with_state_has_several_output_ports(analyzer):
    doc = NetworkDocument("rnn")
    x = doc.add_node("InputLayer", "seq", {"shape": [10, 4]}).id
    lstm = doc.add_node("LSTM", "lstm", {"units": 6, "return_state": True})
    doc.connect(x, lstm.id)
    dense = doc.add_node("Dense", "from_state", {"units": 2})
    doc.connect(lstm.id, dense.id, src_port=2)
    analysis, _ = assert_analysis_matches_keras(analyzer, doc)
    assert len(analysis.nodes[lstm.id].outputs) == 3


def nested_doc(frozen: bool = False) -> NetworkDocument:
    inner = NetworkDocument("feature_block")
    i = inner.add_node("InputLayer", "block_in", {"shape": [12]}).id
    chain(inner, i, ("Dense", "b_dense", {"units": 6, "activation": "relu"}), ("BatchNormalization", "b_bn", {}))
    doc = NetworkDocument("nested")
    x = doc.add_node("InputLayer", "x", {"shape": [12]}).id
    blk = doc.add_node("Block", "features", block=inner, trainable=not frozen)
    doc.connect(x, blk.id)
    chain(doc, blk.id, ("Dense", "head", {"units": 2}))
    return doc


def test_nested_block_builds_a_nested_model(analyzer):
    analysis, model = assert_analysis_matches_keras(analyzer, nested_doc())
    inner = model.get_layer("features")
    assert isinstance(inner, keras.Model)
    assert [layer.name for layer in inner.layers] == ["block_in", "b_dense", "b_bn"]
    blk_id = next(n.id for n in nested_doc().nodes.values() if n.is_block)
    assert any(path.startswith(f"{blk_id}/") for path in analysis.nodes)  # inner shapes are shown too


def test_frozen_block_counts_as_non_trainable(analyzer):
    analysis, model = assert_analysis_matches_keras(analyzer, nested_doc(frozen=True))
    assert analysis.trainable_params == 2 * 6 + 2  # only the head
    assert model.get_layer("features").trainable is False


def diagnostics_by_node(analysis):
    return {d.node: d for d in analysis.diagnostics if d.severity == "error"}


def test_shape_mismatch_is_pinned_to_the_merge(analyzer):
    doc = NetworkDocument("bad")
    a = doc.add_node("InputLayer", "a", {"shape": [3]}).id
    b = doc.add_node("InputLayer", "b", {"shape": [4]}).id
    add = doc.add_node("Add", "add")
    doc.connect(a, add.id)
    doc.connect(b, add.id)
    after = chain(doc, add.id, ("Dense", "after", {"units": 2}))
    analysis = analyzer.analyze(doc)
    errors = diagnostics_by_node(analysis)
    assert list(errors) == [add.id]
    assert "incompatible shapes" in errors[add.id].message
    assert after not in analysis.nodes  # downstream is not analysed, and not blamed


def test_wrong_rank_and_invalid_value_and_unknown_type(analyzer):
    doc = NetworkDocument("bad")
    x = doc.add_node("InputLayer", "x", {"shape": [10]}).id
    conv = chain(doc, x, ("Conv2D", "conv", {"filters": 4, "kernel_size": 3}))
    dense = chain(doc, x, ("Dense", "dense", {"units": -1}))
    odd = chain(doc, x, ("NoSuchLayer", "odd", {}))
    errors = diagnostics_by_node(analyzer.analyze(doc))
    assert "expected min_ndim=4, found ndim=2" in errors[conv].message
    assert "expected a positive integer" in errors[dense].message
    assert "unknown layer type 'NoSuchLayer'" in errors[odd].message
    with pytest.raises(BuildError) as err:
        build_model(doc)
    assert err.value.diagnostics[0].node == conv


def test_excluded_types_say_why(analyzer):
    doc = NetworkDocument("lam")
    x = doc.add_node("InputLayer", "x", {"shape": [2]}).id
    lam = chain(doc, x, ("Lambda", "lam", {}))
    assert "arbitrary Python code" in diagnostics_by_node(analyzer.analyze(doc))[lam].message


def test_graph_errors_come_without_exceptions(analyzer):
    doc = NetworkDocument("cyclic")
    x = doc.add_node("InputLayer", "x", {"shape": [2]}).id
    a = doc.add_node("Dense", "a", {"units": 2}).id
    b = doc.add_node("Add", "b").id
    doc.connect(x, b)
    doc.connect(b, a)
    doc.connect(a, b)
    analysis = analyzer.analyze(doc)
    assert {d.code for d in analysis.diagnostics} >= {"cycle", "no-output"}
    assert x in analysis.nodes


def test_edit_reanalyses_only_what_changed(analyzer):
    doc = residual_doc()
    first = analyzer.analyze(doc)
    assert first.recomputed == len(doc)
    out = next(n for n in doc.nodes.values() if n.name == "out")
    out.params["units"] = 7
    second = analyzer.analyze(doc)
    assert second.recomputed == 1
    assert second.nodes[out.id].outputs[0][0] == (None, 7)
    conv = next(n for n in doc.nodes.values() if n.name == "conv")
    conv.params["filters"] = 4  # changes shapes downstream until the Add fails
    third = analyzer.analyze(doc)
    assert 1 < third.recomputed < len(doc)
    add_id = next(n.id for n in doc.nodes.values() if n.type == "Add")
    assert "incompatible" in diagnostics_by_node(third)[add_id].message


def test_huge_layers_analyse_without_allocating(analyzer):
    doc = NetworkDocument("huge")
    x = doc.add_node("InputLayer", "x", {"shape": [200_000]}).id
    big = chain(doc, x, ("Dense", "big", {"units": 200_000}))  # 40 billion weights: 160 GB
    analysis = analyzer.analyze(doc)
    assert analysis.total_params == 200_000 * 200_000 + 200_000
    assert [d.code for d in analysis.diagnostics] == ["huge-layer"]
    assert analysis.diagnostics[0].node == big
