"""A map drawn for people (Pillow): over the image it explains, or as a strip of coloured cells for
features and tokens (red for, blue against the class)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 256  # small inputs (8×8 digits) are enlarged to about this size, pixels kept square
CELL = 24
HEAT = np.array([[0, 0, 0], [120, 0, 160], [230, 40, 40], [255, 170, 0], [255, 255, 160]], dtype="float32")


def save_overlay(sample: np.ndarray, heat: np.ndarray, path: Path) -> None:
    """``sample`` as the model sees it (H, W, C) or (F,)/(T, F); ``heat`` its map."""
    picture = _over_image(sample, heat) if heat.ndim == 2 and sample.ndim == 3 else _strip(heat)
    picture.save(path)


def _over_image(sample: np.ndarray, heat: np.ndarray) -> Image.Image:
    image = _unit(sample.astype("float32"))
    image = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
    strength = np.clip(heat / max(float(heat.max()), 1e-8), 0, 1)[..., None]  # the evidence for the class
    blended = image * 255 * (1 - 0.6 * strength) + colours(strength[..., 0]) * 0.6 * strength
    scale = max(1, SIDE // max(heat.shape))
    picture = Image.fromarray(blended.clip(0, 255).astype("uint8"))
    return picture.resize((heat.shape[1] * scale, heat.shape[0] * scale), Image.Resampling.NEAREST)


def _strip(heat: np.ndarray) -> Image.Image:
    values = heat.reshape(-1)
    signed = values / max(float(np.abs(values).max()), 1e-8)
    cells = np.full((len(values), 3), 255.0)
    cells[:, 1:] -= np.clip(signed, 0, 1)[:, None] * 255  # red for the class
    cells[:, :2] -= np.clip(-signed, 0, 1)[:, None] * 255  # blue against it
    row = np.repeat(cells[None].astype("uint8"), CELL, axis=0)
    return Image.fromarray(np.repeat(row, CELL, axis=1))


def _unit(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def colours(strength: np.ndarray) -> np.ndarray:
    """A black–purple–red–yellow scale for strengths in [0, 1]."""
    position = strength * (len(HEAT) - 1)
    low = np.floor(position).astype(int).clip(0, len(HEAT) - 2)
    share = (position - low)[..., None]
    return HEAT[low] * (1 - share) + HEAT[low + 1] * share
