"""What a compressed artifact weighs, how fast it runs on this machine, and how well it predicts the test
split, each measured on the reloaded artifact itself, never estimated."""

from __future__ import annotations

import gzip
import io
import statistics
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from designer.export.probes import Loaded
from designer.inspection.common import predicted_classes

LATENCY_BATCHES = (1, 32)
LATENCY_RUNS = 7  # the median of this many timed calls, after one warm-up call
PREDICT_BATCH = 256


def size_bytes(path: Path) -> int:
    """A file's size, or a folder's total."""
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def compressed_bytes(path: Path) -> int:
    """What the artifact costs to ship: a file gzipped, a folder zipped (both at the strongest level)."""
    if path.is_file():
        return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            archive.write(item, item.relative_to(path))
    return len(buffer.getvalue())


def _first_output(outputs: Mapping[str, Any] | Any) -> np.ndarray:
    values = list(outputs.values()) if isinstance(outputs, Mapping) else list(outputs)
    return np.asarray(values[0])


def predict(loaded: Loaded, x: np.ndarray) -> np.ndarray:
    """The artifact's first output for every sample, in batches."""
    names, run = loaded
    return np.concatenate([_first_output(run({names[0]: x[i:i + PREDICT_BATCH]}))
                           for i in range(0, len(x), PREDICT_BATCH)])


def latency_ms(loaded: Loaded, x: np.ndarray, batches: tuple[int, ...] = LATENCY_BATCHES) -> dict[str, float]:
    """Median wall time of one call, per batch size, in milliseconds."""
    names, run = loaded
    timings = {}
    for batch in batches:
        feeds = {names[0]: np.resize(x, (batch, *x.shape[1:])).astype(x.dtype)}
        run(feeds)
        runs = []
        for _ in range(LATENCY_RUNS):
            start = time.perf_counter()
            run(feeds)
            runs.append((time.perf_counter() - start) * 1000)
        timings[str(batch)] = round(statistics.median(runs), 4)
    return timings


def metrics(scores: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """Accuracy for classifiers, mean absolute error otherwise."""
    if task == "classification":
        return {"accuracy": float(np.mean(predicted_classes(scores) == y))}
    return {"mae": float(np.mean(np.abs(scores.reshape(len(y), -1) - np.asarray(y).reshape(len(y), -1))))}


def agreement(scores: np.ndarray, baseline: np.ndarray, task: str) -> float | None:
    """The share of test samples whose top-1 class is the float model's (classifiers only)."""
    if task != "classification":
        return None
    return float(np.mean(predicted_classes(scores) == predicted_classes(baseline)))
