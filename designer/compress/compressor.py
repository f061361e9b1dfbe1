"""One compression: the verified float export of the same kind as the baseline, the compressed artifact
beside it in a staging folder, both measured on the test split, and the artifact moved into place only
when it stays within the tolerance, so a failed compression leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from designer.compress import writers
from designer.compress.measure import agreement, compressed_bytes, latency_ms, metrics, predict, size_bytes
from designer.compress.methods import (
    DEFAULT_EPOCHS,
    DEFAULT_SPARSITY,
    DEFAULT_TOLERANCE,
    KIND,
    METHODS,
    PROJECT,
    PRUNING,
    suffix,
)
from designer.compress.report import CompressReport
from designer.data.dataset import Dataset, check_fit
from designer.export import keras_file, onnx_file, tflite_file
from designer.export.exporter import check_target, export_model
from designer.export.formats import SUFFIX
from designer.export.probes import Loaded, input_names, keras_outputs
from designer.export.report import ExportError
from designer.graph.project import Project, load_project
from designer.keras_bridge.saving import model_with_weights, save_with_weights
from designer.keras_bridge.weights import collect_weights, load_weights_file
from designer.training.spec import TrainingSpec


def project_model(path: Path) -> keras.Model:
    """The model of a project file with its weights, every layer loaded."""
    model, skipped = model_with_weights(load_project(path), path.parent)
    if skipped:
        raise ExportError(f"{path}: the weights of {', '.join(skipped)} do not fit the network")
    return model


def load_project_model(path: Path) -> Loaded:
    model = project_model(path)
    return input_names(model), lambda feeds: keras_outputs(model, feeds)


LOADERS = {"keras": keras_file.load, "tflite": tflite_file.load, "onnx": onnx_file.load, PROJECT: load_project_model}


@dataclass
class Settings:
    sparsity: float | None = None  # prune only; DEFAULT_SPARSITY when not given
    epochs: int | None = None  # prune's fine-tune; DEFAULT_EPOCHS when not given
    tolerance: float = DEFAULT_TOLERANCE

    def params(self, method: str) -> dict[str, Any]:
        """What a variant was made with, as its run records it: pruning's settings with defaults filled in."""
        pruning = {"sparsity": self.sparsity or DEFAULT_SPARSITY, "epochs": self.epochs or DEFAULT_EPOCHS}
        return {"method": method, **(pruning if method in PRUNING else {}), "tolerance": self.tolerance}


def check_request(method: str, path: Path, settings: Settings) -> None:
    """Refuse unusable requests before any work is done."""
    if method not in METHODS:
        raise ExportError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}", usage=True)
    if method not in PRUNING and (settings.sparsity is not None or settings.epochs is not None):
        raise ExportError(f"--sparsity and --epochs apply to --method {' and '.join(PRUNING)} only", usage=True)
    if settings.sparsity is not None and not 0 < settings.sparsity < 1:
        raise ExportError(f"--sparsity {settings.sparsity:g}: give the share of weights to zero, a fraction "
                          "between 0 and 1 (e.g. 0.6)", usage=True)
    if settings.epochs is not None and settings.epochs < 1:
        raise ExportError(f"--epochs {settings.epochs}: pruning fine-tunes for at least 1 epoch", usage=True)
    if path.suffix != suffix(method):
        raise ExportError(f"{path}: the {method} method writes a {suffix(method)} file; name it so", usage=True)
    if KIND[method] == PROJECT:  # the checks of the folder an export makes: it exists and is writable
        check_target("keras", path.with_suffix(".keras"))
    else:
        check_target(KIND[method], path)


