"""Structured pruning: whole filters of Conv layers and whole units of Dense layers removed, so the layers
really shrink in the document (``filters``/``units``) and in their weights, not just fill with zeros.

A layer's output channels are followed downstream through layers that treat each channel on its own
(activations, dropout, pooling, padding, BatchNormalization, Flatten) to the Conv or Dense layers that
read them, whose input weights are sliced to match. A layer whose channels reach anything else (a
merge such as a residual ``Add``, whose other branch would need the same channels; a model output; a
block; a shared layer) stays whole, and the reason names the layer in the way. Which filters go is
decided by the L1 norm of each filter's weights: the weakest first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from designer.graph.document import NetworkDocument

# Layers whose outputs are shrunk: a kernel whose last axis is the output channel, a bias per channel.
PRUNABLE = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
# Layers that act on each channel alone and keep the last axis as the channel axis.
CHANNELWISE = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU,
               keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout,
               keras.layers.AlphaDropout, keras.layers.ActivityRegularization, keras.layers.Identity,
               keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D,
               keras.layers.AveragePooling1D, keras.layers.AveragePooling2D, keras.layers.AveragePooling3D,
               keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D, keras.layers.GlobalMaxPooling3D,
               keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D,
               keras.layers.GlobalAveragePooling3D, keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D,
               keras.layers.ZeroPadding3D, keras.layers.Cropping1D, keras.layers.Cropping2D,
               keras.layers.Cropping3D, keras.layers.UpSampling1D, keras.layers.UpSampling2D,
               keras.layers.UpSampling3D, keras.layers.BatchNormalization, keras.layers.Flatten)
ACROSS_CHANNELS = ("softmax", "log_softmax")  # activations that mix the channels they normalise over

Indices = Callable[[np.ndarray], np.ndarray]  # kept channels -> kept indices of a layer input's last axis


class Unsliceable(Exception):
    """Why a layer's channels cannot be removed, naming the layer in the way."""


@dataclass
class Plan:
    """What structured pruning removes: per shrunk layer, the channels it keeps (ascending) and where its
    channels go; per layer left whole, why."""

    keep: dict[str, np.ndarray] = field(default_factory=dict)
    reach: dict[str, dict[str, Indices]] = field(default_factory=dict)  # shrunk -> downstream layer -> map
    whole: dict[str, str] = field(default_factory=dict)


def plan(document: NetworkDocument, model: keras.Model, sparsity: float) -> Plan:
    """Which channels of which layers go: ``sparsity`` of each prunable layer's channels, the weakest by L1
    norm, where every layer their outputs reach can be sliced to match."""
    result = Plan()
    outputs = {ref.node for ref in document.effective_outputs()}
    shared = {node.share for node in document.nodes.values() if node.share}
    for node_id in document.topological_order():
        node = document.node(node_id)
        if node.is_block or node.is_input:
            continue
        layer = model.get_layer(node.name)
        if not isinstance(layer, PRUNABLE):
            continue
        try:
            if node.share or node_id in shared:
                raise Unsliceable("it is shared (called at more than one place), so every call needs its channels")
            if not node.trainable:
                raise Unsliceable("it is frozen (not trainable)")
            _check_channels_last(layer)
            if getattr(layer, "groups", 1) != 1:
                raise Unsliceable(f"it convolves in {layer.groups} groups")
            result.reach[node.name] = _follow(document, model, node_id, outputs, lambda kept: kept)
        except Unsliceable as why:
            result.whole[node.name] = str(why)
            continue
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
        count = max(1, round((1 - sparsity) * len(norms)))
        result.keep[node.name] = np.sort(np.argsort(-norms, kind="stable")[:count])
    return result


def _check_channels_last(layer: keras.layers.Layer) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise Unsliceable(f"{layer.name!r} ({type(layer).__name__}) keeps channels first; only channels_last "
                          "layers are pruned")


