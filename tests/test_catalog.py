"""The layer catalog is Keras's own description of its layers."""

from __future__ import annotations

import inspect
import json

import keras
import pytest

from designer.graph.document import NetworkDocument
from designer.keras_bridge.build import make_layer


def public_layer_classes() -> set[type]:
    return {obj for name in dir(keras.layers) if inspect.isclass(obj := getattr(keras.layers, name))
            and issubclass(obj, keras.layers.Layer)}


def test_covers_at_least_90_percent_and_explains_every_exclusion(catalog):
    classes = public_layer_classes()
    names = {c.__name__ for c in classes}
    keras_own = {name for name, spec in catalog.specs.items() if not spec.module}  # not installed libraries'
    assert keras_own | set(catalog.excluded) == names
    assert len(keras_own) / len(names) >= 0.9
    assert all(reason for reason in catalog.excluded.values())


def test_categories_are_the_ones_users_expect(catalog):
    cats = catalog.categories()
    for category, example in [("Input", "InputLayer"), ("Core", "Dense"), ("Convolution", "Conv2D"),
                              ("Pooling", "MaxPooling2D"), ("Normalization", "BatchNormalization"),
                              ("Activation", "ReLU"), ("Regularization", "Dropout"), ("Recurrent", "LSTM"),
                              ("Attention", "MultiHeadAttention"), ("Merge", "Concatenate"),
                              ("Reshaping", "Flatten"), ("Preprocessing & Augmentation", "RandomFlip")]:
        assert example in [s.type for s in cats[category]]
    assert "Other" not in cats


def test_parameters_come_from_the_signature(catalog):
    conv = catalog["Conv2D"]
    by_name = {p.name: p for p in conv.params}
    assert list(by_name) == [n for n in inspect.signature(keras.layers.Conv2D.__init__).parameters
                             if n not in ("self", "name", "kwargs")]
    assert by_name["filters"].required and by_name["filters"].kind == "int"
    assert by_name["kernel_size"].kind == "ints"
    assert by_name["strides"].default == [1, 1]
    assert by_name["padding"].kind == "choice" and {"valid", "same"} <= set(by_name["padding"].choices)
    assert "relu" in by_name["activation"].choices
    assert "glorot_uniform" in by_name["kernel_initializer"].choices
    assert "l2" in by_name["kernel_regularizer"].choices
    assert "max_norm" in by_name["kernel_constraint"].choices
    assert by_name["use_bias"].kind == "bool" and by_name["use_bias"].default is True
    assert "convolution" in conv.description.lower()
    assert "dimension of the output space" in by_name["filters"].doc


def test_input_ports_come_from_call(catalog):
    assert catalog["MultiHeadAttention"].ports.names[:3] == ("query", "value", "key")
    assert (catalog["MultiHeadAttention"].ports.min_inputs, catalog["MultiHeadAttention"].ports.max_inputs) == (2, 3)
    assert catalog["Add"].ports.as_list and catalog["Add"].ports.max_inputs is None
    assert (catalog["Subtract"].ports.min_inputs, catalog["Subtract"].ports.max_inputs) == (2, 2)
    assert catalog["Attention"].ports.as_list
    assert catalog["InputLayer"].ports.max_inputs == 0
    assert catalog["Dense"].ports.max_inputs == 1


SEEDABLE = {"int", "ints", "tuple", "float", "choice", "activation", "bool"}


def test_every_simple_layer_round_trips_its_config(catalog):
    """Each entry whose required arguments are plain values builds from the catalog's seeds
    (or Keras refuses them with its own message, which analysis then shows on the node),
    and get_config → from_config → get_config is stable."""
    checked, failures, refused = 0, [], []
    for spec in catalog.specs.values():
        if any(p.required and p.kind not in SEEDABLE for p in spec.params):
            continue
        doc = NetworkDocument()
        node = doc.add_node(spec.type, "probe", spec.defaults())
        try:
            layer = make_layer(node, catalog)
        except (TypeError, ValueError):  # Keras's own refusal, shown on the node by analysis
            refused.append(spec.type)
            continue
        config = layer.get_config()
        again = type(layer).from_config(config).get_config()
        if json.dumps(again, sort_keys=True, default=str) != json.dumps(config, sort_keys=True, default=str):
            failures.append(spec.type)
        checked += 1
    assert failures == []
    own = [t for t in refused if not catalog[t].module]  # an installed library's layers (keras-hub's) often
    assert checked >= 100 and len(own) <= 6, own  # need arguments no seed guesses, as its models give them


def test_json_listing_has_the_documented_shape(catalog):
    entries = catalog.to_json()
    json.dumps(entries)
    assert all({"type", "category", "params"} <= e.keys() for e in entries)
    assert entries[0]["category"] == "Input"


@pytest.mark.parametrize("layer_type", ["Bidirectional", "TimeDistributed"])
def test_wrappers_take_a_nested_layer_config(catalog, analyzer, layer_type):
    doc = NetworkDocument()
    x = doc.add_node("InputLayer", "x", {"shape": [5, 3]})
    inner = keras.layers.serialize(keras.layers.LSTM(4, return_sequences=True) if layer_type == "Bidirectional"
                                   else keras.layers.Dense(4))  # the form Keras itself writes
    node = doc.add_node(layer_type, "wrapped", {"layer": inner})
    doc.connect(x.id, node.id)
    analysis = analyzer.analyze(doc)
    assert analysis.ok, analysis.diagnostics
    assert analysis.nodes[node.id].outputs[0][0] == (None, 5, 8 if layer_type == "Bidirectional" else 4)
