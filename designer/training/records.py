"""Run records in MLflow's tracking store: ``sqlite:///runs.db`` beside the project by default.

The parent process owns the store (creating a SQLite store from two processes at once
fails, and SQLite serialises writers), so the worker only sends events and files; this
recorder turns them into params, step and epoch metrics, artifacts, status and tags.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.file_utils import local_file_uri_to_path

from designer.training.failures import disk_full
from designer.training.liveness import gone, process_tags
from designer.training.store_errors import open_client, store_access
from designer.training.worker import BEST

logging.getLogger("mlflow").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)
# Against a tracking server, MLflow prints a link to stdout for every run that ends, where `--json` promises
# only JSON lines.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

FLUSH_METRICS, FLUSH_MS = 900, 1000  # MLflow takes up to 1,000 metrics in one log_batch


def network_hash(graph: dict[str, Any]) -> str:
    """A fingerprint of the network alone (positions and notes do not change what trains)."""
    def strip(g: dict[str, Any]) -> dict[str, Any]:
        nodes = [{k: (strip(v) if k == "block" else v) for k, v in n.items() if k not in ("position", "note")}
                 for n in g["nodes"]]
        return {**g, "nodes": nodes}
    return hashlib.sha256(json.dumps(strip(graph), sort_keys=True).encode()).hexdigest()[:16]


def artifact_root(tracking_uri: str) -> str | None:
    """Where a local store's runs keep their files: beside its database (for the default store, beside the
    project). MLflow's own default, ``./mlruns``, is whatever folder the command happened to run in. None for a
    server, which keeps its own artifact store."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return (Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlruns").resolve().as_uri()