def _follow(document: NetworkDocument, model: keras.Model, node_id: str, outputs: set[str],
            indices: Indices) -> dict[str, Indices]:
    """Every layer downstream of ``node_id`` that sees its channels, with how kept channels map onto its
    input's last axis; ``Unsliceable`` naming the first layer that cannot be sliced."""
    if node_id in outputs:
        raise Unsliceable(f"its channels are a model output ({document.node(node_id).name!r})")
    found: dict[str, Indices] = {}
    for edge in document.out_edges(node_id):
        node = document.node(edge.dst)
        what = f"{node.name!r} ({node.type})"
        if node.is_block:
            raise Unsliceable(f"its channels go into the block {what}, which is not pruned")
        if node.share or len(document.in_edges(edge.dst)) > 1:
            raise Unsliceable(f"{what} combines it with other tensors that would need the same channels")
        layer = model.get_layer(node.name)
        if isinstance(layer, PRUNABLE):
            _check_channels_last(layer)
            if getattr(layer, "groups", 1) != 1:
                raise Unsliceable(f"{what} convolves in {layer.groups} groups")
            found[node.name] = indices
        elif isinstance(layer, CHANNELWISE):
            _check_channelwise(layer, what)
            found[node.name] = indices
            after = _flattened(layer, indices) if isinstance(layer, keras.layers.Flatten) else indices
            found.update(_follow(document, model, edge.dst, outputs, after))
        else:
            raise Unsliceable(f"{what} cannot be sliced to fewer channels")
    return found


def _check_channelwise(layer: keras.layers.Layer, what: str) -> None:
    _check_channels_last(layer)
    if isinstance(layer, keras.layers.BatchNormalization) and layer.axis not in (-1, len(layer.input.shape) - 1):
        raise Unsliceable(f"{what} normalises along axis {layer.axis}, not the channels")
    if getattr(getattr(layer, "activation", None), "__name__", "") in ACROSS_CHANNELS:
        raise Unsliceable(f"{what} normalises across the channels")


def _flattened(layer: keras.layers.Flatten, indices: Indices) -> Indices:
    """Flatten spreads each channel over every position: the kept channels' positions in its output, in the
    order Flatten lays them out (it moves a channels-first axis last before flattening)."""
    shape = tuple(layer.input.shape[1:])
    channel = np.broadcast_to(np.arange(shape[-1]), shape)
    if layer.data_format == "channels_first" and len(shape) > 1:
        channel = np.moveaxis(channel, 0, -1)
    order = channel.ravel()
    return lambda kept: np.flatnonzero(np.isin(order, indices(kept)))


def shrink(document: NetworkDocument, model: keras.Model, arrays: dict[str, np.ndarray],
           chosen: Plan) -> tuple[NetworkDocument, dict[str, np.ndarray]]:
    """A copy of ``document`` with the pruned layers' ``filters``/``units`` reduced, and ``arrays`` (weights
    keyed ``LAYER|i``, as projects keep them) sliced to match: the kept filters keep their trained values."""
    shrunk, arrays = document.copy(), dict(arrays)
    by_name = {node.name: node for node in shrunk.nodes.values()}
    for name, kept in chosen.keep.items():
        by_name[name].params[_width(model.get_layer(name))] = len(kept)
        for i in range(len(model.get_layer(name).weights)):  # kernel: its last axis; bias: its only one
            arrays[f"{name}|{i}"] = np.take(arrays[f"{name}|{i}"], kept, axis=-1)
        for reader, indices in chosen.reach[name].items():
            layer, index = model.get_layer(reader), indices(kept)
            for i, weight in enumerate(layer.weights):
                key = f"{reader}|{i}"
                if isinstance(layer, PRUNABLE):
                    if weight.path.endswith("kernel"):  # Dense (in, out), Conv (..., in, out)
                        arrays[key] = np.take(arrays[key], index, axis=-2)
                else:  # BatchNormalization: gamma, beta, mean, variance, one value per channel
                    arrays[key] = np.take(arrays[key], index, axis=0)
    return shrunk, arrays


def _width(layer: keras.layers.Layer) -> str:
    return "units" if isinstance(layer, keras.layers.Dense) else "filters"


def notes(model: keras.Model, chosen: Plan) -> list[str]:
    """One line per shrunk layer (``conv1: 16 → 6 filters``), one per layer left whole with why."""
    return ([f"{name}: {model.get_layer(name).kernel.shape[-1]} → {len(kept)} {_width(model.get_layer(name))}"
             for name, kept in chosen.keep.items()]
            + [f"{name} stays whole: {why}" for name, why in chosen.whole.items()])
