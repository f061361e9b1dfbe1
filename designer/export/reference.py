"""The imported model's own outputs, kept at import so that every later export is checked against
the model the user brought, not only against the designer's rebuild of it (which can be wrong too).

They live in the project's weights file under keys no layer path can take (layer names cannot hold
``/``, so no path starts with one): probe inputs, the source model's outputs on them, and a
fingerprint of the imported network. The check applies while the network is still the imported one;
once the user edits it, other outputs are expected and the export says the check no longer applies.
Training never rewrites the project's weights file (a run keeps its own checkpoint, which is what a
trained model is exported from), so the weights of a project with a reference are the imported ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from designer.export.probes import input_names, keras_outputs, output_names, sample_inputs
from designer.graph.document import NetworkDocument
from designer.graph.serialize import document_to_dict
from designer.keras_bridge.weights import collect_weights, load_weights_file

PREFIX = "/source/"
FINGERPRINT = f"{PREFIX}network"
SAMPLES, SEED = 3, 7
_LAYOUT = ("position", "note")  # node fields that change on the canvas without changing what the network computes


@dataclass
class Reference:
    """Probe inputs by the model's input names, and the source model's outputs by output names."""

    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]


def record(model: keras.Model, doc: NetworkDocument) -> dict[str, np.ndarray]:
    """The arrays to store beside ``model``'s weights, with ``doc`` the network imported from it."""
    feeds = sample_inputs(model, SAMPLES, seed=SEED)
    arrays = {f"{PREFIX}input|{i}": _storable(feeds[name]) for i, name in enumerate(input_names(model))}
    arrays |= {f"{PREFIX}output|{i}": y for i, y in enumerate(keras_outputs(model, feeds).values())}
    arrays[FINGERPRINT] = np.array(fingerprint(doc))
    return arrays


def imported_weights(model: keras.Model, doc: NetworkDocument) -> dict[str, np.ndarray]:
    """What an import keeps beside its project, whether the command line or the window imported it:
    the model's weights and the reference to check later exports against."""
    return collect_weights(model) | record(model, doc)


def load(weights: Path, doc: NetworkDocument, model: keras.Model) -> tuple[Reference | None, list[str]]:
    """The reference stored with ``weights`` when it still applies to ``doc``, and a note when it does not."""
    arrays = load_weights_file(weights, PREFIX)
    if FINGERPRINT not in arrays:
        return None, []
    if str(arrays[FINGERPRINT]) != fingerprint(doc):
        return None, ["the network was edited since it was imported: not compared with the source model"]
    names, outs = input_names(model), output_names(model)
    inputs = [arrays.get(f"{PREFIX}input|{i}") for i in range(len(names))]
    outputs = [arrays.get(f"{PREFIX}output|{i}") for i in range(len(outs))]
    if any(a is None for a in inputs + outputs):
        return None, ["the source model's recorded outputs are incomplete: not compared with it"]
    return Reference({n: _feedable(a) for n, a in zip(names, inputs, strict=True)},
                     dict(zip(outs, outputs, strict=True))), []


def fingerprint(doc: NetworkDocument) -> str:
    """A digest of what the network computes: nodes, params, connections; not where nodes sit."""
    text = json.dumps(_network(document_to_dict(doc)), sort_keys=True, allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _network(graph: dict[str, Any]) -> dict[str, Any]:
    nodes = [{k: _network(v) if k == "block" else v for k, v in node.items() if k not in _LAYOUT}
             for node in graph["nodes"]]
    return {**graph, "nodes": nodes}


def _storable(a: np.ndarray) -> np.ndarray:
    """Text probes as fixed-width unicode: ``.npz`` files are read without pickle, which object arrays need."""
    return a.astype(str) if a.dtype.kind == "O" else a


def _feedable(a: np.ndarray) -> np.ndarray:
    return a.astype(object) if a.dtype.kind == "U" else a
