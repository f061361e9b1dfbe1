"""Where a sweep's trials run: reusable warm workers, each with its share of the cores (and its own GPU
when there are several). Kept apart from the sweep (and Optuna) so a window can start them cheaply."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from designer.experiments.definition import Experiment
from designer.training.spec import TrainingSpec
from designer.training.worker import RunHandle

# What one worker takes: ~0.8 GiB resident with TensorFlow and Keras loaded and a small model trained,
# plus headroom for the model and its data.
WORKER_MEMORY_BYTES = int(1.5 * 2**30)


def usable_cores() -> int:
    """Cores this process may run on: a container's or ``taskset``'s share, not the whole machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes this process may still take: the machine's available memory (Linux), or less if its cgroup
    (a container's limit) leaves less; None where neither can be read."""
    sizes = []
    with contextlib.suppress(OSError, ValueError):
        meminfo = Path("/proc/meminfo").read_text(encoding="ascii")
        sizes += [int(line.split()[1]) * 1024 for line in meminfo.splitlines() if line.startswith("MemAvailable:")]
    with contextlib.suppress(OSError, ValueError, IndexError):
        group = Path("/proc/self/cgroup").read_text(encoding="ascii").split("0::", 1)[1].split()[0]
        folder = Path("/sys/fs/cgroup") / group.lstrip("/")
        limit = (folder / "memory.max").read_text(encoding="ascii").strip()
        if limit != "max":
            sizes.append(int(limit) - int((folder / "memory.current").read_text(encoding="ascii")))
    return max(0, min(sizes)) if sizes else None


def worker_limit(wanted: int) -> tuple[int, str]:
    """How many workers of ``wanted`` this process can run side by side: at most one per usable core and
    one per WORKER_MEMORY_BYTES of memory; with the reason when that is fewer."""
    cores, memory = usable_cores(), available_memory()
    by_memory = max(1, memory // WORKER_MEMORY_BYTES) if memory is not None else wanted
    workers = max(1, min(wanted, cores, by_memory))
    if workers == wanted:
        return workers, ""
    shown = f", {memory / 2**30:.1f} GiB memory free at {WORKER_MEMORY_BYTES / 2**30:.1f} GiB a worker" \
        if memory is not None else ""
    return workers, f"{cores} usable cores{shown}"


def gpu_count() -> int:
    """GPUs this machine shows, without starting a framework (``nvidia-smi``; 0 if absent)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "" or shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def worker_count(experiment: Experiment) -> tuple[int, str]:
    """The workers a sweep of ``experiment`` runs (never more than trials), with why when fewer than asked."""
    return worker_limit(min(experiment.workers, experiment.budget()))


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
