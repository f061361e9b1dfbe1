"""Data sources named as the command line names them: ``builtin:NAME``, ``images:FOLDER`` (one
sub-folder per class), ``npz:PATH``, ``csv:PATH`` (with a target column). Relative paths are taken
from the project's folder."""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

import numpy as np

from designer.data.builtin import load_builtin
from designer.data.dataset import DataError, Dataset

MAX_CATEGORIES = 50  # a string column with more distinct values is treated as text
TEXT_BUCKETS = 32


def load_source(source: str, folder: Path = Path("."), *, target: str | None = None,
                target_size: int | None = None, classes: list[str] | None = None,
                features: list[str] | None = None) -> Dataset:
    """``target="input"`` makes the inputs their own targets (autoencoders), for any in-memory source;
    ``classes`` keeps only those classes of a classification source (in that order); ``features``
    picks a CSV's input columns (default: every column but the target)."""
    if classes:
        return only_classes(load_source(source, folder, target=target, target_size=target_size,
                                        features=features), classes)
    if target == "input":
        dataset = load_source(source, folder, target_size=target_size)
        if not isinstance(dataset.x, np.ndarray) or dataset.x.dtype.kind not in "fiu":
            raise DataError(f"{source}: an autoencoder target needs numeric data held in memory")
        return Dataset(dataset.name, dataset.x, dataset.x.copy(), "regression", [],
                       f"{dataset.description}; each sample is its own target")
    kind, _, rest = source.partition(":")
    if kind == "builtin":
        return load_builtin(rest, target_size)
    path = Path(rest) if Path(rest).is_absolute() else folder / rest
    if kind == "images":
        from designer.data.images import load_image_folder

        return load_image_folder(path, target_size)
    if kind in ("npz", "csv") and not path.is_file():
        raise DataError(f"{path}: no such file")
    if kind == "npz":
        return load_npz(path)
    if kind == "csv":
        if not target:
            raise DataError(f"{path}: name the column to predict (--target COLUMN, or 'target' in the data setup)")
        return load_csv(path, target, features)
    raise DataError(f"unknown data source {source!r}: use builtin:NAME, images:FOLDER, npz:PATH or csv:PATH")


def load_setup(setup: dict, folder: Path = Path(".")) -> Dataset:
    """A project's data setup (``source``, ``target``, ``target_size``, ``classes``, ``features``) loaded."""
    return load_source(str(setup.get("source", "")), folder, target=setup.get("target"),
                       target_size=setup.get("target_size"), classes=setup.get("classes"),
                       features=setup.get("features"))


def only_classes(dataset: Dataset, classes: list[str]) -> Dataset:
    """The samples of ``classes`` alone, relabelled 0…n-1: a source task or a target task cut from one set."""
    missing = [c for c in classes if c not in dataset.class_names]
    if dataset.task != "classification" or missing:
        raise DataError(f"{dataset.name}: no class {missing[0] if missing else classes[0]!r} to keep; the classes "
                        f"are {', '.join(dataset.class_names) or '(none: not a classification source)'}")
    new_label = {dataset.class_names.index(c): i for i, c in enumerate(classes)}
    keep = np.flatnonzero(np.isin(dataset.y, list(new_label)))
    y = np.array([new_label[int(label)] for label in dataset.y[keep]], dtype="int64")
    return Dataset(dataset.name, dataset.x[keep], y, "classification", list(classes),
                   f"{dataset.description}; classes {', '.join(classes)} only")


def _labels(y: np.ndarray, name: str) -> tuple[np.ndarray, list[str], str]:
    """Integer class ids and names for class-like targets; float targets mean regression."""
    if y.dtype.kind in "fc" and not np.all(np.mod(y, 1) == 0):
        return y.astype("float32"), [], "regression"
    values = np.unique(y)
    if y.dtype.kind in "fc" and len(values) > 20:
        return y.astype("float32"), [], "regression"
    ids = np.searchsorted(values, y)
    return ids.astype("int64"), [str(v) for v in values], "classification"


def load_npz(path: Path) -> Dataset:
    """Arrays ``x`` and ``y``, or ``x_train``/``y_train`` with optional ``x_val``/``y_val``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable .npz archive of plain arrays ({exc})") from None
    x_key, y_key = ("x", "y") if "x" in arrays else ("x_train", "y_train")
    if x_key not in arrays or y_key not in arrays:
        raise DataError(f"{path}: expected arrays 'x' and 'y' (or 'x_train' and 'y_train'); "
                        f"found {', '.join(arrays) or 'none'}")
    x = arrays[x_key].astype("float32")
    y, classes, task = _labels(arrays[y_key], path.name)
    dataset = Dataset(path.stem, x, y, task, classes, f"arrays from {path.name}")
    if "x_val" in arrays and "y_val" in arrays:
        y_val = np.searchsorted(np.array(classes), arrays["y_val"].astype(str)) if classes else arrays["y_val"]
        dataset.validation = (arrays["x_val"].astype("float32"), np.asarray(y_val))
    return dataset


def load_csv(path: Path, target: str, features: list[str] | None = None) -> Dataset:
    """Numeric columns as they are, categorical ones one-hot, text hashed into buckets."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    if len(rows) < 2:
        raise DataError(f"{path}: needs a header row and at least one data row")
    header, body = rows[0], rows[1:]
    for name in [target, *(features or [])]:
        if name not in header:
            raise DataError(f"{path}: no column {name!r}; the columns are {', '.join(header)}")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(f"{path}, row {number}: {len(row)} values but the header has {len(header)} columns")
        for name, value in zip(header, row, strict=True):
            if not value.strip():
                raise DataError(f"{path}, row {number}, column {name!r}: missing value; fill or drop the row")
    columns = {name: [row[i] for row in body] for i, name in enumerate(header)}
    inputs = [_encode(name, columns[name]) for name in (features or [n for n in header if n != target])]
    x = np.concatenate(inputs, axis=1).astype("float32") if inputs else np.zeros((len(body), 0), "float32")
    raw = columns[target]
    numeric = _numbers(raw)
    y, classes, task = _labels(numeric if numeric is not None else np.array(raw), path.name)
    return Dataset(path.stem, x, y, task, classes, f"{path.name}, predicting {target!r}")


def _numbers(values: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(v) for v in values])
    except ValueError:
        return None


def _encode(name: str, values: list[str]) -> np.ndarray:
    numeric = _numbers(values)
    if numeric is not None:
        return numeric[:, None]
    categories = sorted(set(values))
    if len(categories) <= MAX_CATEGORIES:
        index = {c: i for i, c in enumerate(categories)}
        one_hot = np.zeros((len(values), len(categories)))
        one_hot[np.arange(len(values)), [index[v] for v in values]] = 1
        return one_hot
    buckets = np.zeros((len(values), TEXT_BUCKETS))  # words hashed stably: the same file, the same features
    for row, text in enumerate(values):
        for word in text.lower().split():
            buckets[row, zlib.crc32(word.encode()) % TEXT_BUCKETS] += 1
    return buckets
