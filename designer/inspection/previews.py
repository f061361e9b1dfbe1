"""Every layer's output on one data sample while the network is designed, for the canvas's previews.

Layers are called eagerly, node by node, on the sample itself: no functional model is built. A node whose
type, parameters and inputs an edit did not change keeps its layer (so its weights) and its output, so an
edit costs the changed node and those downstream of it, not the whole network."""

from __future__ import annotations

import functools
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from designer.graph.document import NetworkDocument
from designer.inspection.overlay import colours
from designer.keras_bridge.build import invoke, make_layer
from designer.keras_bridge.weights import load_layer

GRID = 16  # channels on a canvas thumbnail; the dialog shows them all
BARS = 48  # bars on a vector's thumbnail (longer vectors are averaged into this many)


@dataclass
class Preview:
    values: np.ndarray  # the node's first output for the sample, without the batch axis
    thumbnail: np.ndarray = field(init=False)  # RGB uint8

    def __post_init__(self) -> None:
        self.thumbnail = picture(self.values, GRID)

    @functools.cached_property
    def stats(self) -> dict[str, float]:
        """Made when first shown (one selected node's at a time), not for every node of every refresh: they
        were a sixteenth of the refresh after an edit."""
        return statistics(self.values)


def statistics(values: np.ndarray) -> dict[str, float]:
    """Mean, spread and the share of exact zeros (dead ReLUs show as a share near 1)."""
    flat = np.asarray(values, dtype="float64").reshape(-1)
    return {"mean": float(flat.mean()), "std": float(flat.std()), "zeros": float(np.mean(flat == 0))}


