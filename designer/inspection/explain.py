"""The explanation methods by the names the command line and the window use."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from designer.inspection.common import InspectionError, Progress
from designer.inspection.gradcam import grad_cam
from designer.inspection.integrated_gradients import integrated_gradients
from designer.inspection.lime import lime
from designer.inspection.occlusion import occlusion

METHODS: dict[str, Callable[..., np.ndarray]] = {
    "gradcam": grad_cam, "guided-gradcam": functools.partial(grad_cam, guided=True), "occlusion": occlusion,
    "lime": lime, "integrated-gradients": integrated_gradients}
LAYERED = ("gradcam", "guided-gradcam")  # the methods that take a convolutional layer


def explain(model: keras.Model, x: np.ndarray, method: str, *, layer: str | None = None,
            classes: np.ndarray | None = None, baseline: float | np.ndarray = 0.0, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> np.ndarray:
    """Maps (N, *map shape) by ``method``; ``layer`` is Grad-CAM's, ``baseline`` the others' "absent" input."""
    if method not in METHODS:
        raise InspectionError(f"unknown method {method!r}: use {', '.join(METHODS)}")
    if layer and method not in LAYERED:
        raise InspectionError(f"a layer is chosen for {' and '.join(LAYERED)} only; {method} explains from the "
                              "input")
    options: dict[str, Any] = {"layer": layer} if method in LAYERED else {"baseline": baseline}
    return METHODS[method](model, x, classes, progress=progress, cancel=cancel, **options)
