"""Running an experiment: trials in parallel warm workers, told to Optuna, recorded in MLflow.

Each worker imports Keras once and then trains one trial after another, with its thread pools
sized to its share of the cores (and its own GPU when there are several). This process owns
both stores (see the architecture guide): reader threads only pass worker events to the loop
below, which records them, reports epochs to the pruner and asks Optuna for the next trial.

``Sweep.run()`` yields events: ``sweep_started``, ``trial_started``, ``trial_epoch``,
``trial_finished``, ``trial_failed``, ``trial_pruned`` and, last, ``summary``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from designer.experiments.definition import Experiment, check_bindings
from designer.experiments.study import default_storage, objective_value, open_study, spent, study_access, study_name
from designer.experiments.trial import trial_project
from designer.graph.project import Project, project_to_dict
from designer.graph.serialize import DocumentFormatError
from designer.training.spec import TrainingSpec, check_backend_installed
from designer.training.store_errors import store_access
from designer.training.stores import default_tracking_uri
from designer.training.worker import RunHandle

_TICK_S = 1.0
# What one worker takes: ~0.8 GiB resident with TensorFlow and Keras loaded and a small model trained,
# plus headroom for the model and its data.
WORKER_MEMORY_BYTES = int(1.5 * 2**30)
# Trials report their batches this often: the views plot epochs, and the one recording process
# should not spend the cores the trials need on many trials' step metrics.
TRIAL_BATCH_EVENTS_PER_SECOND = 2.0


@dataclass
class _Slot:
    """One worker and the trial it is running, if any."""

    index: int
    handle: RunHandle
    trial: Any = None
    run: Any = None
    values: dict[str, Any] | None = None
    ending: str = ""  # why we asked it to stop: prune, cancel or stop
    epochs_done: int = 0
    last_value: float | None = None


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


class Sweep:
    def __init__(self, project: Project, folder: Path, experiment: Experiment, *, storage: str | None = None,
                 tracking_uri: str | None = None, training: dict[str, Any] | None = None,
                 data: dict[str, Any] | None = None, catalog: Any = None) -> None:
        """Check the experiment against the project; ``DocumentFormatError`` names what does not fit.
        ``training``/``data`` override the project's for every trial (e.g. fewer epochs)."""
        check_bindings(experiment, project.document, catalog)
        self.project, self.folder, self.experiment = project, folder, experiment
        self.training, self.data = dict(training or {}), dict(data or {})
        self.spec = TrainingSpec.from_dict({**project.training, **self.training})
        check_backend_installed(self.spec.backend)
        self.storage = storage or default_storage(folder)
        self.tracking_uri = tracking_uri or default_tracking_uri(folder)
        self.name = study_name(project.name, experiment.name)
        self.slots: list[_Slot] = []
        self.events: queue.Queue[tuple[_Slot, RunHandle, dict[str, Any]]] = queue.Queue()
        self.stopping = False
        self.lock = threading.Lock()  # cancel/kill/stop arrive from other threads (the window)

    # ---- control, from any thread ----------------------------------------------------------
    def stop(self) -> None:
        """Start no more trials; running ones stop after their batch and are queued again for a resume."""
        with self.lock:
            self.stopping = True
            for slot in self.slots:
                if slot.trial is not None:
                    slot.ending = slot.ending or "stop"
                    slot.run.handle.stop()

    def cancel(self, number: int) -> None:
        """Stop one trial after its current batch; it counts as failed (cause ``cancelled``)."""
        with self.lock:
            for slot in self.slots:
                if slot.trial is not None and slot.trial.number == number:
                    slot.ending = "cancel"
                    slot.run.handle.stop()

    def kill(self, number: int) -> None:
        """End one trial's worker at once; the trial fails (cause ``killed``) and a fresh worker takes its place."""
        with self.lock:
            for slot in self.slots:
                if slot.trial is not None and slot.trial.number == number:
                    slot.run.handle.kill()

    # ---- the loop ---------------------------------------------------------------------------
    def run(self) -> Iterator[dict[str, Any]]:
        """The sweep's events; ``StoreError`` (one line, the store and the fix) if a store fails on the way."""
        with study_access(self.storage):
            yield from self._run()

    def _run(self) -> Iterator[dict[str, Any]]:
        experiment = self.experiment
        budget, started = experiment.budget(), time.monotonic()
        workers, limit = worker_limit(min(experiment.workers, budget))
        self.workers = {"workers": workers, "workers_requested": experiment.workers, "workers_limit": limit}
        self.threads, self.gpus = max(1, usable_cores() // workers), gpu_count()
        # The workers import Keras (seconds) while this process opens the stores.
        self.slots = [_Slot(i, self._worker(i)) for i in range(workers)]
        try:
            self.study = study = open_study(experiment, self.name, self.storage, self.spec.epochs)
        except BaseException:
            for slot in self.slots:
                slot.handle.kill()
            raise
        yield {"event": "sweep_started", "experiment": experiment.name, "study": self.name, "storage": self.storage,
               "tracking_uri": self.tracking_uri, "strategy": experiment.strategy, "budget": budget,
               "done_before": spent(study), **self.workers, "threads_per_worker": self.threads,
               "objective": experiment.objective, "direction": "maximize" if experiment.maximize else "minimize"}
        heartbeat = 0.0
        try:
            while True:
                for slot in self.slots:
                    if slot.trial is None and self._may_start(budget, started):
                        yield self._start(slot)
                if all(slot.trial is None for slot in self.slots):
                    break
                if time.monotonic() - heartbeat > 2:
                    for slot in self.slots:
                        if slot.trial is not None:
                            study._storage.record_heartbeat(slot.trial._trial_id)
                    heartbeat = time.monotonic()
                try:
                    slot, handle, event = self.events.get(timeout=_TICK_S)
                except queue.Empty:
                    continue
                if slot.run is not None and handle is slot.run.handle:
                    yield from self._handle(slot, event)
        except BaseException:  # Ctrl+C, or the caller closed the generator: the running trials run again later
            self._interrupt()
            raise
        finally:
            for slot in self.slots:
                slot.handle.close()
        yield self._summary(time.monotonic() - started)

    def _worker(self, index: int) -> RunHandle:
        return RunHandle(self.spec.backend, self.spec.device, reuse=True, threads=self.threads,
                         gpu=index % self.gpus if self.gpus > 1 and self.spec.device in ("auto", "gpu") else None)

    def _may_start(self, budget: int, started: float) -> bool:
        timeout = self.experiment.timeout_s
        return not self.stopping and (timeout is None or time.monotonic() - started < timeout) and \
            spent(self.study) < budget

    def _start(self, slot: _Slot) -> dict[str, Any]:
        from designer.training.session import RecordedRun

        with warnings.catch_warnings():  # heartbeats are ours to send: Optuna expects only optimize() to
            warnings.simplefilter("ignore", UserWarning)
            trial = self.study.ask()
        values = {h.key: h.suggest(trial) for h in self.experiment.hyperparameters()}
        if not slot.handle.idle:  # its process died with the last trial
            slot.handle.close()
            slot.handle = self._worker(slot.index)
        shown = {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}
        slot.trial, slot.values, slot.ending, slot.epochs_done, slot.last_value = trial, shown, "", 0, None
        try:
            project, training = trial_project(self.project, values)
            slot.run = RecordedRun(project, self.folder, training={**self.training, **training}, data=self.data,
                                   tracking_uri=self.tracking_uri, warm=slot.handle, snapshot=project_to_dict(project),
                                   experiment=self.name, params=shown,
                                   batch_events_per_second=TRIAL_BATCH_EVENTS_PER_SECOND, resumable=False,
                                   tags={"experiment": self.experiment.name, "trial": str(trial.number)})
        except DocumentFormatError as exc:  # options or a network this trial's values make invalid: it fails alone
            self._tell_failed(slot, "options", str(exc))
            return {"event": "trial_failed", "trial": trial.number, "params": shown, "cause": "options",
                    "message": str(exc)}
        trial.set_user_attr("run_id", slot.run.run_id)
        trial.set_user_attr("epochs", slot.run.spec.epochs)
        handle = slot.run.handle  # the warm worker, or a new one when the trial changes backend or device
        threading.Thread(target=self._pump, args=(slot, handle), daemon=True, name=f"trial-{trial.number}").start()
        return {"event": "trial_started", "trial": trial.number, "params": shown, "run_id": slot.run.run_id,
                "worker": slot.index, "pid": handle.process.pid, "epochs": slot.run.spec.epochs}

    def _pump(self, slot: _Slot, handle: RunHandle) -> None:
        for event in handle.events():
            self.events.put((slot, handle, event))

    def _handle(self, slot: _Slot, event: dict[str, Any]) -> Iterator[dict[str, Any]]:
        kind, trial = event["event"], slot.trial
        event = slot.run.record(event)
        if kind == "epoch":
            slot.epochs_done = event["epoch"]
            value = event.get(self.experiment.objective)
            yield {**event, "event": "trial_epoch", "trial": trial.number, "epochs": self.spec.epochs}
            if value is not None:
                slot.last_value = value
                trial.report(float(value), event["epoch"])
                if self.experiment.pruner != "none" and not slot.ending and trial.should_prune():
                    slot.ending = "prune"
                    slot.run.handle.stop()
        elif kind == "finished":
            yield self._finished(slot, event)
        elif kind == "failed":
            yield self._failed(slot, event)

    def _finished(self, slot: _Slot, event: dict[str, Any]) -> dict[str, Any]:
        trial, metric = slot.trial, self.experiment.objective
        value = objective_value(event, metric)
        final = {k: v[-1] for k, v in event.get("history", {}).items() if v}
        attrs = {"parameters": event.get("parameters"), "duration_s": round(event["duration_s"], 2),
                 "metrics": {**final, **event.get("metrics", {})}}
        for key, attr in attrs.items():
            trial.set_user_attr(key, attr)
        if value is None:
            message = (f"the objective {metric!r} is not among the run's metrics "
                       f"({', '.join(attrs['metrics']) or 'none'}); pick one of them")
            self._tell_failed(slot, "objective", message)
            return {"event": "trial_failed", "trial": trial.number, "params": slot.values, "cause": "objective",
                    "message": message, "run_id": event["run_id"]}
        self.study.tell(trial, value)
        out = {"event": "trial_finished", "trial": trial.number, "params": slot.values, "objective": value,
               "run_id": event["run_id"], **attrs}
        self._free(slot)
        return out

    def _failed(self, slot: _Slot, event: dict[str, Any]) -> dict[str, Any]:
        from optuna.trial import TrialState

        trial, ending = slot.trial, slot.ending
        base = {"trial": trial.number, "params": slot.values, "run_id": event.get("run_id")}
        if ending == "prune":
            with store_access(self.tracking_uri):  # not to be taken for the study store's failure
                slot.run.recorder.client.set_tag(event["run_id"], "status", "pruned")
            self.study.tell(trial, state=TrialState.PRUNED)
            self._free(slot)
            return {"event": "trial_pruned", **base, "epoch": slot.epochs_done, "objective": slot.last_value}
        if ending == "stop":  # the whole experiment was stopped: this trial runs again on resume
            self._requeue(slot)
            return {"event": "trial_failed", **base, "cause": "stopped",
                    "message": "stopped with the experiment; it runs again when the experiment resumes"}
        cause = "cancelled" if ending == "cancel" else event.get("cause", "crash")
        message = "cancelled by request" if ending == "cancel" else event.get("message", "")
        self._tell_failed(slot, cause, message)
        return {"event": "trial_failed", **base, "cause": cause, "message": message}

    def _tell_failed(self, slot: _Slot, cause: str, message: str) -> None:
        from optuna.trial import TrialState

        slot.trial.set_user_attr("cause", cause)
        slot.trial.set_user_attr("message", message[:2000])
        self.study.tell(slot.trial, state=TrialState.FAIL)
        self._free(slot)

    def _requeue(self, slot: _Slot) -> None:
        """Fail the trial without a cause (not counted) and queue its values to run again."""
        from optuna.trial import TrialState

        self.study.tell(slot.trial, state=TrialState.FAIL)
        self.study.enqueue_trial(dict(slot.trial.params), user_attrs={"retry_of": slot.trial.number})
        self._free(slot)

    def _free(self, slot: _Slot) -> None:
        slot.trial = slot.run = slot.values = None

    def _interrupt(self) -> None:
        from optuna.trial import TrialState

        for slot in self.slots:
            if slot.trial is None or self.study._storage.get_trial(slot.trial._trial_id).state != TrialState.RUNNING:
                continue
            if slot.run is not None:
                slot.run.handle.kill()
                slot.run.record({"event": "failed", "cause": "interrupted", "message": "the sweep was interrupted"})
            self._requeue(slot)

    def _summary(self, duration: float) -> dict[str, Any]:
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        counts = {state.name.lower(): sum(t.state == state for t in trials)
                  for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        best = None
        if complete:
            t = self.study.best_trial
            best = {"trial": t.number, "params": t.params, "objective": t.value, "run_id": t.user_attrs.get("run_id")}
        return {"event": "summary", "experiment": self.experiment.name, "study": self.name,
                "objective": self.experiment.objective, "best": best, "trials": counts,
                "duration_s": round(duration, 2), "storage": self.storage, "tracking_uri": self.tracking_uri,
                **self.workers}
