"""The one place that takes gradients. Keras 3 has no public backend-agnostic gradient, so each
backend's own autodiff is wrapped here, chosen by ``keras.backend.backend()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from designer.inspection.common import InspectionError

Scalar = Callable[[Any], Any]  # a backend tensor -> a scalar backend tensor


def gradient(fn: Scalar, value: Any) -> np.ndarray:
    """d fn(value) / d value, as NumPy, on whichever backend Keras runs."""
    backend = keras.backend.backend()
    take = _BACKENDS.get(backend)
    if take is None:
        raise InspectionError(f"gradients are not available on the {backend!r} backend; use occlusion or lime, "
                              "or set KERAS_BACKEND to tensorflow, jax or torch")
    return np.asarray(take(fn, keras.ops.convert_to_tensor(value)), dtype="float32")


def _tensorflow(fn: Scalar, value: Any) -> Any:
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(value)
        result = fn(value)
    return tape.gradient(result, value).numpy()


def _jax(fn: Scalar, value: Any) -> Any:
    import jax

    return jax.grad(fn)(value)


def _torch(fn: Scalar, value: Any) -> Any:
    leaf = value.detach().clone().requires_grad_(True)
    fn(leaf).backward()
    return leaf.grad.detach().cpu().numpy()


_BACKENDS: dict[str, Callable[[Scalar, Any], Any]] = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}