def compress(model: keras.Model, method: str, path: Path, dataset: Dataset, spec: TrainingSpec,
             settings: Settings | None = None, project: Project | None = None) -> CompressReport:
    """Compress ``model`` with ``method`` into ``path``, measured against its float twin on the test split
    of ``dataset`` as ``spec`` splits it (the split training used). ``project``, the network's document and
    setup, is what structured pruning changes; the other methods need only the model."""
    settings = settings or Settings()
    check_request(method, path, settings)
    if problems := check_fit(dataset, [tuple(t.shape) for t in model.inputs], [tuple(t.shape) for t in model.outputs]):
        raise ExportError("; ".join(problems), usage=True)
    if not isinstance(dataset.x, np.ndarray) or dataset.x.dtype.kind not in "fiu":
        raise ExportError(f"{dataset.name}: compression measures on numeric arrays held in memory; "
                          "give --data npz:PATH or builtin:NAME", usage=True)
    splits = dataset.split(spec.validation_split, spec.test_split, spec.seed)
    if not len(splits.test.x):
        raise ExportError("the data setup keeps no test split to measure on: set training.test_split above 0",
                          usage=True)
    if KIND[method] == PROJECT and project is None:
        raise ExportError(f"the {method} method changes the network's document: compress a project or a run",
                          usage=True)
    kind, model = KIND[method], writers.copy(model)  # the baseline is saved without optimizer state too
    stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        baseline = _baseline(kind, model, stage, path, project)
        job = writers.Job(model, splits.train, settings.sparsity or DEFAULT_SPARSITY,
                          settings.epochs or DEFAULT_EPOCHS, spec.batch_size, spec.learning_rate,
                          spec.loss_for(dataset.task, model.outputs[0].shape[-1]), baseline, project)
        staged = stage / "variant" / path.name
        staged.parent.mkdir()
        start = time.perf_counter()
        notes = writers.write(method, job, staged)
        convert_s = time.perf_counter() - start
        report = _measure(method, kind, staged, baseline, model, splits.test.x.astype("float32"), splits.test.y,
                          dataset.task, notes)
        report.path, report.tolerance, report.convert_s = str(path), settings.tolerance, convert_s
        if report.ok and kind == PROJECT:  # the project file and its weights, saved as projects are
            saved = load_project(staged)
            save_with_weights(saved, path, load_weights_file(staged.parent / saved.weights))
        elif report.ok:
            os.replace(staged, path)
        return report
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _baseline(kind: str, model: keras.Model, stage: Path, path: Path, project: Project | None) -> Path:
    """The float artifact the variant is measured against: the verified export of the same kind, or for a
    changed project, the project as it is, saved the same way (its file and its weights)."""
    if kind == PROJECT:
        assert project is not None
        baseline = stage / "float" / path.name
        baseline.parent.mkdir()
        save_with_weights(Project(project.document, project.description, "", project.data, project.training,
                                  project.experiments), baseline, collect_weights(model))
        return baseline
    baseline = stage / f"float{SUFFIX[kind]}"
    exported = export_model(model, kind, baseline)
    if not exported.ok:
        raise ExportError(f"the float {kind} export, the baseline, does not match Keras: "
                          + "; ".join(exported.notes or [f"max |difference| {exported.max_abs_diff:.2e}"]))
    return baseline


def _files(kind: str, artifact: Path) -> Path:
    """What an artifact weighs on disk: a project is its file and its weights file (its folder holds both)."""
    return artifact.parent if kind == PROJECT else artifact


def _measure(method: str, kind: str, artifact: Path, baseline: Path, model: keras.Model, x: np.ndarray,
             y: np.ndarray, task: str, notes: list[str]) -> CompressReport:
    try:
        loaded = LOADERS[kind](artifact)
        scores = predict(loaded, x)
    except Exception as exc:
        raise ExportError(f"the {method} artifact does not run: {type(exc).__name__}: {str(exc).strip()[:300]}") \
            from None
    reference = LOADERS[kind](baseline)
    float_scores = predict(reference, x)
    counted = {"keras": lambda: keras.saving.load_model(artifact, compile=False, safe_mode=True),
               PROJECT: lambda: project_model(artifact)}.get(kind, lambda: model)()
    weights = [keras.ops.convert_to_numpy(w) for w in counted.weights]
    files, base = _files(kind, artifact), _files(kind, baseline)
    return CompressReport(
        method, str(artifact), size_bytes(files), size_bytes(base), compressed_bytes(files),
        compressed_bytes(base), metrics(scores, y, task), metrics(float_scores, y, task),
        agreement(scores, float_scores, task), latency_ms(loaded, x), latency_ms(reference, x),
        sum(w.size for w in weights), sum(int(np.count_nonzero(w)) for w in weights), len(x), notes=notes)
