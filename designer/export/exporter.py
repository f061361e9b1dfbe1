"""One export: write the artifact into a staging folder, reload and compare it with Keras, and move
it into place only when it passes, so a failed or interrupted export leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras

from designer.export import keras_file, onnx_file, python_file, savedmodel, text_front, tflite_file
from designer.export.formats import FORMATS, SUFFIX, an_export
from designer.export.probes import Loaded, input_names, keras_outputs, max_difference, output_names, sample_inputs
from designer.export.reference import Reference
from designer.export.report import DEFAULT_TOLERANCE, ExportError, ExportReport
from designer.graph.document import NetworkDocument

BATCHES = (1, 5)


@dataclass
class Options:
    opset: int = onnx_file.DEFAULT_OPSET
    tolerance: float = DEFAULT_TOLERANCE
    onnx_size_limit: int = onnx_file.SIZE_LIMIT
    title: str = ""
    reference: Reference | None = None  # the imported source model's outputs, checked as well when given


def check_target(fmt: str, path: Path) -> None:
    """Refuse unusable targets before any work is done."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", usage=True)
    if SUFFIX[fmt] and path.suffix != SUFFIX[fmt]:
        raise ExportError(f"{path}: {an_export(fmt)} should end in {SUFFIX[fmt]}", usage=True)
    if not path.parent.is_dir():
        raise ExportError(f"{path.parent}: no such folder", usage=True)
    if not os.access(path.parent, os.W_OK):
        raise ExportError(f"{path.parent}: this folder is not writable", usage=True)
    if SUFFIX[fmt] and path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name", usage=True)
    if fmt == "savedmodel" and path.exists() and (path.is_file() or (any(path.iterdir())
                                                                    and not (path / "saved_model.pb").exists())):
        raise ExportError(f"{path} exists and is not a SavedModel; give a new folder name", usage=True)


def export_model(model: keras.Model, fmt: str, path: Path, document: NetworkDocument | None = None,
                 options: Options | None = None) -> ExportReport:
    """Export ``model`` to ``path``; the report says whether the reloaded artifact matched Keras."""
    options = options or Options()
    check_target(fmt, path)
    if fmt == "onnx" and options.opset not in (span := onnx_file.supported_opsets()):
        raise ExportError(f"--opset {options.opset}: tf2onnx converts opsets {span.start} to {span.stop - 1}",
                          usage=True)
    if fmt == "python" and document is None:
        raise ExportError("a Python export needs the network's document", usage=True)
    front = text_front.split(model) if fmt == "onnx" else None  # ONNX has no strings: from token ids on
    exported = front.body if front is not None else model

    def write_onnx(p: Path) -> list[str]:
        notes = onnx_file.write(exported, p, options.opset, options.onnx_size_limit)
        return notes if front is None else [*notes, front.note(front.write_sidecar(p))]

    def load_onnx(p: Path) -> Loaded:
        loaded = onnx_file.load(p)
        return loaded if front is None else front.wrap(loaded)  # fed the model's text through its layers

    writers: dict[str, Callable[[Path], list[str]]] = {
        "keras": lambda p: keras_file.write(model, p),
        "savedmodel": lambda p: savedmodel.write(model, p),
        "onnx": write_onnx,
        "tflite": lambda p: tflite_file.write(model, p),
        "python": lambda p: python_file.write(model, p, document, options.title),  # type: ignore[arg-type]
    }
    loaders: dict[str, Callable[[Path], Loaded]] = {
        "keras": keras_file.load, "savedmodel": savedmodel.load, "onnx": load_onnx,
        "tflite": tflite_file.load, "python": python_file.load}
    stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        staged = stage / path.name
        start = time.perf_counter()
        notes = writers[fmt](staged)
        report = ExportReport(fmt, str(path), input_names(exported), [], output_names(model), notes=notes,
                              tolerance=options.tolerance, convert_s=time.perf_counter() - start)
        start = time.perf_counter()
        _verify(model, loaders[fmt], staged, report, options.reference)
        report.verify_s = time.perf_counter() - start
        if report.ok:
            report.files = [str(path.parent / item.name) for item in sorted(stage.iterdir())]
            _move_into_place(stage, path.parent)
        else:
            report.notes.append("nothing was written: the artifact did not match the model")
        return report
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _verify(model: keras.Model, load: Callable[[Path], Loaded], staged: Path, report: ExportReport,
            reference: Reference | None) -> None:
    try:
        report.artifact_inputs, run = load(staged)
    except Exception as exc:
        report.notes.append(f"the artifact does not load: {type(exc).__name__}: {str(exc).strip()[:300]}")
        return
    worst = 0.0
    for batch in BATCHES:
        feeds = sample_inputs(model, batch, seed=batch)
        try:
            got = run(feeds)
        except Exception as exc:
            report.notes.append(f"the artifact fails on a batch of {batch}: {type(exc).__name__}: "
                                f"{str(exc).strip()[:300]}")
            return
        worst = max(worst, max_difference(keras_outputs(model, feeds), got))
        report.batches.append(batch)
    report.max_abs_diff = worst
    if reference is not None:
        try:
            report.source_max_abs_diff = max_difference(reference.outputs, run(reference.inputs))
        except Exception as exc:
            report.source_max_abs_diff = float("inf")
            report.notes.append(f"the artifact fails on the source model's probes: {type(exc).__name__}: "
                                f"{str(exc).strip()[:300]}")


def _move_into_place(stage: Path, folder: Path) -> None:
    """Replace each target by its staged twin; an old SavedModel folder is swapped out, then removed."""
    for item in sorted(stage.iterdir()):
        target = folder / item.name
        if item.is_dir() and target.is_dir():
            os.replace(target, stage / f".old-{item.name}")
        os.replace(item, target)
