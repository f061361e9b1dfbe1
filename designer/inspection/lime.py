"""LIME (Ribeiro et al., 2016), its standard algorithm written out: switch random sets of segments
off (to the baseline), weight each copy by its closeness to the original, and fit a weighted ridge
regression of the class score on which segments were on; a segment's coefficient is its importance.

Written here rather than taken from the ``lime`` package, whose last release (2020) predates Keras 3
and NumPy 2, or from ``shap``, whose deep explainers do not support Keras 3 and whose LIME wraps
``lime``. Segments are a grid over images (a caller may pass superpixels instead) and single
features or tokens otherwise."""

from __future__ import annotations

import threading

import keras
import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import pairwise_distances

from designer.inspection.common import Progress, Steps, chosen_classes, map_shape, scores, single_input
from designer.inspection.perturb import baseline_for, blank

KERNEL_WIDTH = 0.25  # LIME's default for images, on cosine distance


def lime(model: keras.Model, x: np.ndarray, classes: np.ndarray | None = None, *, samples: int = 500,
         segments: np.ndarray | None = None, cell: int | None = None, baseline: float | np.ndarray = 0.0,
         seed: int = 0, progress: Progress | None = None, cancel: threading.Event | None = None) -> np.ndarray:
    """Maps (N, *map shape), signed: each place gets its segment's coefficient. ``segments`` labels the
    map's places 0…S-1 (e.g. superpixels); by default a grid of ``cell``-sized squares on images (an
    eighth of the shorter side) and one segment per feature or token otherwise."""
    x = single_input(model, x)
    classes = chosen_classes(model, x, classes)
    labels = segments if segments is not None else grid(map_shape(x.shape[1:]), cell)
    count = int(labels.max()) + 1
    rng = np.random.default_rng(seed)
    steps = Steps(len(x), progress, cancel)
    maps = []
    for sample, cls in zip(x, classes, strict=True):
        on = _switches(rng, samples, count)
        hidden = blank(sample, baseline_for(sample, baseline), ~on[:, labels])
        target = scores(model, hidden, cls)
        steps.check()
        closeness = np.sqrt(np.exp(-pairwise_distances(on, on[:1], metric="cosine").ravel() ** 2 / KERNEL_WIDTH ** 2))
        fit = Ridge(alpha=1.0).fit(on.astype("float32"), target, sample_weight=closeness)
        maps.append(fit.coef_[labels])
        steps.advance()
    return np.stack(maps).astype("float32")


def grid(shape: tuple[int, ...], cell: int | None = None) -> np.ndarray:
    """Segment labels over a map: ``cell``-sized squares on a 2-D map, one per place on a 1-D one."""
    if len(shape) != 2:
        return np.arange(int(np.prod(shape))).reshape(shape)
    cell = cell or max(1, min(shape) // 8)
    rows, cols = np.arange(shape[0]) // cell, np.arange(shape[1]) // cell
    return rows[:, None] * (cols.max() + 1) + cols[None, :]


def _switches(rng: np.random.Generator, samples: int, count: int) -> np.ndarray:
    """The first row all on (the input itself); each other row turns a uniformly drawn number of segments off."""
    on = np.ones((samples, count), dtype=bool)
    for row in on[1:]:
        row[rng.choice(count, rng.integers(1, count + 1), replace=False)] = False
    return on
