"""Sample inputs for a model and its own outputs on them: what every artifact is compared with."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from designer.export.report import ExportError

# A reloaded artifact: its input names, and a function from named inputs to its outputs.
Loaded = tuple[list[str], Callable[[dict[str, np.ndarray]], Mapping[str, Any] | Sequence[Any]]]

WORDS = ("the", "storm", "chef", "launches", "scores", "new", "bread", "league", "robot", "rain", "unknownword")
FREE_DIM = 32  # the size given to unknown non-batch dimensions (image sides, sequence lengths) in samples


def input_names(model: keras.Model) -> list[str]:
    """The names of the model's ``Input`` layers, which is what users see and artifacts should expose
    (a tensor's own name may be an automatic ``keras_tensor_3``)."""
    return [_layer_name(t) for t in model.inputs]


def _layer_name(tensor: Any) -> str:
    history = getattr(tensor, "_keras_history", None)
    return history.operation.name if history is not None else tensor.name


def output_names(model: keras.Model) -> list[str]:
    """Functional models name their outputs; a Sequential one (as ``.keras`` files hold) has only tensors."""
    names = getattr(model, "output_names", None)
    return list(names) if names else [_layer_name(t) for t in model.outputs]


def sample_inputs(model: keras.Model, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Reproducible inputs of the right shape and dtype: floats in [0, 1), integers in {0, 1}."""
    return _samples(model, batch, seed, _free_size(model))


def _free_size(model: keras.Model) -> int:
    """The size for unknown dimensions: ``FREE_DIM``, or the largest smaller power of two the model takes
    where it caps them (a keras-hub BERT built with a short ``max_sequence_length`` refuses longer sequences)."""
    if all(d is not None for t in model.inputs for d in t.shape[1:]):
        return FREE_DIM
    size = FREE_DIM
    while size > 1:
        try:
            keras_outputs(model, _samples(model, 1, 0, size))
            return size
        except Exception:  # too long for it; a model that takes no size fails again where it is used
            size //= 2
    return FREE_DIM


def _samples(model: keras.Model, batch: int, seed: int, free: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, t in zip(input_names(model), model.inputs, strict=True):
        shape = (batch, *(d if d is not None else free for d in t.shape[1:]))
        dtype = np.dtype(object) if str(t.dtype) == "string" else np.dtype(keras.backend.standardize_dtype(t.dtype))
        if dtype.kind in "iub":
            feeds[name] = rng.integers(0, 2, shape).astype(dtype)
        elif dtype.kind == "f":
            feeds[name] = rng.random(shape).astype(dtype)
        elif dtype.kind in "OSU" or str(t.dtype) == "string":  # text: a few words from a small vocabulary
            words = np.array(WORDS)[rng.integers(0, len(WORDS), (*shape, 4))]
            feeds[name] = np.array([" ".join(w) for w in words.reshape(-1, 4)]).reshape(shape).astype(object)
        else:
            raise ExportError(f"input {name!r} has dtype {dtype}; exports take numbers or text", usage=True)
    return feeds


def keras_outputs(model: keras.Model, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's inference outputs (``training=False``: augmentation and dropout off) by output name. The
    inputs go in the structure the model was built with (a one-input list stays a list), or Keras warns."""
    xs = [feeds[name] for name in input_names(model)]
    try:
        structured = keras.tree.pack_sequence_as(model.input, xs)
    except (AttributeError, ValueError):  # a Sequential model never called has no .input: it takes one tensor
        structured = xs[0] if len(xs) == 1 else xs
    ys = keras.tree.flatten(model(structured, training=False))
    return {name: keras.ops.convert_to_numpy(y) for name, y in zip(output_names(model), ys, strict=True)}


def max_difference(expected: Mapping[str, np.ndarray], got: Mapping[str, Any] | Sequence[Any]) -> float:
    """The largest absolute difference over all outputs; infinite when an output is missing or misshapen.
    ``got`` is matched by name when it is a mapping with the same names, otherwise by position."""
    if isinstance(got, Mapping) and set(got) == set(expected):
        pairs = [(expected[k], np.asarray(got[k])) for k in expected]
    else:
        values = list(got.values()) if isinstance(got, Mapping) else list(got)
        if len(values) != len(expected):
            return float("inf")
        pairs = [(e, np.asarray(v)) for e, v in zip(expected.values(), values, strict=True)]
    if any(e.shape != g.shape for e, g in pairs):
        return float("inf")
    return max((float(np.max(np.abs(e.astype(np.float64) - g.astype(np.float64)))) if e.size else 0.0)
               for e, g in pairs)
