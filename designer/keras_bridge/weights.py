"""Weights kept beside a project, keyed by layer path, so edits never scramble them.

A plain ``.npz`` archive (loaded with ``allow_pickle=False``) maps ``block/layer|i`` to the
i-th variable of that layer; keys starting with ``/`` (never a layer path: names cannot hold it)
are reserved for what else is kept with the weights. Loading matches by name and shape: a layer
the user changed since keeps its fresh initial weights and is reported, never silently half-loaded.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from designer.graph.project import NotARegularFile, ProjectFileError, open_regular_file, write_atomic


class WeightsFileError(ProjectFileError):
    """The weights file a project names cannot be used: unusable input, like a damaged project file."""

    def __init__(self, problem: str) -> None:
        super().__init__("", problem)


def layer_paths(model: keras.Model, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf layer but inputs, with its path through nested models (``features/b_dense``)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        path = prefix + layer.name
        if isinstance(layer, keras.Model):
            yield from layer_paths(layer, path + "/")
        else:
            yield path, layer


def collect_weights(model: keras.Model) -> dict[str, np.ndarray]:
    return {f"{path}|{i}": keras.ops.convert_to_numpy(w.value)
            for path, layer in layer_paths(model) for i, w in enumerate(layer.weights)}


def apply_weights(model: keras.Model, arrays: dict[str, np.ndarray]) -> list[str]:
    """Load what matches; return the paths of layers that kept their initial weights.

    A layer that derives what ``call`` uses from its variables (an adapted ``Normalization`` turns
    its mean and variance into constants) gets ``finalize_state()`` after loading, as Keras's own
    loaders do: otherwise it keeps computing with the values it was built with."""
    return [path for path, layer in layer_paths(model) if layer.weights and not load_layer(layer, path, arrays)]


def load_layer(layer: Any, path: str, arrays: dict[str, np.ndarray]) -> bool:
    """Load one built layer's weights from ``arrays`` (keys ``PATH|i``) if all are there with its shapes."""
    values = [arrays.get(f"{path}|{i}") for i in range(len(layer.weights))]
    if any(v is None or v.shape != tuple(w.shape) for v, w in zip(values, layer.weights, strict=False)):
        return False
    layer.set_weights(values)
    if callable(getattr(layer, "finalize_state", None)):
        layer.finalize_state()
    return True


def save_weights_file(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write atomically: a crash leaves the previous file, never half of a new one."""
    write_atomic(path, lambda fh: np.savez(fh, **arrays))


def content_name(stem: str, arrays: dict[str, np.ndarray]) -> str:
    """``STEM.HASH.weights.npz``, the hash over names, dtypes, shapes and values: new weights never
    take the name of the file a saved project already points to."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.data)
    return f"{stem}.{digest.hexdigest()[:16]}.weights.npz"


def load_weights_file(path: Path, prefix: str = "") -> dict[str, np.ndarray]:
    """The arrays whose keys start with ``prefix``; plain arrays only: a file holding Python objects is
    refused, never unpickled."""
    try:
        return _read_arrays(path, prefix)
    except FileNotFoundError:
        problem = "the project's weights file is missing; put it beside the project"
    except NotARegularFile:
        problem = "not a regular file (a pipe, device or socket)"
    except ValueError as exc:  # numpy refuses object arrays, and takes any other file for a pickle it refuses
        if "Object arrays" in str(exc) or "pickled" in str(exc):
            held = "Python objects" if "Object arrays" in str(exc) else "no NumPy arrays (a pickle, or another file)"
            problem = f"holds {held}; weights are read only as plain numeric arrays, never unpickled (that runs code)"
        else:
            problem = str(exc)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        problem = f"the weights file cannot be read, it is damaged or truncated ({exc})"
    raise WeightsFileError(f"{path}: {problem}; or import the model again, or remove \"weights\" from the "
                           "project to start from fresh weights")


def _read_arrays(path: Path, prefix: str) -> dict[str, np.ndarray]:
    with open_regular_file(path) as fh:
        data = np.load(fh, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive of named arrays")
        with data:
            return {key: data[key] for key in data.files if key.startswith(prefix)}
