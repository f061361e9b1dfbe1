"""Layer previews on the canvas: each node's output on a chosen data sample, computed in the Keras worker
thread with the network's current weights (``designer.inspection.previews``), debounced after edits and
applied on the GUI thread; the newest document wins, as with the analysis. While a run trains, its worker
writes the weights after epochs (throttled, only while previews are on) and the previews follow them; a
caption says which weights the previews on show were computed with (initial, an epoch of a run, trained)."""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QScrollArea, QVBoxLayout, QWidget

from designer.app.scratch import scratch_folder
from designer.graph.document import NetworkDocument
from designer.graph.serialize import document_from_dict, document_to_dict


def to_image(rgb: np.ndarray) -> QImage:
    """An RGB uint8 array as a QImage that owns its pixels."""
    pixels = np.ascontiguousarray(rgb)
    height, width, _ = pixels.shape
    return QImage(pixels.data, width, height, width * 3, QImage.Format.Format_RGB888).copy()


class _Worker(QObject):
    """Lives in the Keras worker thread; keeps the previewer (its layers, so their weights) between edits."""

    done = Signal(int, object)

    def __init__(self, catalog: Any) -> None:
        super().__init__()
        self.catalog = catalog
        self.previewer: Any = None
        self.weights: Weights = ("", False, 0)

    @Slot(int, str, object, object)
    def refresh(self, generation: int, doc_json: str, sample: np.ndarray, weights: Weights) -> None:
        from designer.inspection.previews import Previewer
        from designer.keras_bridge.weights import WeightsFileError, load_weights_file

        if self.previewer is None:
            self.previewer = Previewer(self.catalog)
        if weights != self.weights:  # a weights file: read here, once, off the GUI thread
            self.weights = weights
            path, trained, _ = weights
            try:
                arrays = load_weights_file(Path(path)) if path else {}
            except WeightsFileError:  # the window says so when it builds the model; previews start fresh
                arrays = None
            if trained and arrays is not None:  # a run's newer weights of the same network
                self.previewer.update_weights(arrays)
            elif not trained:
                self.previewer.use_weights(arrays or {})
        try:
            previews = self.previewer.refresh(document_from_dict(json.loads(doc_json)), sample)
        except Exception:  # a document the worker cannot read must not end its thread's loop
            previews = {}
        self.done.emit(generation, previews)


Weights = tuple[str, bool, int]  # a weights file (or ""), whether a run trained them, which write of it


