"""A project's model with its saved weights, and the ``.keras`` file made from it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import keras
import numpy as np

from designer.graph.project import Project
from designer.keras_bridge.build import build_model
from designer.keras_bridge.weights import apply_weights, load_weights_file


def model_with_weights(project: Project, folder: Path) -> tuple[keras.Model, list[str]]:
    """Build the project's model and load its weights file; also return layers left unloaded."""
    model = build_model(project.document)
    if not project.weights:
        return model, []
    return model, apply_weights(model, load_weights_file(folder / project.weights))


def export_keras(model: keras.Model, path: Path, samples: int = 4) -> float:
    """Save as ``.keras`` atomically, reload it safely and return the largest prediction difference."""
    if path.suffix != ".keras":
        raise OSError(0, "a Keras model file must end in .keras")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        again = keras.saving.load_model(tmp, compile=False, safe_mode=True)
        rng = np.random.default_rng(0)
        x = [rng.random((samples, *t.shape[1:]), dtype=np.float32) for t in model.inputs]
        x = x[0] if len(x) == 1 else x
        a = keras.tree.flatten(model(x, training=False))
        b = keras.tree.flatten(again(x, training=False))
        diff = max(float(np.max(np.abs(keras.ops.convert_to_numpy(p) - keras.ops.convert_to_numpy(q))))
                   for p, q in zip(a, b, strict=False))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return diff
