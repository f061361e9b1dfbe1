"""A project's model with its saved weights."""

from __future__ import annotations

from pathlib import Path

import keras

from designer.graph.project import Project
from designer.keras_bridge.build import build_model
from designer.keras_bridge.weights import apply_weights, load_weights_file


def model_with_weights(project: Project, folder: Path) -> tuple[keras.Model, list[str]]:
    """Build the project's model and load its weights file; also return layers left unloaded."""
    model = build_model(project.document)
    if not project.weights:
        return model, []
    return model, apply_weights(model, load_weights_file(folder / project.weights))