class LayerPreviews(QObject):
    """Requests previews for the newest document and sample while on; ``updated`` when they arrive."""

    updated = Signal()
    _refresh = Signal(int, str, object, object)

    def __init__(self, background: Any, debounce_ms: int = 150) -> None:
        super().__init__()
        self.background = background
        self.worker: _Worker | None = None  # made once Keras's catalog is there
        self.on = False
        self.sample: np.ndarray | None = None
        self.doc: NetworkDocument | None = None
        self.previews: dict[str, Any] = {}
        self.weights: Weights = ("", False, 0)  # the project's weights file ("": initial weights), or a run's
        self.label = "initial weights"  # what self.weights are, in words
        self.run_id = ""  # the run that wrote self.weights, if one did
        self.sent: tuple[int, str] = (0, "")  # the weights write and its label of the previews being computed
        self.shown: tuple[int, str] = (0, "")  # the same for the previews on show
        self.writes = itertools.count(1)
        self.training: Any = None  # the controller of the window's training runs, once there is one
        self.scratch: tempfile.TemporaryDirectory | None = None  # where runs write their weights for previews
        self.generation = 0
        self.busy = False
        self.dirty = False
        self.timer = QTimer(self, singleShot=True, interval=debounce_ms)
        self.timer.timeout.connect(self._send)

    def reset(self, weights: Path | None) -> None:
        """Off, with no sample and the project's ``weights`` file: another project's data and weights."""
        self.sample = None
        self.weights = (str(weights) if weights is not None else "", False, next(self.writes))
        self.run_id = ""
        self.label = f"the project's weights ({weights.name})" if weights is not None else "initial weights"
        self.set_on(False)

    def follow(self, training: Any) -> None:
        """Follow the runs of a ``TrainingController``: while previews are on, a run writes its weights after
        epochs into a file of ours and says so in a ``weights`` event; the previews then use them."""
        self.training = training
        self.scratch = scratch_folder("netdesigner-previews-")
        training.preview_weights = Path(self.scratch.name) / "training.weights.npz"
        training.events.connect(self._training_events)
        training.want_previews(self.on)

    def _training_events(self, events: list[dict[str, Any]]) -> None:
        written = [e for e in events if e["event"] == "weights"]
        run = self.training.run
        if written:  # the newest only: the previews of older epochs would be out of date when they arrived
            self.weights = (written[-1]["file"], True, next(self.writes))
            self.run_id = run.run_id
            self.label = f"epoch {written[-1]['epoch']}/{run.spec.epochs} of run {run.run_id[:8]}"
            self._schedule()
        if events[-1]["event"] == "finished" and events[-1]["run_id"] == self.run_id:  # its last epoch's: trained
            self.label = f"trained weights (run {events[-1]['run_id'][:8]})"
            if self.shown[0] == self.weights[2]:
                self.shown = (self.weights[2], self.label)
                self.updated.emit()

    def set_on(self, on: bool) -> None:
        self.on = on
        if self.training is not None:
            self.training.want_previews(on)
        if not on:
            self.previews, self.shown = {}, (0, "")
            self.updated.emit()
        self._schedule()

    def set_sample(self, sample: np.ndarray | None) -> None:
        self.sample = None if sample is None else np.asarray(sample, dtype="float32")
        self._schedule()

    def request(self, doc: NetworkDocument) -> None:
        """Preview ``doc`` soon; later edits restart the wait."""
        self.doc = doc
        self._schedule()

    def _schedule(self) -> None:
        self.dirty = True
        self.timer.start()

    def _send(self) -> None:
        if not (self.on and self.dirty) or self.sample is None or self.doc is None or self.busy:
            return
        if self.worker is None:
            if self.background.catalog is None:
                self.timer.start()  # Keras is still loading
                return
            self.worker = _Worker(self.background.catalog)
            self.worker.moveToThread(self.background.thread)
            self._refresh.connect(self.worker.refresh)
            self.worker.done.connect(self._done)
        self.generation += 1
        self.busy, self.dirty = True, False
        self.sent = (self.weights[2], self.label)
        self._refresh.emit(self.generation, json.dumps(document_to_dict(self.doc)), self.sample, self.weights)

    def _done(self, generation: int, previews: dict[str, Any]) -> None:
        self.busy = False
        if generation == self.generation and self.on:
            self.previews = previews
            # the label of these weights now (a run may have finished meanwhile), else the one they were sent with
            self.shown = (self.sent[0], self.label) if self.sent[0] == self.weights[2] else self.sent
            self.updated.emit()
        self._send()  # an edit that arrived meanwhile

    @property
    def idle(self) -> bool:
        return not self.busy and not self.timer.isActive() and not (self.on and self.dirty)

    @property
    def caption(self) -> str:
        """Which weights the previews on show were computed with ("" while none show)."""
        return f"Previews: {self.shown[1]}" if self.previews else ""

    def images(self) -> dict[str, QImage]:
        return {node_id: to_image(preview.thumbnail) for node_id, preview in self.previews.items()}


def statistics_text(stats: dict[str, float] | None) -> str:
    if stats is None:
        return "—"
    return f"mean {stats['mean']:.3g} · std {stats['std']:.3g} · zeros {stats['zeros']:.0%}"


class ChannelsDialog(QDialog):
    """All of one node's output channels for the preview sample, enlarged."""

    def __init__(self, name: str, preview: Any, parent: QWidget | None = None) -> None:
        from designer.inspection.previews import picture

        super().__init__(parent)
        self.setWindowTitle(f"{name}: output on the preview sample")
        values = preview.values
        image = to_image(picture(values))
        scale = max(1, 480 // max(image.width(), image.height(), 1))
        self.picture = QLabel()
        self.picture.setPixmap(QPixmap.fromImage(image).scaled(image.width() * scale, image.height() * scale,
                                                               Qt.AspectRatioMode.KeepAspectRatio))
        area = QScrollArea()
        area.setWidget(self.picture)
        layout = QVBoxLayout(self)
        channels = f"{values.shape[-1]} channels, " if values.ndim == 3 else ""
        layout.addWidget(QLabel(f"shape {values.shape}: {channels}{statistics_text(preview.stats)}"))
        layout.addWidget(area, 1)
        self.resize(560, 560)