class RunRecorder:
    """One MLflow run fed from worker events."""

    def __init__(self, tracking_uri: str, experiment: str) -> None:
        """``StoreError`` (within seconds) if the store cannot be used."""
        self.client = open_client(tracking_uri)
        with store_access(tracking_uri):
            self.experiment_id = self._experiment(experiment, artifact_root(tracking_uri))
        self.run_id = self.artifact_folder = ""
        self.step = 0
        self.pending: list[Metric] = []
        self.flushed_ms = 0

    def _experiment(self, name: str, artifact_location: str | None) -> str:
        """The experiment's id, made if new. Sweeps on several machines start together: all may find none,
        and all but the first to create it are told it exists."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(name).experiment_id

    def start(self, params: dict[str, Any], tags: dict[str, str]) -> str:
        """A new run, tagged with this (the recording) process so a later reader can tell if it died."""
        run = self.client.create_run(self.experiment_id, tags={**tags, **process_tags("recorder", os.getpid())})
        self.run_id = run.info.run_id
        self.artifact_folder = local_file_uri_to_path(run.info.artifact_uri)  # where a local store copies files
        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        return self.run_id

    def worker(self, pid: int) -> None:
        """Note the worker process that trains this run."""
        self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in process_tags("worker", pid).items()])

    def event(self, event: dict[str, Any], now_ms: int) -> None:
        kind = event["event"]
        if kind == "started":
            self.client.log_batch(self.run_id, tags=[RunTag("backend", str(event["backend"])),
                                                     RunTag("device", str(event["device"]))])
        elif kind == "batch":
            self.step += 1
            self.pending += [Metric(f"batch_{k}", float(v), now_ms, self.step) for k, v in event.items()
                             if k not in ("event", "epoch", "step", "steps") and isinstance(v, (int, float))]
            if len(self.pending) >= FLUSH_METRICS or now_ms - self.flushed_ms >= FLUSH_MS:
                self.flush(now_ms)
        elif kind == "epoch":
            self.pending += [Metric(k, float(v), now_ms, event["epoch"]) for k, v in event.items()
                             if k not in ("event", "epoch", "wall_time") and isinstance(v, (int, float))]
            self.flush(now_ms)

    def flush(self, now_ms: int) -> None:
        """One write for many metrics: a SQLite transaction per batch event would slow whoever records."""
        for start in range(0, len(self.pending), FLUSH_METRICS):
            self.client.log_batch(self.run_id, metrics=self.pending[start:start + FLUSH_METRICS])
        self.pending = []
        self.flushed_ms = now_ms

    def finish(self, event: dict[str, Any], outputs: Path | None, now_ms: int) -> dict[str, Any]:
        """Record the run's end and its files; returns the terminal event as recorded: a run whose files do
        not fit on the disk failed (cause ``disk``), whatever its worker said."""
        self.flush(now_ms)
        if outputs is not None and outputs.is_dir() and any(outputs.iterdir()):
            try:
                self.client.log_artifacts(self.run_id, str(outputs))
            except OSError as exc:
                full = disk_full(exc, Path(self.artifact_folder))
                if full is None:
                    raise
                event = {**event, "event": "failed", "cause": "disk", "message": full}
        if event["event"] == "finished":
            self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now_ms, 0)
                                                        for k, v in event["metrics"].items()])
        cause = event.get("cause", "")
        self.client.set_tag(self.run_id, "status", "finished" if event["event"] == "finished"
                            else "stopped" if cause == "stopped" else "failed")
        if cause:
            self.client.set_tag(self.run_id, "failure_cause", cause)
            self.client.set_tag(self.run_id, "failure_message", str(event.get("message", ""))[:4000])
        status = "FINISHED" if event["event"] == "finished" else ("KILLED" if cause in ("stopped", "killed")
                                                                    else "FAILED")
        self.client.set_terminated(self.run_id, status)
        return event


def list_runs(tracking_uri: str, experiment: str | None = None) -> list[dict[str, Any]]:
    """Runs newest first (of one MLflow experiment, or all): id, times, status, params, final metrics, tags.
    A run still RUNNING whose processes are gone is marked failed first; ``StoreError`` if the store is unusable."""
    client = open_client(tracking_uri)
    with store_access(tracking_uri):
        if experiment is not None:
            found = client.get_experiment_by_name(experiment)
            experiments = [found] if found is not None else []
        else:
            experiments = client.search_experiments()
        if not experiments:
            return []
        names = {e.experiment_id: e.name for e in experiments}
        runs = client.search_runs(list(names), order_by=["attributes.start_time DESC"], max_results=5000)
        return [_settled(client, _run_entry(r, names.get(r.info.experiment_id, ""))) for r in runs]


def _settled(client: MlflowClient, entry: dict[str, Any]) -> dict[str, Any]:
    """A run that says RUNNING though nothing runs it any more is failed: record that (if the store takes
    writes) and show it."""
    tags = entry["tags"]
    if entry["status"] != "running" or not gone(tags):
        return entry
    message = (f"its processes (pid {tags.get('recorder_pid')}, worker {tags.get('worker_pid', '?')} on "
               f"{tags['host']}) ended without recording a result: killed, crashed or the machine restarted")
    ended = {"status": "failed", "failure_cause": "killed", "failure_message": message}
    try:
        client.log_batch(entry["run_id"], tags=[RunTag(k, v) for k, v in ended.items()])
        client.set_terminated(entry["run_id"], "FAILED")
    except Exception as exc:  # a read-only store: still show the truth
        logging.getLogger(__name__).warning("could not mark run %s failed: %s", entry["run_id"], exc)
    return {**entry, "status": "failed", "failure": message, "tags": {**tags, **ended}}


def _run_entry(run: Any, experiment: str) -> dict[str, Any]:
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    return {"run_id": run.info.run_id, "experiment": experiment, "start_ms": run.info.start_time,
            "end_ms": run.info.end_time, "status": tags.get("status", run.info.status.lower()),
            "failure": tags.get("failure_message", ""), "params": dict(run.data.params),
            "metrics": {k: v for k, v in run.data.metrics.items() if not k.startswith("batch_")}, "tags": tags}


def find_run(tracking_uri: str, ref: str) -> dict[str, Any]:
    """A run by its id or a unique prefix of it (as ``runs list`` shows them); ``LookupError`` otherwise."""
    from mlflow.exceptions import MlflowException

    if len(ref) == 32:  # a whole id: one lookup, not a listing of the store
        client = open_client(tracking_uri)
        with store_access(tracking_uri):
            try:
                run = client.get_run(ref)
            except MlflowException:
                raise LookupError(f"{ref!r} matches no runs in {tracking_uri}") from None
            return _settled(client, _run_entry(run, client.get_experiment(run.info.experiment_id).name))
    matches = [r for r in list_runs(tracking_uri) if r["run_id"].startswith(ref)]
    if len(matches) != 1:
        raise LookupError(f"{ref!r} matches {len(matches) or 'no'} runs in {tracking_uri}"
                          + ("; give more of the id" if matches else ""))
    return matches[0]


def epoch_history(tracking_uri: str, run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Each epoch-level metric of a run as (epoch, value) pairs, to draw its curves again."""
    client = MlflowClient(tracking_uri)
    names = [k for k in client.get_run(run_id).data.metrics if not k.startswith(("batch_", "test_"))]
    return {name: [(m.step, m.value) for m in sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)]
            for name in names}


