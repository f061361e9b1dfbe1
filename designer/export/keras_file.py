"""The native ``.keras`` file, reloaded the safe way (no code runs on load)."""

from __future__ import annotations

from pathlib import Path

import keras

from designer.export.probes import Loaded, input_names, keras_outputs


def write(model: keras.Model, path: Path) -> list[str]:
    model.save(path)
    return []


def load(path: Path) -> Loaded:
    again = keras.saving.load_model(path, compile=False, safe_mode=True)
    return input_names(again), lambda feeds: keras_outputs(again, feeds)
