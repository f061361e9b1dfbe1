"""The native ``.keras`` file, reloaded the safe way (no code runs on load)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import keras

from designer.export.probes import Loaded, input_names, keras_outputs
from designer.keras_bridge.importer import ModelImportError, constructor_params
from designer.keras_bridge.libraries import library_class


def write(model: keras.Model, path: Path) -> list[str]:
    model.save(path)
    return _constructor_arguments_only(path)


def load(path: Path) -> Loaded:
    again = keras.saving.load_model(path, compile=False, safe_mode=True)
    return input_names(again), lambda feeds: keras_outputs(again, feeds)


def _constructor_arguments_only(path: Path) -> list[str]:
    """Some library layers write values they derive into their config, which their own ``from_config`` then
    refuses (keras-hub's ``ViTPatchingAndEmbedding`` adds ``num_patches``; its library rebuilds a ViT from the
    backbone's arguments instead), so Keras could not reload the file. In the archive, such a layer's config
    keeps its constructor's arguments only, as the import does (only where that rebuilds the same layer)."""
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    config = json.loads(next(data for info, data in members if info.filename == "config.json"))
    trimmed: list[str] = []

    def visit(item: Any) -> None:
        if isinstance(item, list):
            for value in item:
                visit(value)
        if not isinstance(item, dict):
            return
        module, layer = str(item.get("module") or ""), item.get("config")
        cls = (library_class(module, str(item.get("class_name")), item.get("registered_name"))
               if isinstance(layer, dict) and module and not module.startswith("keras.") else None)
        if cls is not None:
            try:
                kept = constructor_params(cls, layer, layer)
            except ModelImportError:  # not rebuilt even so: the reload check reports it
                kept = layer
            if kept != layer:
                item["config"] = kept
                trimmed.append(f"{layer.get('name')} ({cls.__name__}: {', '.join(sorted(set(layer) - set(kept)))})")
        for value in item.values():
            visit(value)

    visit(config)
    if not trimmed:
        return []
    staged = path.with_name(path.name + ".part")
    with zipfile.ZipFile(staged, "w") as archive:
        for info, data in members:
            archive.writestr(info, json.dumps(config) if info.filename == "config.json" else data)
    os.replace(staged, path)
    return ["config left out because the layer's own class refuses it on reload: " + "; ".join(trimmed)]
