"""A plain Python script (the codegen script) with the weights in a ``.weights.h5`` file beside it."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import keras

from designer.export.probes import Loaded, input_names, keras_outputs
from designer.graph.document import NetworkDocument
from designer.keras_bridge.codegen import generate
from designer.keras_bridge.preprocessing import with_adapted_state


def weights_name(path: Path) -> str:
    return f"{path.stem}.weights.h5"


def write(model: keras.Model, path: Path, document: NetworkDocument, title: str = "") -> list[str]:
    document, notes = _with_vocabularies(model, document)
    path.write_text(generate(document, title=title, weights=weights_name(path)), encoding="utf-8")
    model.save_weights(path.with_name(weights_name(path)))
    return notes


def _with_vocabularies(model: keras.Model, document: NetworkDocument) -> tuple[NetworkDocument, list[str]]:
    """Adapted state that is not weights (vocabularies, bin boundaries) is spelled out in the script."""
    from designer.graph.serialize import document_from_dict, document_to_dict

    layers = {layer.name: layer for layer in model._flatten_layers(include_self=False)}
    copy = document_from_dict(document_to_dict(document))
    written = []
    for _, node in copy.walk():
        if node.name in layers and (params := with_adapted_state(layers[node.name], node.params)) != node.params:
            node.params = params
            written.append(node.name)
    if not written:
        return document, []
    return copy, [f"the adapted state of {', '.join(written)} is written into the script"]


def load(path: Path) -> Loaded:
    """Import the script as a fresh module and call its ``load_model()``, as a user would."""
    spec = importlib.util.spec_from_file_location(f"_exported_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load_model()
    return input_names(model), lambda feeds: keras_outputs(model, feeds)