def download_run(tracking_uri: str, ref: str, folder: Path) -> Path:
    """A run's recorded files (checkpoints, project snapshot, history) copied into ``folder``. The run is
    looked up as ``runs show`` does (an id or a unique prefix): ``LookupError`` if none matches, ``StoreError``
    within seconds if the store cannot be used."""
    import mlflow

    run_id = find_run(tracking_uri, ref)["run_id"]
    with store_access(tracking_uri):
        return Path(mlflow.artifacts.download_artifacts(run_id=run_id, tracking_uri=tracking_uri,
                                                        dst_path=str(folder)))


def download_trained_model(tracking_uri: str, run_id: str, folder: Path) -> Path:
    """The run's project snapshot and its best checkpoint (else its final model) copied into ``folder``: a
    run folder ``netdesigner export`` takes, without the run's other checkpoints and files. The window calls
    this with the store it already has open, so its export process need not import MLflow and open it too."""
    import mlflow

    names = {item.path for item in MlflowClient(tracking_uri).list_artifacts(run_id)}
    model = next((name for name in (BEST, "model.keras") if name in names), None)
    if model is None or "project.kdn" not in names:
        raise LookupError(f"run {run_id} kept no trained model to export "
                          f"(it has {', '.join(sorted(names)) or 'no files'})")
    for name in ("project.kdn", model):
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name, tracking_uri=tracking_uri,
                                            dst_path=str(folder))
    return folder


def download_sample_grids(tracking_uri: str, run_id: str, folder: Path) -> Path | None:
    """A GAN's or VAE's sample grids (``samples/final.png``, ``samples/interpolation.png``) and the project
    snapshot copied into ``folder``; None for a run that kept no grids (a supervised one)."""
    import mlflow

    if not MlflowClient(tracking_uri).list_artifacts(run_id, "samples"):
        return None
    for name in ("samples", "project.kdn"):
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name, tracking_uri=tracking_uri,
                                            dst_path=str(folder))
    return folder


def run_result(tracking_uri: str, run: dict[str, Any]) -> dict[str, Any]:
    """A past run (a ``list_runs`` entry) as the terminal event its worker sent, to show its results again."""
    import mlflow
    from mlflow.exceptions import MlflowException

    event: dict[str, Any] = {"event": "finished" if run["status"] == "finished" else "failed",
                             "run_id": run["run_id"], "message": run["failure"],
                             "cause": "" if run["status"] == "finished" else "see the run record",
                             "metrics": {k: v for k, v in run["metrics"].items() if k.startswith("test_")},
                             "duration_s": ((run["end_ms"] or run["start_ms"]) - run["start_ms"]) / 1000}
    try:
        path = mlflow.artifacts.download_artifacts(run_id=run["run_id"], artifact_path="evaluation.json",
                                                   tracking_uri=tracking_uri)
        event["evaluation"] = json.loads(Path(path).read_text(encoding="utf-8"))
    except (MlflowException, OSError):  # a failed run has no evaluation
        event["evaluation"] = {}
    return event
