"""Running an experiment: trials in parallel warm workers, told to Optuna, recorded in MLflow.

Each worker imports Keras once and then trains one trial after another, with its thread pools
sized to its share of the cores (and its own GPU when there are several). This process owns
both stores (see the architecture guide): reader threads only pass worker events to the loop
below, which records them, reports epochs to the pruner and asks Optuna for the next trial.

Sweeps on several machines share one study (and budget): a thread here sends the running trials'
heartbeats, the loop fails and queues again any trial whose heartbeats stopped (``trial_failed``,
cause ``lost``), and a sweep with nothing left to start waits for other machines' running trials, which
may yet be lost and need running here.

``Sweep.run()`` yields events: ``sweep_started``, ``trial_started``, ``trial_epoch``,
``trial_finished``, ``trial_failed``, ``trial_pruned`` and, last, ``summary``.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from designer.experiments import compression
from designer.experiments.definition import Experiment, check_bindings
from designer.experiments.study import (
    default_storage,
    lost_trials,
    objective_value,
    open_study,
    running,
    spent,
    study_access,
    study_name,
)
from designer.experiments.trial import trial_project
from designer.experiments.workers import placed_worker, placement, worker_count
from designer.graph.project import Project, project_to_dict
from designer.graph.serialize import DocumentFormatError
from designer.training.spec import TrainingSpec, check_backend_installed
from designer.training.store_errors import store_access
from designer.training.stores import default_tracking_uri
from designer.training.worker import RunHandle

_TICK_S = 1.0
# Trials report their batches this often: the views plot epochs, and the one recording process
# should not spend the cores the trials need on many trials' step metrics.
TRIAL_BATCH_EVENTS_PER_SECOND = 2.0
LOST = "its sweep stopped sending heartbeats (its process or machine is gone); its values run again as a new trial"


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
    compress: dict[str, Any] | None = None  # the compression the trial's values ask for (compress.*)
    trained: dict[str, Any] | None = None  # its finished event, kept while its model is being compressed


class Sweep:
    def __init__(self, project: Project, folder: Path, experiment: Experiment, *, storage: str | None = None,
                 tracking_uri: str | None = None, training: dict[str, Any] | None = None,
                 data: dict[str, Any] | None = None, catalog: Any = None,
                 workers: list[RunHandle] | None = None, keep_workers: bool = False) -> None:
        """Check the experiment against the project; ``DocumentFormatError`` names what does not fit.
        ``training``/``data`` override the project's for every trial (e.g. fewer epochs). ``workers``:
        warm ones (``start_workers``) to run the trials in where they suit; ``keep_workers``: leave the idle
        ones running at the end, in ``kept``, for the next sweep, instead of closing them."""
        check_bindings(experiment, project.document, catalog)
        self.warm, self.keep_workers, self.kept = list(workers or []), keep_workers, []
        self.stage = "checking the experiment…"  # what the sweep is doing before its trials report (any thread reads)
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
        self.count, limit = worker_count(experiment)
        workers = self.count
        self.workers = {"workers": workers, "workers_requested": experiment.workers, "workers_limit": limit}
        # The workers import Keras (seconds) while this process opens the stores.
        adopted = [self._adopt(i) for i in range(workers)]
        self.cold = sum(h is None for h in adopted)
        self._say(f"starting {self.cold} worker{'s' * (self.cold > 1)}" if self.cold else "taking the warm workers")
        self.slots = [_Slot(i, handle or self._worker(i)) for i, handle in enumerate(adopted)]
        for handle in self.warm:  # warm ones that do not suit this sweep (another backend, device, share)
            handle.close()
        self.warm = []
        self._say("creating the study")
        try:
            self.study = study = open_study(experiment, self.name, self.storage, self.spec.epochs)
        except BaseException:
            for slot in self.slots:
                slot.handle.kill()
            raise
        self._say("opening the run store")  # MLflow's first run in a new store creates its tables
        lost = lost_trials(study)  # left by a sweep that died since the study last ran
        yield {"event": "sweep_started", "experiment": experiment.name, "study": self.name, "storage": self.storage,
               "tracking_uri": self.tracking_uri, "strategy": experiment.strategy, "budget": budget,
               "done_before": spent(study), **self.workers, "threads_per_worker": self.slots[0].handle.threads,
               "objective": experiment.objective, "direction": "maximize" if experiment.maximize else "minimize"}
        self.ended = threading.Event()  # ends this run's heartbeat thread
        threading.Thread(target=self._beat, args=(self.ended,), daemon=True, name="sweep-heartbeats").start()
        checked = time.monotonic()
        try:
            yield from map(self._lost, lost)
            while True:
                for slot in self.slots:
                    if slot.trial is None and self._may_start(budget, started):
                        yield from self._start(slot, budget)
                if all(slot.trial is None for slot in self.slots) and not self._others_running(started):
                    break
                if time.monotonic() - checked > experiment.heartbeat_s:
                    yield from map(self._lost, lost_trials(study))
                    checked = time.monotonic()
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
            self.ended.set()
            for slot in self.slots:
                if self.keep_workers and slot.handle.idle:
                    self.kept.append(slot.handle)
                else:
                    slot.handle.close()
        yield self._summary(time.monotonic() - started)

    def _say(self, doing: str) -> None:
        """The stage a window shows until the first trial trains: the store work, and the workers' import."""
        loading = f" ({self.cold} loading TensorFlow)" if self.cold else ""
        self.stage = f"{doing}…{loading}"

    def _worker(self, index: int) -> RunHandle:
        return placed_worker(index, self.count, self.spec)

    def _adopt(self, index: int) -> RunHandle | None:
        """A warm worker placed as this sweep would place its ``index``-th one, if one is waiting."""
        wanted = placement(index, self.count, self.spec)
        for handle in self.warm:
            if handle.idle and all(getattr(handle, key) == value for key, value in wanted.items()):
                self.warm.remove(handle)
                return handle
        return None

    def _open(self, started: float) -> bool:
        """Neither stopped nor out of time."""
        timeout = self.experiment.timeout_s
        return not self.stopping and (timeout is None or time.monotonic() - started < timeout)

    def _may_start(self, budget: int, started: float) -> bool:
        return self._open(started) and spent(self.study) < budget

    def _others_running(self, started: float) -> bool:
        """Trials of other sweeps still run (this one has none): they end, or go silent and run again here."""
        return self._open(started) and running(self.study) > 0

    def _beat(self, ended: threading.Event) -> None:
        """Tell the study every running trial of this sweep is alive, whatever the loop is busy with."""
        while not ended.wait(self.experiment.heartbeat_s):
            for trial in [slot.trial for slot in self.slots]:
                if trial is not None:
                    try:
                        self.study._storage.record_heartbeat(trial._trial_id)
                    except Exception:  # the store is gone for now: the loop meets it too and says so
                        break

    def _start(self, slot: _Slot, budget: int) -> Iterator[dict[str, Any]]:
        """Ask for a trial and start it, or give it back if other sweeps took the budget's last trials
        between our count and the ask (each counts the trials numbered before its own)."""
        from optuna.trial import TrialState

        from designer.training.session import RecordedRun

        with warnings.catch_warnings():  # heartbeats are ours to send: Optuna expects only optimize() to
            warnings.simplefilter("ignore", UserWarning)
            trial = self.study.ask()
        self.study._storage.record_heartbeat(trial._trial_id)  # a trial never heard from could never be lost
        if spent(self.study, before=trial.number) >= budget:
            self.study.tell(trial, state=TrialState.FAIL)  # without a cause: it never counts
            return
        values = {h.key: h.suggest(trial) for h in self.experiment.hyperparameters()}
        if not slot.handle.idle:  # its process died with the last trial
            slot.handle.close()
            slot.handle = self._worker(slot.index)
        shown = {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}
        slot.trial, slot.values, slot.ending, slot.epochs_done, slot.last_value = trial, shown, "", 0, None
        slot.compress, slot.trained = compression.options(values), None
        try:
            project, training = trial_project(self.project, values)
            slot.run = RecordedRun(project, self.folder, training={**self.training, **training}, data=self.data,
                                   tracking_uri=self.tracking_uri, warm=slot.handle, snapshot=project_to_dict(project),
                                   experiment=self.name, params=shown,
                                   batch_events_per_second=TRIAL_BATCH_EVENTS_PER_SECOND, resumable=False,
                                   tags={"experiment": self.experiment.name, "trial": str(trial.number)})
        except DocumentFormatError as exc:  # options or a network this trial's values make invalid: it fails alone
            self._tell_failed(slot, "options", str(exc))
            yield {"event": "trial_failed", "trial": trial.number, "params": shown, "cause": "options",
                   "message": str(exc)}
            return
        if self.stage:
            self._say("first trials starting: loading their data")
        trial.set_user_attr("run_id", slot.run.run_id)
        trial.set_user_attr("epochs", slot.run.spec.epochs)
        handle = slot.run.handle  # the warm worker, or a new one when the trial changes backend or device
        threading.Thread(target=self._pump, args=(slot, handle), daemon=True, name=f"trial-{trial.number}").start()
        yield {"event": "trial_started", "trial": trial.number, "params": shown, "run_id": slot.run.run_id,
               "worker": slot.index, "pid": handle.process.pid, "epochs": slot.run.spec.epochs}

    def _pump(self, slot: _Slot, handle: RunHandle) -> None:
        for event in handle.events():
            self.events.put((slot, handle, event))

    def _handle(self, slot: _Slot, event: dict[str, Any]) -> Iterator[dict[str, Any]]:
        kind, trial = event["event"], slot.trial
        if kind == "compressed":
            yield self._compressed(slot, event)
            return
        event = slot.run.record(event)
        if kind == "started":  # a worker has Keras and the data: the trials report from now on
            self.cold, self.stage = 0, ""
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
        elif kind == "finished" and slot.compress:
            yield self._compress(slot, event)
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

    def _compress(self, slot: _Slot, event: dict[str, Any]) -> dict[str, Any]:
        """The trial trained: compress its model in a process of its own; the trial ends when that reports."""
        slot.trained = event
        chosen, handle = dict(slot.compress or {}), slot.run.handle
        data = compression.data_arguments({**self.project.data, **self.data}, self.folder)

        def work() -> None:
            result = compression.compress_run(self.tracking_uri, event["run_id"], chosen, data)
            self.events.put((slot, handle, {"event": "compressed", **result}))

        threading.Thread(target=work, daemon=True, name=f"trial-{slot.trial.number}-compress").start()
        return {"event": "trial_compressing", "trial": slot.trial.number, "params": slot.values,
                "run_id": event["run_id"], **slot.compress}

    def _compressed(self, slot: _Slot, result: dict[str, Any]) -> dict[str, Any]:
        """Record the variant (this process owns the store) and end the trial with its figures, or fail it."""
        event, chosen = slot.trained or {}, slot.compress or {}
        if "error" in result:
            message = f"trained, but {chosen.get('method')} compression failed: {result['error']}"
            failed = {"event": "trial_failed", "trial": slot.trial.number, "params": slot.values, "cause": "compress",
                      "message": message, "run_id": event.get("run_id")}
            self._tell_failed(slot, "compress", message)
            return failed
        try:
            with store_access(self.tracking_uri):
                figures = compression.record(self.tracking_uri, event["run_id"], result["report"], chosen)
        finally:
            shutil.rmtree(result["scratch"], ignore_errors=True)
        return self._finished(slot, {**event, "metrics": {**event.get("metrics", {}), **figures}})

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

    def _lost(self, trial: Any) -> dict[str, Any]:
        """A trial whose sweep went silent: its run record, left running, ends as lost."""
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        run_id = trial.user_attrs.get("run_id")
        if run_id:
            client = MlflowClient(self.tracking_uri)
            try:
                if client.get_run(run_id).info.status == "RUNNING":
                    for key, value in (("status", "failed"), ("failure_cause", "lost"), ("failure_message", LOST)):
                        client.set_tag(run_id, key, value)
                    client.set_terminated(run_id, "KILLED")
            except MlflowException:  # recorded in another store than this sweep's
                pass
        return {"event": "trial_failed", "trial": trial.number, "params": trial.params, "cause": "lost",
                "message": LOST, "run_id": run_id}

    def _interrupt(self) -> None:
        from optuna.trial import TrialState

        for slot in self.slots:
            if slot.trial is None or self.study._storage.get_trial(slot.trial._trial_id).state != TrialState.RUNNING:
                continue
            if slot.run is not None and slot.trained is None:  # a trained one being compressed is recorded
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