def picture(values: np.ndarray, limit: int | None = None) -> np.ndarray:
    """An output as an RGB picture: feature maps (H, W, C) as a grid of channels (for a thumbnail the first
    ``limit``, each thinned to about 16 pixels a side), a sequence (T, F) as a heat map, anything else as bars."""
    values = np.asarray(values, dtype="float32")
    if values.ndim == 3 and limit is not None:  # a thumbnail: at most ~16 pixels a side per channel
        step = max(1, values.shape[0] // 16)
        return _heat(_grid(values[::step, ::step, :limit]))
    if values.ndim == 3:
        return _heat(_grid(values))
    if values.ndim == 2:
        return _heat(_unit(values.T))  # features down, time across
    return _bars(values.reshape(-1))


def _grid(maps: np.ndarray) -> np.ndarray:
    """Channels side by side in a square grid, each scaled to its own range, one dark pixel between: all
    channels at once (a loop over them was a fifth of a refresh), with the values ``_unit`` gives each."""
    height, width, count = maps.shape
    columns = int(np.ceil(np.sqrt(count)))
    rows = -(-count // columns)
    low, high = maps.min(axis=(0, 1)), maps.max(axis=(0, 1))
    span = (high.astype("float64") - low).astype("float32")  # as _unit's Python floats round it
    cells = np.zeros((rows * columns, height + 1, width + 1), dtype="float32")
    np.divide((maps - low).transpose(2, 0, 1), span[:, None, None], out=cells[:count, :height, :width],
              where=(span > 0)[:, None, None])
    grid = cells.reshape(rows, columns, height + 1, width + 1).transpose(0, 2, 1, 3)
    return grid.reshape(rows * (height + 1), columns * (width + 1))[:-1, :-1]


def _bars(values: np.ndarray, height: int = 32) -> np.ndarray:
    if len(values) > BARS:  # averaged into BARS bins
        edges = np.linspace(0, len(values), BARS + 1).astype(int)
        values = np.array([values[a:b].mean() for a, b in itertools.pairwise(edges)])
    peak = max(float(np.abs(values).max()), 1e-8)
    levels = np.arange(height, 0, -1)[:, None] / height  # top row first
    filled = levels <= np.abs(values)[None, :] / peak
    image = np.full((height, len(values), 3), 250, dtype="uint8")
    image[filled & (values[None, :] >= 0)] = (198, 40, 40)
    image[filled & (values[None, :] < 0)] = (21, 101, 192)
    return image


def _unit(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


HEAT = colours(np.linspace(0, 1, 256)).clip(0, 255).astype("uint8")  # looked up: a fifth of a refresh before


def _heat(unit: np.ndarray) -> np.ndarray:
    return np.take(HEAT, (unit * 255).astype("uint8"), axis=0)  # the same rows as HEAT[...], four times sooner


class Previewer:
    """Computes and caches each node's output on the current sample (see the module's docstring). Nodes inside
    blocks are keyed by their path, ``BLOCK_ID/NODE_ID`` (as ``NetworkDocument.walk`` names them)."""

    def __init__(self, catalog: Any) -> None:
        self.catalog = catalog
        self.layers: dict[str, tuple[str, Any]] = {}  # node path -> (its settings, its layer)
        # node path -> (what its output was computed from, the outputs, its preview)
        self.results: dict[str, tuple[tuple[Any, ...], list[Any], Preview]] = {}
        self.sample: np.ndarray | None = None
        self.batch: Any = None
        self.shown: Preview | None = None
        self.weights: dict[str, np.ndarray] = {}
        self.paths: dict[str, str] = {}  # node path -> its layer's weights key (block names, then its name)

    def refresh(self, doc: NetworkDocument, sample: np.ndarray) -> dict[str, Preview]:
        """Previews of every node the sample reaches (one input's network; other inputs' branches have none),
        inside blocks too. A node Keras refuses gets none, nor do those after it."""
        if self.sample is None or self.sample.shape != sample.shape or not np.array_equal(self.sample, sample):
            self.results.clear()
            self.sample = np.array(sample)
            self.batch = keras.ops.convert_to_tensor(self.sample[None])  # one tensor: outputs are keyed by it
            self.shown = Preview(self.sample)  # the input node shows the sample itself
        inputs = doc.input_nodes()
        if not inputs:
            return {}
        fresh: dict[str, tuple[tuple[Any, ...], list[Any], Preview]] = {}
        self._walk(doc, {inputs[0].id: [self.batch]}, "", "", fresh)
        self.results = fresh
        self.layers = {k: v for k, v in self.layers.items() if k in fresh}
        return {inputs[0].id: self.shown, **{key: result[2] for key, result in fresh.items()}}

    def use_weights(self, arrays: dict[str, np.ndarray]) -> None:
        """The project's weights (keys ``LAYER|i``) for the layers made from now on; the ones made are remade."""
        self.weights = arrays
        self.layers.clear()
        self.results.clear()

    def update_weights(self, arrays: dict[str, np.ndarray]) -> None:
        """Newer weights of the same network (a training run's latest epoch): loaded into the layers made, where
        they fit, and taken by those made from now on; every output is recomputed."""
        self.weights = arrays
        for key, (_, layer) in self.layers.items():
            if layer.weights:
                load_layer(layer, self.paths[key], arrays)
        self.results.clear()

    def _walk(self, doc: NetworkDocument, computed: dict[str, list[Any]], prefix: str, path: str,
              fresh: dict[str, tuple[tuple[Any, ...], list[Any], Preview]]) -> None:
        """Outputs of ``doc``'s nodes into ``computed`` (which holds its inputs'), previews into ``fresh``;
        ``prefix`` is the enclosing blocks' ids (``b1/``), ``path`` their names, as weights are keyed."""
        for node_id in doc.topological_order():
            node = doc.node(node_id)
            edges = doc.in_edges(node_id)
            if node.is_input or node.share or not edges or any(e.src not in computed for e in edges):
                continue  # shared layers are not previewed, nor what follows them
            arguments = [computed[e.src][e.src_port] for e in edges]
            key = prefix + node_id
            if node.block is not None:
                outputs = self._block(node, arguments, key + "/", path + node.name + "/", fresh)
                if outputs is None:
                    continue
                computed[node_id] = outputs
                self._keep(key, ("block", tuple(id(o) for o in outputs)), outputs, fresh)
                continue
            settings = json.dumps([node.type, node.params, node.call, [tuple(a.shape) for a in arguments]],
                                  sort_keys=True, default=str)
            sources = (settings, tuple(id(a) for a in arguments))
            cached = self.results.get(key)
            if cached is None or cached[0] != sources:
                try:
                    outputs = self._outputs(key, path + node.name, settings, node, arguments)
                except Exception:  # a node Keras refuses: the analysis already says why
                    continue
                cached = (sources, outputs, Preview(keras.ops.convert_to_numpy(outputs[0])[0]))
            computed[node_id] = cached[1]
            fresh[key] = cached

    def _block(self, node: Any, arguments: list[Any], prefix: str, path: str,
               fresh: dict[str, tuple[tuple[Any, ...], list[Any], Preview]]) -> list[Any] | None:
        """A block's outputs, its inner nodes previewed on the way (its inputs show what comes in); None
        where its inner network does not take these arguments or stops short of an output."""
        inner = node.block
        entries = inner.input_nodes()
        if node.call is not None or len(entries) != len(arguments):
            return None
        computed = {entry.id: [argument] for entry, argument in zip(entries, arguments, strict=True)}
        for entry, argument in zip(entries, arguments, strict=True):
            self._keep(prefix + entry.id, ("input", id(argument)), [argument], fresh)
        self._walk(inner, computed, prefix, path, fresh)
        ends = inner.effective_outputs()
        if not ends or any(end.node not in computed for end in ends):
            return None
        return [computed[end.node][end.port] for end in ends]

    def _keep(self, key: str, sources: tuple[Any, ...], outputs: list[Any],
              fresh: dict[str, tuple[tuple[Any, ...], list[Any], Preview]]) -> None:
        """A preview of outputs computed elsewhere (a block's, what enters a block), remade only when they change."""
        cached = self.results.get(key)
        if cached is None or cached[0] != sources:
            cached = (sources, outputs, Preview(keras.ops.convert_to_numpy(outputs[0])[0]))
        fresh[key] = cached

    def _outputs(self, key: str, path: str, settings: str, node: Any, arguments: list[Any]) -> list[Any]:
        """The node's outputs from its layer, which is kept while its settings and input shapes stay (and with it
        its weights); a new layer is built by its first call, then takes the project's weights (``path``, the
        layer's name after its blocks') where they fit."""
        known = self.layers.get(key)
        if known is not None and known[0] == settings:
            return invoke(known[1], node, arguments, self.catalog)
        layer = make_layer(node, self.catalog)
        outputs = invoke(layer, node, arguments, self.catalog)
        self.layers[key] = (settings, layer)
        self.paths[key] = path
        if layer.weights and load_layer(layer, path, self.weights):
            outputs = invoke(layer, node, arguments, self.catalog)
        return outputs
