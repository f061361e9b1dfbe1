"""Weights kept beside a project, keyed by layer path, so edits never scramble them.

A plain ``.npz`` archive (loaded with ``allow_pickle=False``) maps ``block/layer|i`` to the
i-th variable of that layer; keys starting with ``/`` (never a layer path: names cannot hold it)
are reserved for what else is kept with the weights. Loading matches by name and shape: a layer
the user changed since keeps its fresh initial weights and is reported, never silently half-loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from designer.graph.project import write_atomic


def layer_paths(model: keras.Model, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf layer but inputs, with its path through nested models (``features/b_dense``)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        path = prefix + layer.name
        if isinstance(layer, keras.Model):
            yield from layer_paths(layer, path + "/")
        else:
            yield path, layer


def collect_weights(model: keras.Model) -> dict[str, np.ndarray]:
    return {f"{path}|{i}": keras.ops.convert_to_numpy(w.value)
            for path, layer in layer_paths(model) for i, w in enumerate(layer.weights)}


def apply_weights(model: keras.Model, arrays: dict[str, np.ndarray]) -> list[str]:
    """Load what matches; return the paths of layers that kept their initial weights.

    A layer that derives what ``call`` uses from its variables (an adapted ``Normalization`` turns
    its mean and variance into constants) gets ``finalize_state()`` after loading, as Keras's own
    loaders do: otherwise it keeps computing with the values it was built with."""
    skipped = []
    for path, layer in layer_paths(model):
        if not layer.weights:
            continue
        values = [arrays.get(f"{path}|{i}") for i in range(len(layer.weights))]
        if any(v is None or v.shape != tuple(w.shape) for v, w in zip(values, layer.weights, strict=False)):
            skipped.append(path)
            continue
        layer.set_weights(values)
        if callable(getattr(layer, "finalize_state", None)):
            layer.finalize_state()
    return skipped


def save_weights_file(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write atomically: a crash leaves the previous file, never half of a new one."""
    write_atomic(path, lambda fh: np.savez(fh, **arrays))


def load_weights_file(path: Path, prefix: str = "") -> dict[str, np.ndarray]:
    """The arrays whose keys start with ``prefix`` (each is read only when asked for)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files if key.startswith(prefix)}
