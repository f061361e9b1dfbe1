"""Magnitude pruning for Keras 3, which has no pruning API: a callback that zeros the smallest weights of
every kernel, raising the sparsity along a polynomial schedule while the model fine-tunes, and puts the
zeros back after every batch, so the optimizer cannot revive them and they are exact at the end."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

END_FRACTION = 0.75  # the target is reached after this share of the steps; the rest recovers accuracy
UPDATES = 20  # how many times the masks are recomputed on the way to the target


def prunable(model: keras.Model) -> list[Any]:
    """Kernels, not biases or normalisation statistics: the trainable weights of two or more dimensions."""
    return [w for w in model.trainable_weights if len(w.shape) >= 2]


def scheduled_sparsity(target: float, step: int, end: int) -> float:
    """The cubic schedule of Zhu & Gupta (2017): fast at first, gentle near the target."""
    return target * (1 - (1 - min(step, end) / end) ** 3)


def magnitude_mask(values: np.ndarray, sparsity: float) -> np.ndarray:
    """Ones, with exactly ``round(sparsity × size)`` zeros where the magnitudes are smallest."""
    flat = np.abs(values).ravel()
    mask = np.ones(flat.size, dtype=values.dtype)
    k = round(sparsity * flat.size)
    if k:
        mask[np.argpartition(flat, k - 1)[:k]] = 0
    return mask.reshape(values.shape)


class MagnitudePruning(keras.callbacks.Callback):
    def __init__(self, kernels: list[Any], target: float, steps: int) -> None:
        super().__init__()
        self.kernels, self.target = kernels, target
        self.end = max(1, int(steps * END_FRACTION))
        self.every = max(1, self.end // UPDATES)
        self.step = 0
        self.masks = [np.ones(tuple(k.shape), dtype=keras.backend.standardize_dtype(k.dtype)) for k in kernels]

    def _remask(self, sparsity: float) -> None:
        self.masks = [magnitude_mask(keras.ops.convert_to_numpy(k), sparsity) for k in self.kernels]

    def _apply(self) -> None:
        for kernel, mask in zip(self.kernels, self.masks, strict=True):
            kernel.assign(keras.ops.convert_to_numpy(kernel) * mask)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += 1
        if self.step <= self.end and (self.step % self.every == 0 or self.step == self.end):
            self._remask(scheduled_sparsity(self.target, self.step, self.end))
        self._apply()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._remask(self.target)  # the target holds even when training stopped before the schedule's end
        self._apply()


def sparsity(model: keras.Model) -> float:
    """The share of exact zeros in the model's kernels."""
    kernels = [keras.ops.convert_to_numpy(k) for k in prunable(model)]
    total = sum(k.size for k in kernels)
    return float(sum(int(np.sum(k == 0)) for k in kernels) / total) if total else 0.0
