"""A layer's outputs on some samples: what Keras computes for that layer inside the model."""

from __future__ import annotations

import keras
import numpy as np

from designer.inspection.common import BATCH, find_layer, layer_output


def activations(model: keras.Model, layer_name: str, x: np.ndarray) -> list[np.ndarray]:
    """The outputs of ``layer_name`` on ``x`` (a sub-model ending at that layer), one array per output
    of the layer, each with the samples first."""
    probe = keras.Model(model.inputs, layer_output(find_layer(model, layer_name)))
    parts = [probe(_slice(x, i), training=False) for i in range(0, _length(x), BATCH)]
    if not isinstance(parts[0], (list, tuple)):
        parts = [[p] for p in parts]
    return [np.concatenate([keras.ops.convert_to_numpy(p[k]) for p in parts]) for k in range(len(parts[0]))]


def _slice(x: np.ndarray | list[np.ndarray], start: int) -> np.ndarray | list[np.ndarray]:
    return [a[start:start + BATCH] for a in x] if isinstance(x, list) else x[start:start + BATCH]


def _length(x: np.ndarray | list[np.ndarray]) -> int:
    return len(x[0]) if isinstance(x, list) else len(x)
