"""Preprocessing layers that learn their state from data (``adapt``): which ones still need it."""

from __future__ import annotations

from typing import Any

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
