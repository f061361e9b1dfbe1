"""TensorFlow SavedModel with a ``serve`` endpoint named after the model's inputs and outputs.

``keras.export.ExportArchive`` with our own endpoint, not ``model.export``: the endpoint calls the
model with ``training=False``, so augmentation and dropout are off in the artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from designer.export.probes import Loaded, input_names, output_names

ENDPOINT = "serve"


def input_signature(model: keras.Model, batch: int | None = None) -> list[tf.TensorSpec]:
    """One named spec per model input; ``batch=None`` keeps the batch dimension dynamic."""
    return [tf.TensorSpec((batch, *t.shape[1:]), t.dtype, name=name)
            for name, t in zip(input_names(model), model.inputs, strict=True)]


def serving_archive(model: keras.Model, batch: int | None = None) -> keras.export.ExportArchive:
    outputs = output_names(model)

    def serve(*xs: Any) -> dict[str, Any]:
        ys = keras.tree.flatten(model(xs[0] if len(xs) == 1 else list(xs), training=False))
        return dict(zip(outputs, ys, strict=True))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(ENDPOINT, serve, input_signature=input_signature(model, batch))
    return archive


def write(model: keras.Model, path: Path) -> list[str]:
    serving_archive(model).write_out(str(path), verbose=False)
    return []


def load(path: Path) -> Loaded:
    """Run through ``tf.saved_model.load(path).serve``, the call a serving user makes."""
    loaded = tf.saved_model.load(str(path))  # keep it: the endpoint's variables live as long as it does
    names = [spec.name for spec in loaded.serve.concrete_functions[0].structured_input_signature[0]]
    return names, lambda feeds: {k: v.numpy() for k, v in loaded.serve(*(feeds[n] for n in names)).items()}
