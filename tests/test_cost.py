"""Cost per node (multiply-accumulates, parameter and activation bytes): counted by hand for small
networks, and against the published conv+fc figures for ResNet50 and MobileNetV2 at 224×224."""

from __future__ import annotations

import json

import keras
import pytest

from conftest import chain
from designer.cli import main
from designer.graph.document import NetworkDocument
from designer.graph.project import Project, save_project
from designer.keras_bridge.cost import Cost
from designer.keras_bridge.importer import import_model


def cost_by_name(analysis, doc) -> dict[str, Cost]:
    return {node.name: analysis.nodes[node.id].cost for node in doc.nodes.values()}


def macs_by_name(analysis, doc) -> dict[str, int]:
    return {name: cost.macs for name, cost in cost_by_name(analysis, doc).items()}


def image_doc() -> NetworkDocument:
    doc = NetworkDocument("image")
    x = doc.add_node("InputLayer", "x", {"shape": [8, 8, 3]}).id
    chain(doc, x,
          ("Conv2D", "conv", {"filters": 4, "kernel_size": 3, "padding": "same"}),
          ("BatchNormalization", "bn", {}),
          ("Conv2D", "grouped", {"filters": 8, "kernel_size": 3, "strides": 2, "groups": 2}),
          ("DepthwiseConv2D", "depthwise", {"kernel_size": 3, "padding": "same", "depth_multiplier": 2}),
          ("SeparableConv2D", "separable", {"filters": 6, "kernel_size": 3, "padding": "same"}),
          ("Conv2DTranspose", "up", {"filters": 5, "kernel_size": 2, "strides": 2}),
          ("MaxPooling2D", "pool", {}),
          ("GlobalAveragePooling2D", "gap", {}),
          ("Dense", "out", {"units": 7}))
    return doc


