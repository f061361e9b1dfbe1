"""A project's model with its saved weights, and saving the two so that they change together."""

from __future__ import annotations

import json
import re
from pathlib import Path

import keras
import numpy as np

from designer.graph.project import Project, open_regular_file, save_project, staging_files
from designer.keras_bridge.build import build_model
from designer.keras_bridge.weights import apply_weights, content_name, load_weights_file, save_weights_file


def model_with_weights(project: Project, folder: Path) -> tuple[keras.Model, list[str]]:
    """Build the project's model and load its weights file; also return layers left unloaded."""
    model = build_model(project.document)
    if not project.weights:
        return model, []
    return model, apply_weights(model, load_weights_file(folder / project.weights))


def save_with_weights(project: Project, path: Path, arrays: dict[str, np.ndarray] | None) -> None:
    """Save ``project`` with ``arrays`` as its weights (None: it has none) so that a crash at any moment
    leaves the old pair or the new one, never a mix: the weights go to a new file named by their content,
    the project file is written last and names it, and only then do the old weights go, with whatever
    an earlier, killed save left behind (weights no project names, temp files)."""
    previous = _weights_named_by(path)
    project.weights = content_name(path.stem, arrays) if arrays is not None else ""
    if arrays is not None:
        save_weights_file(arrays, path.with_name(project.weights))
    try:
        save_project(project, path)
    except BaseException:
        if project.weights and project.weights != previous:
            path.with_name(project.weights).unlink(missing_ok=True)
        raise
    ours = re.compile(re.escape(path.stem) + r"\.[0-9a-f]{16}\.weights\.npz")
    legacy = f"{path.stem}.weights.npz"  # what imports wrote before names carried a hash
    for old in path.parent.iterdir():
        if old.name != project.weights and (ours.fullmatch(old.name) or old.name == legacy == previous):
            old.unlink(missing_ok=True)
    for stale in staging_files(path.parent, f"{ours.pattern}|{re.escape(legacy)}"):
        stale.unlink(missing_ok=True)


def _weights_named_by(path: Path) -> str | None:
    """The weights file the project now at ``path`` names, if it is a readable project."""
    try:
        with open_regular_file(path) as fh:
            return json.load(fh).get("weights")
    except (OSError, ValueError, AttributeError):
        return None
