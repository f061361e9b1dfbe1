"""Built-in datasets that need no network: scikit-learn's bundled sets and generated ones."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

from designer.data.dataset import DataError, Dataset


def digits(target_size: int | None = None) -> Dataset:
    """scikit-learn's 1,797 handwritten digits as 8×8×1 images in [0, 1], optionally resized."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype("float32")[..., None]
    if target_size and target_size != 8:
        x = zoom(x, (1, target_size / 8, target_size / 8, 1), order=1).astype("float32")
    return Dataset("digits", x, data.target.astype("int64"), "classification",
                   [str(c) for c in data.target_names], "handwritten digits 0–9 (scikit-learn)")


def scattered_digits(target_size: int | None = None, field: int = 32, scale: int = 2, noise: float = 0.05,
                     seed: int = 0) -> Dataset:
    """The same digits enlarged ``scale`` times and each put at a random, seeded place on a dark ``field``-pixel
    square with light noise: the object covers a small part of the frame, as in photographs, so an explanation
    has to find it (on the 8×8 originals the digit fills the frame and every region looks relevant)."""
    from scipy.ndimage import zoom

    base = digits()
    rng = np.random.default_rng(seed)
    small = zoom(base.x[..., 0], (1, scale, scale), order=1).clip(0, 1)
    side = small.shape[1]
    x = rng.uniform(0, noise, (len(small), field, field)).astype("float32")
    rows, cols = rng.integers(0, field - side + 1, (2, len(small)))
    for image, digit, r, c in zip(x, small, rows, cols, strict=True):
        image[r:r + side, c:c + side] = np.maximum(image[r:r + side, c:c + side], digit)
    x = x[..., None]
    if target_size and target_size != field:
        x = zoom(x, (1, target_size / field, target_size / field, 1), order=1).clip(0, 1).astype("float32")
    return Dataset("digits32", x, base.y, "classification", base.class_names,
                   f"handwritten digits {side}×{side} at random places on a dark {field}×{field} field (generated "
                   "from scikit-learn's)")


def _table(loader_name: str, name: str) -> Callable[[int | None], Dataset]:
    def load(target_size: int | None = None) -> Dataset:
        import sklearn.datasets

        data = getattr(sklearn.datasets, loader_name)()
        return Dataset(name, data.data.astype("float32"), data.target.astype("int64"), "classification",
                       [str(c) for c in data.target_names], f"the {name} table (scikit-learn)")
    load.__doc__ = f"scikit-learn's {name} table: features as float32, class labels as integers."
    return load


def spirals(target_size: int | None = None, samples: int = 1000, noise: float = 0.2, seed: int = 0) -> Dataset:
    """Two interleaved spirals in the plane: the classic set a linear model cannot separate."""
    rng = np.random.default_rng(seed)
    n = samples // 2
    theta = np.sqrt(rng.random(n)) * 3 * np.pi
    arm = np.stack([theta * np.cos(theta), theta * np.sin(theta)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, noise / 10, (2 * n, 2))
    y = np.concatenate([np.zeros(n), np.ones(n)]).astype("int64")
    return Dataset("spirals", x.astype("float32"), y, "classification", ["inner", "outer"], "two spirals (generated)")


def sine(target_size: int | None = None, samples: int = 2000, steps: int = 32, seed: int = 0) -> Dataset:
    """Noisy sine waves of random frequency and phase; the target is the next value (forecasting)."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.5, 2.0, (samples, 1))
    phase = rng.uniform(0, 2 * np.pi, (samples, 1))
    t = np.arange(steps + 1)[None, :] * 0.2
    waves = np.sin(freq * t + phase) + rng.normal(0, 0.05, (samples, steps + 1))
    return Dataset("sine", waves[:, :steps, None].astype("float32"), waves[:, steps:].astype("float32"),
                   "regression", [], "noisy sine sequences, predict the next value (generated)")


RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def headlines(target_size: int | None = None) -> Dataset:
    """1,000 short generated headlines in four topics, shipped in ``resources/`` (strings, one per sample)."""
    path = RESOURCES / "headlines.csv"
    if not path.is_file():
        raise DataError(f"{path}: the headlines corpus is missing; run resources/make_headlines.py to write it")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    topics = sorted({row["topic"] for row in rows})
    x = np.array([[row["text"]] for row in rows], dtype=str)
    y = np.array([topics.index(row["topic"]) for row in rows], dtype="int64")
    return Dataset("headlines", x, y, "classification", topics,
                   "short headlines in four topics, raw text (generated, shipped in resources/)")


BUILTIN: dict[str, Callable[..., Dataset]] = {
    "digits": digits,
    "digits32": scattered_digits,
    "iris": _table("load_iris", "iris"),
    "wine": _table("load_wine", "wine"),
    "breast_cancer": _table("load_breast_cancer", "breast_cancer"),
    "spirals": spirals,
    "sine": sine,
    "headlines": headlines,
}


def load_builtin(name: str, target_size: int | None = None) -> Dataset:
    if name not in BUILTIN:
        raise DataError(f"no built-in dataset {name!r}; choose one of: {', '.join(BUILTIN)}")
    return BUILTIN[name](target_size)
