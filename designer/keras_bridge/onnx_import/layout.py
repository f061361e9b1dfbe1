"""Where each ONNX axis sits in the Keras tensor that carries it.

A converted tensor keeps its values in Keras order and records ``perm``: Keras axis ``i``
holds ONNX axis ``perm[i]``. A Transpose then costs nothing (only ``perm`` changes), and a
layer that needs another order (channels last for a convolution, ONNX order before a
Reshape) asks for it, so at most one Permute is inserted where the order really matters.
Keras axis 0 is always the batch: ONNX axis 0 as a rule, or, in a fixed-batch import (a graph
that computes across ONNX axis 0), ``BATCH``, a Keras batch axis of its own that carries no
ONNX axis, so every ONNX axis is an ordinary data axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Perm = tuple[int, ...]
BATCH = -1  # in a perm: Keras's batch axis, carrying no ONNX axis (a fixed-batch import)


def identity(rank: int, fixed_batch: bool = False) -> Perm:
    """ONNX's own order (behind a batch axis of Keras's own in a fixed-batch import)."""
    return (BATCH, *range(rank)) if fixed_batch else tuple(range(rank))


def channels_last(rank: int) -> Perm:
    """ONNX's (N, C, spatial...) seen as Keras's (N, spatial..., C)."""
    return (0, *range(2, rank), 1) if rank >= 3 else identity(rank)


def onnx_axes(perm: Perm) -> Perm:
    """``perm`` without the fixed batch axis: the ONNX axes in Keras order."""
    return tuple(a for a in perm if a != BATCH)


def inverse(perm: Sequence[int]) -> Perm:
    return tuple(int(i) for i in np.argsort(perm))


def to_keras(array: np.ndarray, perm: Perm) -> np.ndarray:
    """An array laid out as ONNX lays it out, as the Keras tensor with ``perm`` holds it."""
    keras_order = np.asarray(array).transpose(onnx_axes(perm))
    return keras_order[None] if BATCH in perm else keras_order


def to_onnx(array: np.ndarray, perm: Perm) -> np.ndarray:
    """The inverse of ``to_keras`` (for one sample when the batch axis is Keras's own)."""
    onnx_order = np.asarray(array)[0] if BATCH in perm else np.asarray(array)
    return onnx_order.transpose(inverse(onnx_axes(perm)))


def after_transpose(perm: Perm, onnx_perm: Sequence[int]) -> Perm:
    """The ``perm`` of ``Transpose(x, onnx_perm)`` when ``x`` has ``perm``: the data stay put."""
    where = inverse(onnx_perm)  # ONNX axis a of x becomes axis where[a] of the result
    return tuple(BATCH if a == BATCH else where[a] for a in perm)


def permute_dims(current: Perm, wanted: Perm) -> Perm | None:
    """The ``keras.layers.Permute`` dims (1-based, batch excluded) that turn ``current`` into
    ``wanted``; None when that would move the batch axis."""
    if sorted(current) != sorted(wanted):  # one of them has a batch axis of its own
        return None
    position = {axis: i for i, axis in enumerate(current)}
    order = [position[axis] for axis in wanted]
    if order[0] != 0:
        return None
    return tuple(order[1:])


def same_memory_order(shape: Sequence[int | None], current: Perm, wanted: Perm) -> bool:
    """True when the two orders lay the elements out alike: they differ only by axes of size 1
    (a Flatten after global pooling needs no Permute)."""
    def big(perm: Perm) -> list[int]:
        return [a for a in perm if a == BATCH or shape[a] != 1]
    return big(current) == big(wanted)


def constant_for(value: np.ndarray, rank: int, perm: Perm) -> np.ndarray | None:
    """A constant broadcast against a tensor of ONNX ``rank`` with ``perm``, in Keras order and
    without the batch axis; None when it varies along the batch."""
    if value.ndim > rank:
        return None
    aligned = value.reshape((1,) * (rank - value.ndim) + value.shape).transpose(onnx_axes(perm))
    if BATCH in perm:
        return aligned
    if aligned.shape[0] != 1:
        return None
    return aligned[0]
