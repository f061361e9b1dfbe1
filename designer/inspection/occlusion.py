"""Occlusion sensitivity (Zeiler & Fergus, 2014): slide a blank patch over the input; a place is as
important as the class score falls when it is hidden."""

from __future__ import annotations

import itertools
import threading

import keras
import numpy as np

from designer.inspection.common import Progress, Steps, chosen_classes, map_shape, scores, single_input
from designer.inspection.perturb import baseline_for, blank


def occlusion(model: keras.Model, x: np.ndarray, classes: np.ndarray | None = None, *, patch: int | None = None,
              stride: int | None = None, baseline: float | np.ndarray = 0.0, progress: Progress | None = None,
              cancel: threading.Event | None = None) -> np.ndarray:
    """Maps (N, *map shape): the mean drop of the class score over the patches covering each place.
    ``patch`` defaults to an eighth of an image's shorter side (one value for tables and tokens),
    ``stride`` to half the patch."""
    x = single_input(model, x)
    classes = chosen_classes(model, x, classes)
    shape = map_shape(x.shape[1:])
    patch = patch or max(1, min(shape) // 8 if len(shape) == 2 else 1)
    masks = _windows(shape, patch, stride or max(1, patch // 2))
    cover = np.maximum(masks.sum(axis=0), 1)
    steps = Steps(len(x), progress, cancel)
    maps = []
    for sample, cls in zip(x, classes, strict=True):
        full = scores(model, sample[None], cls)[0]
        hidden = scores(model, blank(sample, baseline_for(sample, baseline), masks), cls)
        maps.append(np.tensordot(full - hidden, masks, axes=1) / cover)
        steps.advance()
    return np.stack(maps).astype("float32")


def _windows(shape: tuple[int, ...], patch: int, stride: int) -> np.ndarray:
    """Every patch position as a boolean mask over the map, the last one flush with each edge."""
    starts = [sorted({*range(0, max(n - patch, 0) + 1, stride), max(n - patch, 0)}) for n in shape]
    masks = np.zeros((int(np.prod([len(s) for s in starts])), *shape), dtype=bool)
    for k, corner in enumerate(itertools.product(*starts)):
        masks[(k, *(slice(c, c + patch) for c in corner))] = True
    return masks
