"""A training run with its MLflow record: what the command line and the window both start.

The worker streams events; this side records each one in the run store (the parent owns the
store, see the architecture guide), keeps the run's files in a scratch folder until the record
has them, and tags the terminal event with the run id.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from designer.graph.project import Project, project_to_dict
from designer.graph.serialize import DocumentFormatError
from designer.training.recipes.latent import sized_snapshot
from designer.training.recipes.options import RUN_JUDGE
from designer.training.records import RunRecorder, download_run, download_trained_model, find_run, network_hash
from designer.training.spec import TrainingSpec, check_backend_installed
from designer.training.store_errors import store_access
from designer.training.stores import default_tracking_uri
from designer.training.worker import BEST, LAST, TERMINAL, RunHandle, start_run


class RecordedRun:
    def __init__(self, project: Project, folder: Path, *, training: dict[str, Any] | None = None,
                 data: dict[str, Any] | None = None, tracking_uri: str | None = None,
                 warm: RunHandle | None = None, resume: str | None = None, snapshot: dict[str, Any] | None = None,
                 experiment: str | None = None, tags: dict[str, str] | None = None,
                 params: dict[str, Any] | None = None, batch_events_per_second: float | None = None,
                 resumable: bool = True, preview_weights: Path | None = None) -> None:
        """Start the run; ``DocumentFormatError`` if the training options cannot train, ``StoreError`` if the
        run store cannot be used. ``resume``: the id
        of an earlier run of this store whose last checkpoint the run goes on from. A sweep's trial passes
        its own ``snapshot`` of the project (the network with the trial's values), the MLflow ``experiment``
        it belongs to (default: the project's name), ``tags`` naming the trial and its hyperparameters as
        extra ``params``, and ``resumable=False`` (it runs again from the start, so no last checkpoint). The
        window passes ``preview_weights``, where the run writes its weights for the layer previews."""
        training, data = training or {}, data or {}
        self.spec = TrainingSpec.from_dict({**project.training, **training})
        check_backend_installed(self.spec.backend)
        self.tracking_uri = tracking_uri or default_tracking_uri(folder)
        # the network as it trains: the recipe's latent size (an option or a trial's value) applied throughout
        snapshot = sized_snapshot(snapshot or project_to_dict(project), {**project.training, **training})
        self.scratch: list[Path] = []
        training = self._judge_run(project, training)
        self.recorder = RunRecorder(self.tracking_uri, experiment or project.name)
        self.outputs = Path(tempfile.mkdtemp(prefix="netdesigner-run-"))
        self.scratch.append(self.outputs)
        resume_from = self._fetch(resume) if resume else None
        with store_access(self.tracking_uri):
            self.run_id = self.recorder.start({**self.spec.__dict__, "network_hash": network_hash(snapshot["graph"]),
                                               "data_source": (data or project.data).get("source"), **(params or {})},
                                              {"project": project.name, **(tags or {}),
                                               **({"resumed_from": resume} if resume else {})})
        self.handle = start_run(snapshot, folder, warm, training=training, data=data, output_dir=str(self.outputs),
                                resume_from=str(resume_from) if resume_from else None,
                                batch_events_per_second=batch_events_per_second, resumable=resumable,
                                preview_weights=str(preview_weights) if preview_weights else None)
        try:
            with store_access(self.tracking_uri):
                self.recorder.worker(self.handle.process.pid)
        except BaseException:
            self.handle.kill()
            self._clean()
            raise
        self.result: dict[str, Any] = {}

    def _judge_run(self, project: Project, training: dict[str, Any]) -> dict[str, Any]:
        """The training overrides with a judge named ``run:RUN`` (a classifier trained in this store) replaced
        by its model, fetched here: the parent owns the store, the worker gets a file."""
        recipe = self.spec.recipe
        judge = str(self.spec.recipe_options.get("judge") or "")
        if not judge.startswith(RUN_JUDGE):
            return training
        folder = Path(tempfile.mkdtemp(prefix="netdesigner-judge-"))
        self.scratch.append(folder)
        try:
            with store_access(self.tracking_uri):
                run_id = find_run(self.tracking_uri, judge.removeprefix(RUN_JUDGE))["run_id"]
                files = download_trained_model(self.tracking_uri, run_id, folder)
        except LookupError as exc:
            self._clean()
            raise DocumentFormatError(f"training.{recipe}.judge", f"{exc}; name a run of this store that trained "
                                      "a classifier of the generated images") from None
        model = next(files / name for name in (BEST, "model.keras") if (files / name).is_file())
        options = {**project.training.get(recipe, {}), **training.get(recipe, {}), "judge": str(model)}
        return {**training, recipe: options}

    def _fetch(self, run_id: str) -> Path:
        """The earlier run's files, kept apart from this run's outputs."""
        folder = Path(tempfile.mkdtemp(prefix="netdesigner-resume-"))
        self.scratch.append(folder)
        try:
            files = download_run(self.tracking_uri, run_id, folder)
        except LookupError as exc:
            self._clean()
            raise DocumentFormatError("resume", str(exc)) from None
        except BaseException:
            self._clean()
            raise
        if not (files / LAST).is_file():
            self._clean()
            raise DocumentFormatError("resume", f"run {run_id} has no {LAST} checkpoint to resume from")
        return files

    def _clean(self) -> None:
        for folder in self.scratch:
            shutil.rmtree(folder, ignore_errors=True)

    def events(self) -> Iterator[dict[str, Any]]:
        """Every event, recorded as it passes; the last one (``finished``/``failed``) carries ``run_id``."""
        for event in self.handle.events():  # may be resumed after an interruption: the files stay till the end
            yield self.record(event)

    def record(self, event: dict[str, Any]) -> dict[str, Any]:
        """Record one worker event (for callers that read the worker's events themselves); ``StoreError`` if
        the store fails."""
        now_ms = int(time.time() * 1000)
        with store_access(self.tracking_uri):
            if event["event"] not in TERMINAL:
                self.recorder.event(event, now_ms)
                return event
            try:
                event = self.recorder.finish(event, self.outputs, now_ms)
            finally:
                self._clean()
        event = self.result = {**event, "run_id": self.run_id}
        return event

    def stop(self) -> None:
        """Graceful: ends after the current batch as ``failed`` with cause ``stopped``; the best checkpoint stays."""
        self.handle.stop()

    def kill(self) -> None:
        self.handle.kill()
