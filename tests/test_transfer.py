"""Transfer learning in the core: frozen state and new heads live in the document and the model."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from designer.graph.document import GraphError
from designer.graph.transfer import attach, cut_at, find, freeze_all, freeze_up_to, replace_head, set_trainable
from designer.keras_bridge.build import build_model
from designer.keras_bridge.importer import import_model
from designer.keras_bridge.weights import apply_weights, collect_weights


def small_classifier() -> keras.Model:
    inp = keras.Input((8, 8, 1), name="image")
    x = layers.Conv2D(4, 3, name="conv")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(8, activation="relu", name="fc")(x)
    return keras.Model(inp, layers.Dense(10, activation="softmax", name="head")(x), name="clf")


def test_freeze_up_to_a_node_and_replace_the_head(analyzer):
    original = small_classifier()
    doc = import_model(original)
    frozen = freeze_up_to(doc, find(doc, "gap").id)
    assert {doc.node(i).name for i in frozen} == {"image", "conv", "bn", "gap"}
    replace_head(doc, classes=3)
    model = build_model(doc)
    assert not model.get_layer("conv").trainable and model.get_layer("fc").trainable
    assert model.output.shape == (None, 3)
    skipped = apply_weights(model, collect_weights(original))
    assert skipped == ["head"]  # the backbone keeps its weights, the new head starts fresh
    np.testing.assert_array_equal(model.get_layer("conv").get_weights()[0],
                                  original.get_layer("conv").get_weights()[0])
    analysis = analyzer.analyze(doc)
    assert analysis.trainable_params == (4 * 8 + 8) + (8 * 3 + 3)  # fc and the new head
    assert analysis.non_trainable_params == model.count_params() - analysis.trainable_params


def test_cut_and_attach_a_new_head():
    doc = import_model(small_classifier())
    removed = cut_at(doc, find(doc, "gap").id)
    assert {doc.node(i).name for i in doc.nodes} == {"image", "conv", "bn", "gap"} and len(removed) == 2
    attach(doc, find(doc, "gap").id, [("Dropout", "drop", {"rate": 0.2}),
                                      ("Dense", "new_head", {"units": 5, "activation": "softmax"})])
    model = build_model(doc)
    assert [layer.name for layer in model.layers][-2:] == ["drop", "new_head"]
    assert model.output.shape == (None, 5)


def test_freeze_all_and_unfreeze_one():
    doc = import_model(small_classifier())
    freeze_all(doc)
    set_trainable(doc, [find(doc, "head").id], True)
    model = build_model(doc)
    assert [layer.name for layer in model.layers if layer.trainable and layer.weights] == ["head"]


def test_head_replacement_refuses_what_it_cannot_do():
    doc = import_model(small_classifier())
    cut_at(doc, find(doc, "gap").id)
    with pytest.raises(GraphError, match="not a Dense layer"):
        replace_head(doc, 3)

