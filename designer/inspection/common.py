"""What every inspection method shares: its errors, progress and cancelling, the class score it
explains, and the shape of a map (the input's spatial shape for images, its feature shape otherwise)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np

BATCH = 256  # samples per forward pass: perturbed copies of one input can number in the thousands
Progress = Callable[[float], None]


class InspectionError(ValueError):
    """A model, layer or input that a method cannot explain; the message names the problem and the fix."""


class Cancelled(Exception):
    """The caller set the cancel flag; the work stopped between two steps."""


class Steps:
    """Reports the share done after each of ``total`` steps and stops when ``cancel`` is set."""

    def __init__(self, total: int, progress: Progress | None, cancel: threading.Event | None) -> None:
        self.total, self.done, self.progress, self.cancel = max(total, 1), 0, progress, cancel
        self.check()

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("cancelled")

    def advance(self) -> None:
        self.check()
        self.done += 1
        if self.progress is not None:
            self.progress(min(self.done / self.total, 1.0))


def single_input(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """``x`` as a batch for the model's one numeric input, or a one-line reason why it cannot be explained."""
    if len(model.inputs) != 1:
        raise InspectionError(f"model {model.name!r} has {len(model.inputs)} inputs; explaining needs a model "
                              "with one input")
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise InspectionError(f"the inputs are {x.dtype} values; explaining needs numbers (images, tables or "
                              "token ids)")
    expected = tuple(model.inputs[0].shape[1:])
    if len(expected) != x.ndim - 1 or any(e not in (None, g) for e, g in zip(expected, x.shape[1:], strict=True)):
        raise InspectionError(f"samples of shape {x.shape[1:]} do not fit the model's input {expected}")
    return x if x.dtype.kind in "biu" else x.astype("float32")


def map_shape(sample_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Images (H, W, C) map to (H, W), sequences (T, F) to one value per token, tables (F,) per feature."""
    return tuple(sample_shape[:-1]) if len(sample_shape) >= 2 else tuple(sample_shape)


def to_map(attribution: np.ndarray) -> np.ndarray:
    """Per-input-value attributions (N, *sample) summed over channels into maps (N, *map_shape)."""
    return attribution.sum(axis=-1) if attribution.ndim >= 3 else attribution


def is_image(sample_shape: tuple[int, ...]) -> bool:
    return len(sample_shape) == 3


def class_score(outputs: Any, classes: Any) -> Any:
    """Each sample's score for its class, in backend ops so gradients flow: the softmax entry, or for a
    single sigmoid unit p for class 1 and 1 - p for class 0."""
    ops = keras.ops
    if outputs.shape[-1] == 1:
        chosen = ops.cast(ops.convert_to_tensor(classes), outputs.dtype)
        return ops.where(chosen > 0, outputs[:, 0], 1 - outputs[:, 0])
    index = ops.cast(ops.convert_to_tensor(classes), "int32")[:, None]
    return ops.take_along_axis(outputs, index, axis=-1)[:, 0]


def outputs(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The model's first output on ``x`` in inference mode, in batches."""
    parts = [keras.ops.convert_to_numpy(model(x[i:i + BATCH], training=False)) for i in range(0, len(x), BATCH)]
    first = np.concatenate([first_output(p) for p in parts]).astype("float32")
    if first.ndim != 2:
        raise InspectionError(f"the model's output has shape {first.shape[1:]}; explaining needs one score per "
                              "class (a classifier)")
    return first


def first_output(result: Any) -> Any:
    """A model call's first output: the one explained when a model has several."""
    return result[0] if isinstance(result, (list, tuple)) else result


def scores(model: keras.Model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Each sample's score for its class (``classes`` one per sample, or one for all)."""
    return scores_of(outputs(model, x), classes)


def scores_of(out: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Each output row's score for its class (one class per row, or one for all), as NumPy."""
    chosen = np.broadcast_to(np.asarray(classes), (len(out),))
    return keras.ops.convert_to_numpy(class_score(keras.ops.convert_to_tensor(out), chosen))


def predicted_classes(scores: np.ndarray) -> np.ndarray:
    """The class each output row chose: the arg-max, or for one sigmoid unit p > 0.5."""
    return scores.argmax(-1) if scores.shape[-1] > 1 else (scores[..., 0] > 0.5).astype(int)


def chosen_classes(model: keras.Model, x: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    """The classes to explain: the caller's, else the ones the model predicts."""
    if classes is None:
        return predicted_classes(outputs(model, x))
    return np.broadcast_to(np.asarray(classes, dtype="int64"), (len(x),))


def find_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    """The model's layer of that name, or the names there are."""
    names = [layer.name for layer in model.layers]
    if name not in names:
        shown = ", ".join(names[:20]) + (f", … ({len(names)} in all)" if len(names) > 20 else "")
        raise InspectionError(f"model {model.name!r} has no layer {name!r}; its layers are {shown}")
    return model.get_layer(name)


def layer_output(layer: keras.layers.Layer) -> Any:
    """The layer's symbolic output in the model; a layer called in several places has none."""
    try:
        return layer.output
    except (AttributeError, ValueError):
        raise InspectionError(f"layer {layer.name!r} is called in several places, so it has no single output; "
                              "choose a layer used once") from None


@contextlib.contextmanager
def pre_softmax(model: keras.Model) -> Iterator[None]:
    """Scores before the output layer's softmax while inside: a saturated softmax has next to no gradient,
    which is why Grad-CAM weighs channels by the class's raw score (Keras's own Grad-CAM example does this)."""
    last = next((layer for layer in reversed(model.layers) if _produces(layer, model.outputs[0])), None)
    if last is None or getattr(last, "activation", None) is not keras.activations.softmax:
        yield
        return
    last.activation = keras.activations.linear
    try:
        yield
    finally:
        last.activation = keras.activations.softmax


def _produces(layer: keras.layers.Layer, tensor: Any) -> bool:
    try:
        return layer.output is tensor
    except (AttributeError, ValueError):
        return False
