"""Preprocessing layers that learn their state from data (``adapt``): which ones still need it."""

from __future__ import annotations

from typing import Any

from designer.keras_bridge.internals import idf_weights

STATE_KEYS = ("vocabulary", "mean", "variance", "bin_boundaries")  # config keys that carry the state


def needs_adapt(layer: Any) -> bool:
    """TextVectorization, Normalization, the lookups, Discretization… given no state of their own and
    never adapted: until then they cannot run (a vocabulary table is empty, a mean is missing)."""
    if not hasattr(layer, "adapt"):
        return False
    config = layer.get_config()
    if any(config.get(k) is not None for k in STATE_KEYS):
        return False
    if hasattr(layer, "vocabulary_size"):
        try:
            return int(layer.vocabulary_size()) <= 2  # only the padding and out-of-vocabulary tokens
        except Exception:  # an uninitialised lookup table
            return True
    return not getattr(layer, "_is_adapted", False) and getattr(layer, "mean", None) is None


def empty_vocabularies(model: Any) -> list[Any]:
    """Lookup layers with no vocabulary: their table lives outside the weights, so loading a weights
    file cannot fill it, and they cannot run until adapted (a Normalization's statistics are weights)."""
    return [layer for layer in model._flatten_layers(include_self=False)
            if hasattr(layer, "vocabulary_size") and needs_adapt(layer)]


def with_adapted_state(layer: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the state ``adapt`` gave ``layer`` written in as arguments that make the same layer.

    A lookup's vocabulary (and TF-IDF weights) lives in tables outside both its config and its weights,
    so an import or a generated script that did not write it out would rebuild an empty layer. An
    adapted Discretization's config holds its boundaries and its bin count, which its constructor
    refuses together (only ``from_config`` takes both): the boundaries say it all."""
    if not hasattr(layer, "adapt"):  # most layers: nothing learned from data
        return params
    params, config = dict(params), layer.get_config()
    if hasattr(layer, "get_vocabulary"):
        tokens = [t.item() if hasattr(t, "item") else t for t in layer.get_vocabulary(include_special_tokens=False)]
        if tokens:
            params["vocabulary"] = tokens
        if tokens and config.get("output_mode") == "tf_idf":
            specials = len(layer.get_vocabulary()) - len(tokens)
            params["idf_weights"] = idf_weights(layer)[specials:].tolist()
    boundaries = config.get("bin_boundaries")
    if boundaries is not None and "num_bins" in config:
        params["bin_boundaries"] = [float(b) for b in boundaries]
        params.pop("num_bins", None)
    return params
