"""ONNX has no string tensors: a model whose text inputs go straight into ``TextVectorization`` (or a
``StringLookup``, ``Hashing``…) is exported from where the text has become numbers.

The layers that turn text into numbers stay in Keras; their settings and adapted vocabulary are written
beside the ONNX file as JSON, so a runtime without Keras can tokenise the same way, and the export is
verified end to end: the whole Keras model on sample text against those layers followed by the artifact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from designer.export.probes import Loaded, input_names, output_names
from designer.keras_bridge.preprocessing import with_adapted_state

SIDECAR_SUFFIX = ".text.json"


@dataclass
class TextFront:
    """The split: ``layers[i]`` turns model input ``text_inputs[i]`` into the body's input of the same
    layer name; ``body`` is the rest of the model, whose other inputs keep their names."""

    text_inputs: list[str]
    layers: list[Any]
    body: keras.Model

    def body_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The body's inputs for the whole model's ``feeds``: the text put through Keras's own layers."""
        out = {name: feeds[name] for name in input_names(self.body) if name in feeds}
        for text, layer in zip(self.text_inputs, self.layers, strict=True):
            out[layer.name] = keras.ops.convert_to_numpy(layer(feeds[text]))
        return out

    def wrap(self, loaded: Loaded) -> Loaded:
        """An artifact of the body that takes the whole model's inputs, for verification."""
        names, run = loaded
        return names, lambda feeds: run(self.body_feeds(feeds))

    def write_sidecar(self, artifact: Path) -> Path:
        """``NAME.text.json`` beside ``artifact``: per ONNX input, the text input and the layer (class,
        settings, vocabulary) that makes it."""
        entries = [{"onnx_input": layer.name, "text_input": text, "layer": type(layer).__name__,
                    "config": with_adapted_state(layer, layer.get_config())}
                   for text, layer in zip(self.text_inputs, self.layers, strict=True)]
        path = artifact.with_name(artifact.name.removesuffix(artifact.suffix) + SIDECAR_SUFFIX)
        path.write_text(json.dumps({"text_layers": entries}, indent=1, default=_plain), encoding="utf-8")
        return path

    def note(self, sidecar: Path) -> str:
        made = ", ".join(f"{layer.name!r} ({type(layer).__name__})" for layer in self.layers)
        return (f"ONNX has no string ops: the graph starts after {made}, whose settings and vocabulary are in "
                f"{sidecar.name}; verified through Keras's own layer on sample text")


def split(model: keras.Model) -> TextFront | None:
    """The text front of ``model``, or None when it has no string input or one that does not go
    straight into a single layer giving numbers (then the conversion reports the string op itself)."""
    names = input_names(model)
    texts = [(name, t) for name, t in zip(names, model.inputs, strict=True) if str(t.dtype) == "string"]
    if not texts:
        return None
    layers = []
    for _, tensor in texts:
        takers = [op for op in model.operations
                  if not isinstance(op, keras.layers.InputLayer) and any(x is tensor for x in _inputs(op))]
        if len(takers) != 1 or len(_inputs(takers[0])) != 1:
            return None
        output = takers[0].output
        if not isinstance(output, keras.KerasTensor) or str(output.dtype) == "string":
            return None
        layers.append(takers[0])
    numeric = [(name, t) for name, t in zip(names, model.inputs, strict=True) if str(t.dtype) != "string"]
    cut = keras.Model([layer.output for layer in layers] + [t for _, t in numeric], model.outputs, name=model.name)
    body_inputs = [keras.Input(layer.output.shape[1:], dtype=layer.output.dtype, name=layer.name) for layer in layers]
    body_inputs += [keras.Input(t.shape[1:], dtype=t.dtype, name=name) for name, t in numeric]
    outputs = keras.tree.flatten(cut(body_inputs))
    # named as the model's outputs, not after the nested graph that makes them
    outputs = [keras.layers.Identity(name=name)(y) for name, y in zip(output_names(model), outputs, strict=True)]
    body = keras.Model(_single(body_inputs), _single(outputs), name=model.name)
    return TextFront([name for name, _ in texts], layers, body)


def _inputs(operation: Any) -> list[Any]:
    """The tensors ``operation`` was called on in this model; none for one called several times."""
    try:
        return keras.tree.flatten(operation.input)
    except (AttributeError, ValueError):
        return []


def _single(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else items


def _plain(value: Any) -> Any:
    """JSON for the NumPy scalars and arrays a layer's config may hold."""
    return value.tolist() if hasattr(value, "tolist") else str(value)
