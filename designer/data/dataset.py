"""An in-memory dataset with its task, seeded stratified splits, a preview, and the check
that tells a user how to make data and network fit each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Task = Literal["classification", "regression"]


class DataError(ValueError):
    """Data that cannot be used; the message names the place (file, row, column) and the fix."""


@dataclass
class Split:
    x: np.ndarray
    y: np.ndarray


@dataclass
class Splits:
    train: Split
    validation: Split
    test: Split


@dataclass
class Dataset:
    name: str
    x: np.ndarray
    y: np.ndarray
    task: Task
    class_names: list[str] = field(default_factory=list)
    description: str = ""
    validation: tuple[np.ndarray, np.ndarray] | None = None  # a separate validation set, when given

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise DataError(f"{self.name}: {len(self.x)} samples but {len(self.y)} targets")
        if len(self.x) == 0:
            raise DataError(f"{self.name}: the dataset is empty")
        if isinstance(self.x, np.ndarray) and np.issubdtype(self.x.dtype, np.floating) \
                and not np.isfinite(self.x).all():  # files decoded on demand are checked when read
            row = int(np.argwhere(~np.isfinite(self.x.reshape(len(self.x), -1)))[0][0])
            raise DataError(f"{self.name}: sample {row} holds NaN or infinity; clean or drop it")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.task == "classification" else 0

    def class_counts(self) -> dict[str, int]:
        if self.task != "classification":
            return {}
        counts = np.bincount(self.y.astype(int), minlength=self.num_classes)
        return {name: int(c) for name, c in zip(self.class_names, counts, strict=False)}

    def preview(self, count: int = 8) -> dict[str, Any]:
        """What a data panel shows: the first samples, the class counts, the input shape."""
        return {"name": self.name, "samples": len(self.x), "input_shape": list(self.input_shape),
                "task": self.task, "classes": self.class_names, "class_counts": self.class_counts(),
                "first_x": self.x[:count], "first_y": self.y[:count], "description": self.description}

    def split(self, validation: float = 0.15, test: float = 0.15, seed: int = 0) -> Splits:
        """Seeded train/validation/test split, stratified by class for classification."""
        train, val, tst = self.split_indices(validation, test, seed)
        splits = Splits(*(Split(self.x[i], self.y[i]) for i in (train, val, tst)))
        if self.validation is not None:
            splits.validation = Split(*self.validation)
        return splits

    def split_indices(self, validation: float = 0.15, test: float = 0.15,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The samples (indices into ``x``) of each split: the Explain page picks test samples by index."""
        if not (0 <= validation < 1 and 0 <= test < 1 and validation + test < 1):
            raise DataError("validation and test fractions must each be in [0, 1) and leave some training data")
        rng = np.random.default_rng(seed)
        parts: list[list[int]] = [[], [], []]
        groups = [np.flatnonzero(self.y == c) for c in range(self.num_classes)] if self.task == "classification" \
            else [np.arange(len(self.x))]
        for indices in groups:
            indices = rng.permutation(indices)
            n_test, n_val = round(len(indices) * test), round(len(indices) * validation)
            parts[2] += indices[:n_test].tolist()
            parts[1] += indices[n_test:n_test + n_val].tolist()
            parts[0] += indices[n_test + n_val:].tolist()
        if self.validation is not None:  # the given validation set replaces the carved-out one
            parts[0] += parts[1]
        train, val, tst = (np.sort(np.array(p, dtype=int)) for p in parts)
        return train, val, tst


def check_fit(dataset: Dataset, input_shapes: list[tuple[int | None, ...]],
              output_shapes: list[tuple[int | None, ...]]) -> list[str]:
    """Problems between data and network, each saying how to fix it (empty when they fit)."""
    problems = []
    if len(input_shapes) != 1:
        problems.append(f"the network has {len(input_shapes)} inputs but {dataset.name} provides one array; "
                        "use a single Input layer for this data")
    elif tuple(input_shapes[0][1:]) != dataset.input_shape and not _fits(input_shapes[0][1:], dataset.input_shape):
        problems.append(f"the network's input takes samples of shape {tuple(input_shapes[0][1:])} but "
                        f"{dataset.name} has samples of shape {dataset.input_shape}: set the Input layer's shape "
                        f"to {list(dataset.input_shape)}" + (" or give the image source a target size"
                                                             if len(dataset.input_shape) == 3 else ""))
    if len(output_shapes) == 1 and dataset.task == "classification":
        units = output_shapes[0][-1]
        if units not in (dataset.num_classes, None) and not (units == 1 and dataset.num_classes == 2):
            problems.append(f"the output layer has {units} units but {dataset.name} has {dataset.num_classes} "
                            f"classes: set the last layer's units to {dataset.num_classes}")
    elif len(output_shapes) == 1 and dataset.task == "regression":
        target = dataset.y.shape[1:] or (1,)
        if tuple(output_shapes[0][1:]) != tuple(target):
            problems.append(f"the output has shape {tuple(output_shapes[0][1:])} but the targets have shape "
                            f"{tuple(target)}: make the last layer produce {list(target)}")
    return problems


def _fits(expected: tuple[int | None, ...], actual: tuple[int, ...]) -> bool:
    return len(expected) == len(actual) and all(e is None or e == a for e, a in zip(expected, actual, strict=False))
