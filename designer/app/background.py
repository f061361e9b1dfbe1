"""Keras work off the GUI thread: loading the catalog, importing models and analysing the document.

One worker thread owns all Keras calls (Keras keeps per-thread global state). The GUI
sends it a JSON snapshot of the document with a generation number and applies only the
newest result, so typing in the inspector never waits for analysis.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from designer.graph.document import NetworkDocument, networkx
from designer.graph.project import Project, project_to_dict
from designer.graph.serialize import document_from_dict, document_to_dict
from designer.quiet import import_keras_quietly


class ThreadResult(QObject):
    """Carries a plain thread's result to the GUI thread. Not a child of the widget that started the thread:
    a widget deleted while the thread works (its window closed) must not be what the thread emits on, or
    the emit crashes the process."""

    done = Signal(int, object)  # the request's generation, its result (or why there is none)


class _KerasThread(QThread):
    """The worker's thread, whose ``run`` is Python so that one Python thread state lives as long as the
    thread. With Qt's own ``run`` each queued call gets a fresh one, while TensorFlow's pybind11 keeps the
    first it saw: once a call had built a model (EfficientNetB0 from the start page) a later call blocked
    for good on a thread state that no longer existed, and the window with it."""

    def run(self) -> None:
        self.exec()


class _Worker(QObject):
    catalog_ready = Signal(object)
    analysed = Signal(int, object)
    imported = Signal(str, object)
    reported = Signal(str, object)
    failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.analyzer: Any = None

    @Slot()
    def load(self) -> None:
        try:
            import_keras_quietly()
            from designer.keras_bridge.analysis import Analyzer
            from designer.layers.catalog import load_catalog

            catalog = load_catalog(libraries=True)
            self.analyzer = Analyzer(catalog)
            networkx()  # here, so that opening the first graph on the GUI thread does not wait ~0.4 s for it
        except Exception as exc:  # a broken Keras install must not take the window down
            self.failed.emit(f"Keras could not be loaded: {exc}")
            return
        self.catalog_ready.emit(catalog)

    @Slot(str, str, bool, object)
    def import_source(self, source: str, folder: str, trust_code: bool, input_shape: list[int] | None) -> None:
        """Load and convert a model here, so a 800-layer application never freezes the window. The
        project crosses back as plain data, an import error as its message; the model's weights (all
        but a keras.applications model's fresh ones) go to a file in ``folder``, which the project names,
        as the command line writes them beside the project it makes. ``trust_code``: the user agreed to load a
        PyTorch file (which runs code pickled in it, in a process of its own); ``input_shape``: a TorchScript
        file's, which it does not record."""
        try:
            from designer.keras_bridge.importer import ModelImportError, import_model, keeps_weights, load_source
            from designer.keras_bridge.onnx_import import import_onnx, is_onnx_source

            if is_onnx_source(source):  # ONNX or a SavedModel: converted, checked and reported
                # placeholders are shown red, to replace on the canvas
                converted = import_onnx(source, placeholders=True, trust_code=trust_code, input_shape=input_shape)
                model = converted.model
                self.reported.emit(source, converted.report)
            else:
                model = load_source(source)
            doc = import_model(model)
            project = Project(doc, f"Imported from {Path(source).name}.")
            if keeps_weights(source):
                project.weights = _write_weights(model, doc, Path(folder))
            result: object = project_to_dict(project)
        except ModelImportError as exc:
            result = str(exc)
        except Exception as exc:  # an unexpected Keras error must not end the worker thread's loop
            result = f"{source}: {type(exc).__name__}: {exc}"
        self.imported.emit(source, result)

    @Slot(int, str)
    def analyse(self, generation: int, doc_json: str) -> None:
        if self.analyzer is not None:
            doc = document_from_dict(json.loads(doc_json))
            self.analysed.emit(generation, self.analyzer.analyze(doc))


def _write_weights(model: Any, doc: NetworkDocument, folder: Path) -> str:
    """Save what an import keeps with its project (weights, reference outputs) in ``folder``; its name
    follows the content, so importing the same model again reuses the file."""
    from designer.export.reference import imported_weights
    from designer.keras_bridge.weights import content_name, save_weights_file

    arrays = imported_weights(model, doc)
    name = content_name("imported", arrays)
    if not (folder / name).is_file():
        save_weights_file(arrays, folder / name)
    return name


class Background(QObject):
    """Debounced, latest-wins analysis; the catalog arrives once Keras has loaded."""

    catalog_ready = Signal(object)
    analysed = Signal(object)
    imported = Signal(str, object)
    """``(source, project dict)`` when an import worked, ``(source, message)`` when it did not."""
    reported = Signal(str, object)
    """``(source, ImportReport)`` for an ONNX or SavedModel import, just before ``imported``."""
    failed = Signal(str)
    _load = Signal()
    _analyse = Signal(int, str)
    _import = Signal(str, str, bool, object)

    def __init__(self, parent: QObject | None = None, debounce_ms: int = 120) -> None:
        super().__init__(parent)
        self.thread = _KerasThread()
        self.thread.setObjectName("keras-worker")
        self.worker = _Worker()
        self.worker.moveToThread(self.thread)
        self._load.connect(self.worker.load)
        self._analyse.connect(self.worker.analyse)
        self._import.connect(self.worker.import_source)
        self.worker.catalog_ready.connect(self._on_catalog)
        self.worker.imported.connect(self._on_imported)
        self.worker.reported.connect(self.reported)
        self.worker.analysed.connect(self._on_analysed)
        self.worker.failed.connect(self.failed)
        self.generation = 0
        self.pending: NetworkDocument | None = None
        self.catalog: Any = None
        self.busy = False
        self.importing = 0
        self.timer = QTimer(self, singleShot=True, interval=debounce_ms)
        self.timer.timeout.connect(self._send)
        self.thread.start()
        # Load Keras once the event loop runs, so its import never delays the first paint.
        QTimer.singleShot(50, self._load.emit)

    def request(self, doc: NetworkDocument) -> None:
        """Analyse ``doc`` soon; later edits restart the wait, and only the newest state is sent."""
        self.pending = doc
        self.timer.start()

    def import_source(self, source: str, folder: Path, trust_code: bool = False,
                      input_shape: list[int] | None = None) -> None:
        """Import ``FILE.keras``/``.h5``/``.json``/``.onnx``, a SavedModel folder, ``keras.applications:NAME`` or
        (``trust_code``) a PyTorch file, its weights file written in ``folder``; ``imported`` tells the end."""
        self.importing += 1
        self._import.emit(source, str(folder), trust_code, input_shape)

    def _on_imported(self, source: str, result: object) -> None:
        self.importing -= 1
        self.imported.emit(source, result)

    def _send(self) -> None:
        if self.pending is None or self.catalog is None or self.busy:
            return
        self.generation += 1
        self.busy = True
        # An immutable snapshot for the worker: a few milliseconds even for 800 layers.
        self._analyse.emit(self.generation, json.dumps(document_to_dict(self.pending)))
        self.pending = None

    def _on_catalog(self, catalog: Any) -> None:
        self.catalog = catalog
        self.catalog_ready.emit(catalog)
        self._send()

    def _on_analysed(self, generation: int, analysis: Any) -> None:
        self.busy = False
        if generation == self.generation:
            self.analysed.emit(analysis)
        self._send()  # an edit that arrived meanwhile

    @property
    def idle(self) -> bool:
        return (self.catalog is not None and not self.busy and not self.importing and self.pending is None
                and not self.timer.isActive())

    def stop(self) -> None:
        self.thread.quit()
        self.thread.wait(10_000)
