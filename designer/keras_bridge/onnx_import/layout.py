"""Where each ONNX axis sits in the Keras tensor that carries it.

A converted tensor keeps its values in Keras order and records ``perm``: Keras axis ``i``
holds ONNX axis ``perm[i]``. A Transpose then costs nothing (only ``perm`` changes), and a
layer that needs another order (channels last for a convolution, ONNX order before a
Reshape) asks for it, so at most one Permute is inserted where the order really matters.
Keras axis 0 is always the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Perm = tuple[int, ...]


def identity(rank: int) -> Perm:
    return tuple(range(rank))


def channels_last(rank: int) -> Perm:
    """ONNX's (N, C, spatial...) seen as Keras's (N, spatial..., C)."""
    return (0, *range(2, rank), 1) if rank >= 3 else identity(rank)


def inverse(perm: Sequence[int]) -> Perm:
    return tuple(int(i) for i in np.argsort(perm))


def after_transpose(perm: Perm, onnx_perm: Sequence[int]) -> Perm:
    """The ``perm`` of ``Transpose(x, onnx_perm)`` when ``x`` has ``perm``: the data stay put."""
    where = inverse(onnx_perm)  # ONNX axis a of x becomes axis where[a] of the result
    return tuple(where[a] for a in perm)


def permute_dims(current: Perm, wanted: Perm) -> Perm | None:
    """The ``keras.layers.Permute`` dims (1-based, batch excluded) that turn ``current`` into
    ``wanted``; None when that would move the batch axis."""
    position = {axis: i for i, axis in enumerate(current)}
    order = [position[axis] for axis in wanted]
    if order[0] != 0:
        return None
    return tuple(order[1:])


def same_memory_order(shape: Sequence[int | None], current: Perm, wanted: Perm) -> bool:
    """True when the two orders lay the elements out alike: they differ only by axes of size 1
    (a Flatten after global pooling needs no Permute)."""
    def big(perm: Perm) -> list[int]:
        return [a for a in perm if shape[a] != 1]
    return big(current) == big(wanted)


def constant_for(value: np.ndarray, rank: int, perm: Perm) -> np.ndarray | None:
    """A constant broadcast against a tensor of ONNX ``rank`` with ``perm``, in Keras order and
    without the batch axis; None when it varies along the batch."""
    if value.ndim > rank:
        return None
    aligned = value.reshape((1,) * (rank - value.ndim) + value.shape).transpose(perm)
    if aligned.shape[0] != 1:
        return None
    return aligned[0]