def test_convolutions_and_dense_count_as_by_hand(analyzer):
    doc = image_doc()
    analysis = analyzer.analyze(doc)
    assert analysis.ok, analysis.diagnostics
    expected = {
        "x": 0,
        "conv": 8 * 8 * 4 * (3 * 3 * 3),  # each output element: a 3×3 window over 3 channels
        "bn": 0,
        "grouped": 3 * 3 * 8 * (3 * 3 * 4 // 2),  # 8×8 → 3×3; each filter sees half of the 4 channels
        "depthwise": 3 * 3 * 16 * (3 * 3),  # each of the 4·2 = 16 outputs sees one channel's window
        "separable": 3 * 3 * 16 * (3 * 3) + 3 * 3 * 16 * 6,  # depthwise, then 1×1 from 16 to 6 channels
        "up": 3 * 3 * 6 * (2 * 2 * 5),  # each input pixel spreads over a 2×2×5 block
        "pool": 0, "gap": 0,
        "out": 5 * 7,
    }
    assert macs_by_name(analysis, doc) == expected
    assert analysis.cost.macs == sum(expected.values()) == 12_779
    conv = cost_by_name(analysis, doc)["conv"]
    assert conv.param_bytes == (3 * 3 * 3 * 4 + 4) * 4 and conv.activation_bytes == 8 * 8 * 4 * 4


def test_sequences_and_attention_count_as_by_hand(analyzer):
    doc = NetworkDocument("text")
    ids = doc.add_node("InputLayer", "ids", {"shape": [10], "dtype": "int32"}).id
    chain(doc, ids,
          ("Embedding", "embed", {"input_dim": 50, "output_dim": 6}),
          ("LSTM", "lstm", {"units": 4, "return_sequences": True}),
          ("Bidirectional", "bi", {"layer": {"module": "keras.layers", "class_name": "GRU",
                                             "config": {"units": 3}, "registered_name": None}}))
    q = doc.add_node("InputLayer", "q", {"shape": [5, 16]}).id
    v = doc.add_node("InputLayer", "v", {"shape": [7, 16]}).id
    mha = doc.add_node("MultiHeadAttention", "mha", {"num_heads": 2, "key_dim": 8})
    doc.connect(q, mha.id)
    doc.connect(v, mha.id)
    chain(doc, mha.id, ("EinsumDense", "proj", {"equation": "abc,cd->abd", "output_shape": [5, 12]}))
    analysis = analyzer.analyze(doc)
    assert analysis.ok, analysis.diagnostics
    macs = macs_by_name(analysis, doc)
    assert macs["embed"] == 0
    assert macs["lstm"] == 10 * 4 * 4 * (6 + 4)  # 10 steps × 4 gates × 4 units × (inputs + state)
    assert macs["bi"] == 2 * 10 * 3 * 3 * (4 + 3)  # two directions × 10 steps × 3 gates × 3 units × (4 + 3)
    projections = 5 * 16 * 16 + 7 * 16 * 16 + 7 * 16 * 16 + 5 * 16 * 16  # query, key, value, output
    assert macs["mha"] == projections + 2 * 5 * 7 * (8 + 8)  # per head: scores (q·k) and weighted sum
    assert macs["proj"] == 5 * 12 * 16


def test_parameter_memory_follows_the_weights_dtype(analyzer):
    doc = NetworkDocument("half")
    x = doc.add_node("InputLayer", "x", {"shape": [5]}).id
    chain(doc, x, ("Dense", "half", {"units": 7, "dtype": "float16"}),
          ("Dense", "mixed", {"units": 3, "dtype": "mixed_float16"}))
    analysis = analyzer.analyze(doc)
    assert analysis.ok, analysis.diagnostics
    half, mixed = (cost_by_name(analysis, doc)[n] for n in ("half", "mixed"))
    assert half.param_bytes == (5 * 7 + 7) * 2 and half.activation_bytes == 7 * 2
    assert mixed.param_bytes == (7 * 3 + 3) * 4 and mixed.activation_bytes == 3 * 2  # float32 weights, float16 out


@pytest.mark.parametrize(("name", "published", "params"), [
    # conv + fc multiply-accumulates, as the TF-slim / Keras model tables give them (ResNet v1: the
    # stride is in the first 1×1 convolution; torchvision's v1.5 puts it in the 3×3 and counts 4.09 G)
    ("ResNet50", 3.86e9, 25_636_712),
    ("MobileNetV2", 300e6, 3_538_984),  # Sandler et al. 2018, table 4: 300 M multiply-adds, alpha 1.0
])
def test_applications_match_published_figures(name, published, params, analyzer):
    keras.backend.clear_session()
    doc = import_model(getattr(keras.applications, name)(weights=None), analyzer.catalog, layout=False)
    analysis = analyzer.analyze(doc)
    assert analysis.ok, analysis.diagnostics
    assert analysis.cost.macs == pytest.approx(published, rel=0.02)
    assert analysis.cost.param_bytes == params * 4  # float32 weights


def test_shared_layers_compute_twice_but_store_once(analyzer):
    doc = NetworkDocument("shared")
    a = doc.add_node("InputLayer", "a", {"shape": [4]}).id
    b = doc.add_node("InputLayer", "b", {"shape": [4]}).id
    dense = doc.add_node("Dense", "dense", {"units": 3})
    doc.connect(a, dense.id)
    again = doc.add_node("Dense", "again", {"units": 3}, share=dense.id)
    doc.connect(b, again.id)
    analysis = analyzer.analyze(doc)
    assert analysis.ok, analysis.diagnostics
    assert analysis.cost.macs == 2 * 4 * 3
    assert analysis.cost.param_bytes == (4 * 3 + 3) * 4


def test_cli_reports_cost(tmp_path, capsys):
    path = tmp_path / "image.kdn"
    save_project(Project(image_doc()), path)
    assert main(["analyze", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_macs"] == 12_779
    assert data["param_bytes"] == sum(n["params"] for n in data["nodes"]) * 4
    assert {n["name"]: n["macs"] for n in data["nodes"]}["up"] == 1080
    assert all(n["activation_bytes"] > 0 for n in data["nodes"])
    assert main(["analyze", str(path)]) == 0
    assert "Compute per sample: 12.8 KMACs (12,779 multiply-accumulates)" in capsys.readouterr().out


def test_imported_self_attention_counts_the_same_tensor_as_query_and_value(analyzer):
    x = keras.Input((5, 16))
    model = keras.Model(x, keras.layers.MultiHeadAttention(2, 8, name="self_attention")(x, x))
    doc = import_model(model, analyzer.catalog, layout=False)
    analysis = analyzer.analyze(doc)
    assert analysis.ok, analysis.diagnostics
    assert macs_by_name(analysis, doc)["self_attention"] == 4 * 5 * 16 * 16 + 2 * 5 * 5 * (8 + 8)
