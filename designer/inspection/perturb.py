"""Replacing parts of an input by a baseline: what occlusion and LIME both do to ask the model
what a part was worth."""

from __future__ import annotations

import numpy as np


def baseline_for(x: np.ndarray, baseline: float | np.ndarray) -> np.ndarray:
    """One sample's baseline, broadcast to its shape (zeros: black images, a padding token)."""
    return np.broadcast_to(np.asarray(baseline, dtype=x.dtype), x.shape)


def blank(sample: np.ndarray, base: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Copies of ``sample`` with each mask's map positions (masks: K × map shape, True = blank) set to
    ``base``; a mask over an image's (H, W) blanks every channel."""
    wide = masks[..., None] if masks.ndim - 1 < sample.ndim else masks
    return np.where(wide, base[None], sample[None]).astype(sample.dtype)
