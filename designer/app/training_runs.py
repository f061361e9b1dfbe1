"""Training runs started from the window: a recorded run pumped by a plain thread, its events
handed to the GUI in batches on a timer, so a fast run never floods the event loop."""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from designer.graph.project import Project
from designer.training.stores import StoreError


class TrainingController(QObject):
    events = Signal(list)  # a batch of worker events, in order
    ended = Signal(dict)  # the terminal event, with run_id
    released = Signal()  # a detached run (its project no longer shown) has ended

    def __init__(self, parent: QObject | None = None, interval_ms: int = 50) -> None:
        super().__init__(parent)
        self.pending: deque[dict[str, Any]] = deque()
        self.run: Any = None
        self.tracking_uri = ""
        self.active = False  # from start until the terminal event is delivered (the process may linger)
        self.detached = False  # the window shows another project: this run's events go nowhere
        self.warm: Any = None
        self.preview_weights: Path | None = None  # where runs write their weights for the layer previews
        self.previews = False  # whether the window shows layer previews now
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self._deliver)

    @property
    def running(self) -> bool:
        return self.active

    def prepare(self) -> None:
        """Start a worker importing Keras now, so Train answers within about a second."""
        if self.warm is None:
            from designer.training.worker import warm_worker

            self.warm = warm_worker()

    def start(self, project: Project, folder: Path, tracking_uri: str | None = None,
              training: dict[str, Any] | None = None) -> None:
        if self.running:
            raise RuntimeError("a run is in progress")
        self.pending.clear()
        self.active, self.detached = True, False
        warm, self.warm = self.warm, None
        threading.Thread(target=self._pump, args=(project, folder, tracking_uri, training, warm),
                         daemon=True, name="training-run").start()
        self.timer.start()

    def want_previews(self, on: bool) -> None:
        """Have the run write its weights for the layer previews (throttled) while they are shown."""
        self.previews = on
        if self.run is not None:
            (self.run.handle.previews.set if on else self.run.handle.previews.clear)()

    def _pump(self, project: Project, folder: Path, tracking_uri: str | None, training: dict[str, Any] | None,
              warm: Any) -> None:
        from designer.training.session import RecordedRun

        try:
            self.run = RecordedRun(project, folder, training=training, tracking_uri=tracking_uri, warm=warm,
                                   preview_weights=self.preview_weights)
            self.want_previews(self.previews)  # asked for before the run was there
            self.tracking_uri = self.run.tracking_uri
            for event in self.run.events():
                self.pending.append(self._with_picture(event))
        except StoreError as exc:  # its message names the store, the problem and the fix
            self.pending.append({"event": "failed", "cause": "store", "message": str(exc)})
        except Exception as exc:  # a broken option must end the run in the window, not crash it
            self.pending.append({"event": "failed", "cause": "crash", "message": f"{type(exc).__name__}: {exc}"})

    def _with_picture(self, event: dict[str, Any]) -> dict[str, Any]:
        """A GAN's or VAE's sample grid read here, as it is announced: the run's files go when it ends, maybe
        before the GUI thread gets to the event; the PNG is small."""
        if event["event"] != "samples":
            return event
        try:
            return {**event, "png": (self.run.outputs / event["file"]).read_bytes()}
        except OSError:  # not written (a full disk): the monitor keeps the last grid
            return event

    def _deliver(self) -> None:
        batch = []
        while self.pending:
            batch.append(self.pending.popleft())
        if not batch:
            return
        if not self.detached:
            self.events.emit(batch)
        if batch[-1]["event"] in ("finished", "failed"):
            self.timer.stop()
            self.active = False
            if self.detached:
                self.detached = False
                self.released.emit()
            else:
                self.ended.emit(batch[-1])

    def stop(self) -> None:
        if self.run is not None:
            self.run.stop()

    def detach(self) -> None:
        """Stop the run for a window that moves on to another project: it ends after its batch, recorded as
        stopped, and nothing more of it reaches the views, which show the other project by then."""
        self.stop()
        self.detached = True

    def kill(self) -> None:
        if self.run is not None:
            self.run.kill()

    def shutdown(self) -> None:
        """On closing the window: end a run and a warm worker that nobody will use."""
        self.kill()
        if self.warm is not None:
            self.warm.kill()
            self.warm = None
