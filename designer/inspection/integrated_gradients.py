"""Integrated gradients (Sundararajan et al., 2017): the class score's gradient averaged along the
straight path from a baseline to the input, times the input's difference from the baseline."""

from __future__ import annotations

import threading

import keras
import numpy as np

from designer.inspection.common import (
    BATCH,
    InspectionError,
    Progress,
    Steps,
    chosen_classes,
    class_score,
    first_output,
    single_input,
    to_map,
)
from designer.inspection.gradients import gradient
from designer.inspection.perturb import baseline_for


def integrated_gradients(model: keras.Model, x: np.ndarray, classes: np.ndarray | None = None, *,
                         baseline: float | np.ndarray = 0.0, steps: int = 32, progress: Progress | None = None,
                         cancel: threading.Event | None = None) -> np.ndarray:
    """Maps (N, *map shape), signed: positive where the input raised the class score over the
    baseline's. ``steps`` points of the midpoint rule approximate the path integral."""
    x = single_input(model, x)
    if x.dtype.kind != "f":
        raise InspectionError("integrated gradients needs real-valued inputs, and this model takes integer ids "
                              "(tokens): use occlusion or lime")
    classes = chosen_classes(model, x, classes)
    alphas = ((np.arange(steps) + 0.5) / steps).astype("float32")
    done = Steps(len(x), progress, cancel)
    attributions = []
    for sample, cls in zip(x, classes, strict=True):
        base = baseline_for(sample, baseline)
        total = np.zeros_like(sample)
        for start in range(0, steps, BATCH):
            path = base[None] + alphas[start:start + BATCH].reshape(-1, *[1] * sample.ndim) * (sample - base)[None]
            wanted = np.full(len(path), cls)
            total += gradient(lambda p, c=wanted: keras.ops.sum(class_score(first_output(model(p, training=False)), c)),
                              path).sum(axis=0)
            done.check()
        attributions.append(total / steps * (sample - base))
        done.advance()
    return to_map(np.stack(attributions)).astype("float32")
