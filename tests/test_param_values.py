"""Parameter values typed as text become what Keras takes, or are refused with the reason."""

from __future__ import annotations

import pytest

from designer.layers.values import parse_param


def param(catalog, layer_type, name):
    return catalog[layer_type].param(name)


def test_the_input_shape_is_a_tuple_documented_by_keras_input(catalog):
    shape = param(catalog, "InputLayer", "shape")
    assert shape.kind == "tuple" and "None" in shape.doc  # InputLayer's own docstring says nothing of it


@pytest.mark.parametrize(("text", "value"), [
    ("28, 28, 1", [28, 28, 1]), ("(28, 28, 1)", [28, 28, 1]), ("[28, 28, 1]", [28, 28, 1]),
    ("28 28 1", [28, 28, 1]), ("(5,)", [5]), ("5", [5]), ("[5]", [5]), ("None, 3", [None, 3]),
    ("(None, 3)", [None, 3]), ("[null, 3]", [None, 3]), ("()", []),
])
def test_every_way_of_writing_a_shape(catalog, text, value):
    assert parse_param(param(catalog, "InputLayer", "shape"), text) == value


@pytest.mark.parametrize(("layer_type", "name", "text", "value"), [
    ("Conv2D", "kernel_size", "5, 3", [5, 3]), ("Conv2D", "kernel_size", "(5, 3)", [5, 3]),
    ("Conv2D", "kernel_size", "[5, 3]", [5, 3]), ("Conv2D", "kernel_size", "5", 5),
    ("Conv2D", "kernel_size", "(5,)", 5), ("MaxPooling2D", "strides", "None", None),
    ("Reshape", "target_shape", "(-1,)", [-1]), ("Reshape", "target_shape", "7, 4", [7, 4]),
    ("ZeroPadding2D", "padding", "(1, 1), (2, 2)", [[1, 1], [2, 2]]),
    ("Cropping2D", "cropping", "((1, 1), (2, 2))", [[1, 1], [2, 2]]),
    ("PReLU", "shared_axes", "1, 2", [1, 2]), ("PReLU", "shared_axes", "(1, 2)", [1, 2]),
    ("EinsumDense", "equation", "ab,bc->ac", "ab,bc->ac"),  # not a tuple: a string Keras expects
])
def test_tuple_parameters_of_every_kind(catalog, layer_type, name, text, value):
    assert parse_param(param(catalog, layer_type, name), text) == value


@pytest.mark.parametrize(("layer_type", "name", "text", "reason"), [
    ("InputLayer", "shape", "28, x", "whole numbers"), ("InputLayer", "shape", "28,, 1", "whole numbers"),
    ("InputLayer", "shape", "2.5, 3", "whole numbers"), ("InputLayer", "shape", "True, 3", "whole numbers"),
    ("Reshape", "target_shape", "None, 3", "whole numbers"),  # only shapes may leave a size open
    ("Conv2D", "kernel_size", "three", "whole numbers"), ("Cropping2D", "cropping", "(1, 1), x", "list"),
    ("Dense", "units", "{1, 2}", "int"),
])
def test_text_that_is_not_the_value_is_refused(catalog, layer_type, name, text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_param(param(catalog, layer_type, name), text)
