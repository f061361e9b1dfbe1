"""Grad-CAM (Selvaraju et al., 2017): a convolutional layer's feature maps weighted by how much each
channel raises the class score, kept where positive, at the input image's size.

A place in a convolution's output sees a window of the input (5×5 pixels after two 3×3 convolutions), so
Grad-CAM marks regions: on 8×8 digits about a third of its 8 top places are blank background next to the
strokes. Guided Grad-CAM, the paper's own pixel-sharp variant, multiplies the map by guided backpropagation
(gradients through ReLUs that pass only positive signals of active units), which points at the pixels of
the region that carry the evidence. Guided backpropagation alone barely depends on the weights (Adebayo et
al., 2018); multiplied by the class's Grad-CAM it does."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np

from designer.inspection.common import (
    BATCH,
    InspectionError,
    Progress,
    Steps,
    chosen_classes,
    class_score,
    find_layer,
    first_output,
    is_image,
    layer_output,
    pre_softmax,
    single_input,
)
from designer.inspection.gradients import gradient
from designer.keras_bridge.internals import graph_untouched


def grad_cam(model: keras.Model, x: np.ndarray, classes: np.ndarray | None = None, *, layer: str | None = None,
             guided: bool = False, progress: Progress | None = None,
             cancel: threading.Event | None = None) -> np.ndarray:
    """Maps (N, H, W) in [0, 1] for images ``x`` (N, H, W, C), over ``layer`` (default: the last
    convolution) for ``classes`` (default: the predicted ones); ``guided`` for Guided Grad-CAM."""
    x = single_input(model, x)
    if not is_image(x.shape[1:]):
        raise InspectionError(f"Grad-CAM maps onto images; this model's input has shape {x.shape[1:]}: use "
                              "occlusion, lime or integrated-gradients")
    chosen = find_layer(model, layer) if layer else last_convolution(model)
    features = layer_output(chosen)
    if len(features.shape) != 4:
        convs = ", ".join(c.name for c in convolutions(model)) or "none"
        raise InspectionError(f"layer {chosen.name!r} outputs shape {tuple(features.shape)}; Grad-CAM needs a "
                              f"convolutional layer with a 4-D output (convolutions here: {convs})")
    classes = chosen_classes(model, x, classes)
    steps = Steps(-(-len(x) // BATCH), progress, cancel)
    maps = []
    with graph_untouched(model), pre_softmax(model):
        body = keras.Model(model.inputs, features)
        head = keras.Model([model.inputs[0], features], model.outputs[0])  # the rest of the network from there
        for start in range(0, len(x), BATCH):
            batch, chosen_ = x[start:start + BATCH], classes[start:start + BATCH]
            cams = _cam(body, head, batch, chosen_)
            maps.append(_peak_one(cams * guided_backprop(model, batch, chosen_)) if guided else cams)
            steps.advance()
    return np.concatenate(maps)


def _cam(body: keras.Model, head: keras.Model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    batch = keras.ops.convert_to_tensor(x)
    features = body(batch, training=False)
    slopes = gradient(lambda f: keras.ops.sum(class_score(head([batch, f], training=False), classes)), features)
    return _weighted(keras.ops.convert_to_numpy(features), slopes, x.shape[1:3])


def _weighted(features: np.ndarray, slopes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    weights = slopes.mean(axis=(1, 2), keepdims=True)
    cams = np.maximum((features * weights).sum(axis=-1), 0)[..., None]
    cams = keras.ops.convert_to_numpy(keras.ops.image.resize(cams, size, interpolation="bilinear"))[..., 0]
    return _peak_one(cams)


def _peak_one(maps: np.ndarray) -> np.ndarray:
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return (maps / np.maximum(peak, 1e-8)).astype("float32")


def guided_backprop(model: keras.Model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Guided backpropagation (Springenberg et al., 2015) of the class score to the pixels, its positive part
    summed over channels: (N, H, W)."""
    batch = keras.ops.convert_to_tensor(x)
    with _guided_relus(model):
        slopes = gradient(lambda t: keras.ops.sum(class_score(first_output(model(t, training=False)), classes)),
                          batch)
    return np.maximum(slopes, 0).sum(axis=-1)


@keras.ops.custom_gradient
def _guided_relu(value: Any) -> tuple[Any, Callable[..., Any]]:
    def backward(*args: Any, upstream: Any = None) -> Any:
        upstream = args[0] if upstream is None else upstream
        return upstream * keras.ops.cast(keras.ops.logical_and(value > 0, upstream > 0), upstream.dtype)

    return keras.ops.relu(value), backward


@contextlib.contextmanager
def _guided_relus(model: keras.Model) -> Iterator[None]:
    """Every layer whose activation is ReLU (nested models' too) takes the guided ReLU while inside."""
    swapped = [layer for layer in _every_layer(model.layers) if getattr(layer, "activation", None) is
               keras.activations.relu]
    for layer in swapped:
        layer.activation = _guided_relu
    try:
        yield
    finally:
        for layer in swapped:
            layer.activation = keras.activations.relu


def convolutions(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers with a 4-D output and a kernel: convolutions, and nested backbones that end in one."""
    found = []
    for layer in model.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue  # called in several places, or never
        if len(shape) == 4 and any(w.path.endswith("kernel") for w in layer.weights):
            found.append(layer)
    return found


def last_convolution(model: keras.Model) -> keras.layers.Layer:
    convs = convolutions(model)
    if not convs:
        raise InspectionError(f"model {model.name!r} has no convolutional layer with a 4-D output, so there is no "
                              "Grad-CAM; use occlusion, lime or integrated-gradients")
    return convs[-1]


def _every_layer(layers: list[keras.layers.Layer]) -> Iterator[keras.layers.Layer]:
    for layer in layers:
        yield layer
        yield from _every_layer(getattr(layer, "layers", []))
