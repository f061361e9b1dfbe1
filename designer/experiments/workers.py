"""Where a sweep's trials run: reusable warm workers, each with its share of the cores (and its own GPU
when there are several). Kept apart from the sweep (and Optuna) so a window can start them cheaply."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from designer.experiments.definition import Experiment
from designer.training.spec import TrainingSpec
from designer.training.worker import RunHandle


def usable_cores() -> int:
    """Cores this process may run on: a container's or ``taskset``'s share, not the whole machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def gpu_count() -> int:
    """GPUs this machine shows, without starting a framework (``nvidia-smi``; 0 if absent)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "" or shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def worker_count(experiment: Experiment) -> int:
    return min(experiment.workers, experiment.budget())


def start_workers(count: int, spec: TrainingSpec) -> list[RunHandle]:
    """``count`` reusable workers, importing Keras from now on, each with its share of the cores (and its
    own GPU when there are several): a window makes them ahead, and its sweep then starts warm."""
    return [placed_worker(i, count, spec) for i in range(count)]


def placement(index: int, count: int, spec: TrainingSpec) -> dict[str, Any]:
    gpus = gpu_count() if spec.device in ("auto", "gpu") else 0
    return {"backend": spec.backend, "device": spec.device, "threads": max(1, usable_cores() // count),
            "gpu": index % gpus if gpus > 1 else None}


def placed_worker(index: int, count: int, spec: TrainingSpec) -> RunHandle:
    return RunHandle(reuse=True, **placement(index, count, spec))
