"""Compression as part of an experiment: ``compress.method`` and ``compress.sparsity`` are hyperparameters
like any other, and a trial that has them is compressed once it has trained, so a sweep trades accuracy
against size on disk, not only against parameters.

The compression runs as ``netdesigner compress`` on the trial's recorded files in a process of its own
(TensorFlow's converters and a fine-tune stay out of the sweep's loop, which only waits for its event);
the sweep, which owns the run store, then records the variant as a run linked to the trial's run and
adds its figures to the trial's metrics as ``compress_…`` (``compress_size_bytes``,
``compress_test_accuracy``, …), which an experiment may also take as its objective.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

from designer.compress.methods import METHODS, PRUNING, suffix
from designer.graph.serialize import DocumentFormatError

KEY = "compress"  # the hyperparameters' target: compress.method, compress.sparsity
OPTIONS = ("method", "sparsity")
DEFAULT_METHOD = "prune"  # when only the sparsity is swept
PREFIX = "compress_"  # the trial's metrics measured on its compressed variant


def check(key: str, option: str, kind: str, values: tuple[Any, ...], low: float, high: float) -> None:
    """A ``compress.*`` hyperparameter names a method this designer has and sparsities it can reach."""
    if option not in OPTIONS:
        raise DocumentFormatError(key, f"no compression option {option!r} (known: {', '.join(OPTIONS)})")
    if option == "method":
        unknown = [v for v in values if v not in METHODS]
        if kind != "choice" or unknown:
            raise DocumentFormatError(key, f"{', '.join(map(str, unknown)) or 'a range'}: the methods are "
                                      f"{', '.join(METHODS)}")
        return
    numbers = [low, high] if kind != "choice" else list(values)
    if kind == "int" or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1
                                for v in numbers):
        raise DocumentFormatError(key, "the sparsity is the share of weights (or filters) pruned: fractions "
                                  "between 0 and 1, e.g. 0.3,0.6 or float:0.2:0.8")


def options(values: dict[str, Any]) -> dict[str, Any]:
    """The compression a trial's values ask for (``{}``: none), the method filled in."""
    chosen = {key.split(".", 1)[1]: value for key, value in values.items() if key.split(".", 1)[0] == KEY}
    return {"method": DEFAULT_METHOD, **chosen} if chosen else {}


def data_arguments(data: dict[str, Any], folder: Path) -> list[str]:
    """``--data`` (a file or folder made absolute against the project's folder: the compression reads the
    trial's files from elsewhere) with the CSV options the data setup gives."""
    source = data.get("source", "")
    kind, _, rest = source.partition(":")
    if kind != "builtin" and rest and not Path(rest).is_absolute():
        source = f"{kind}:{(folder / rest).resolve()}"
    arguments = ["--data", source] if source else []
    if data.get("target"):
        arguments += ["--target", str(data["target"])]
    if data.get("features"):
        arguments += ["--features", ",".join(data["features"])]
    return arguments


def compress_run(tracking_uri: str, run_id: str, chosen: dict[str, Any], data: list[str]) -> dict[str, Any]:
    """Compress the trial's recorded model as ``chosen`` says, in a ``netdesigner compress`` process: the
    report (``{"report": …, "artifact": PATH, "scratch": FOLDER}``), or ``{"error": WHY}``. Reads the store,
    never writes it; the caller records the variant and removes ``scratch``."""
    from designer.training.records import download_run

    scratch = Path(tempfile.mkdtemp(prefix="netdesigner-trial-compress-"))
    try:
        files = download_run(tracking_uri, run_id, scratch / "run")
        method = chosen["method"]
        out = scratch / f"{method}{suffix(method)}"
        arguments = ["compress", str(files), "--method", method, "-o", str(out), "--json", *data]
        if method in PRUNING and "sparsity" in chosen:
            arguments += ["--sparsity", f"{float(chosen['sparsity']):g}"]
        done = subprocess.run([sys.executable, "-m", "designer", *arguments], capture_output=True, text=True,
                              check=False)
        lines = done.stdout.strip().splitlines()
        try:
            report = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            reason = done.stderr.strip().splitlines()
            shutil.rmtree(scratch, ignore_errors=True)
            return {"error": reason[-1] if reason else f"netdesigner compress ended with code {done.returncode}"}
        return {"report": report, "scratch": str(scratch)}
    except Exception as exc:  # the store or the process could not be used: the trial fails with why
        shutil.rmtree(scratch, ignore_errors=True)
        return {"error": f"{type(exc).__name__}: {exc}"}


def record(tracking_uri: str, run_id: str, report: dict[str, Any], chosen: dict[str, Any]) -> dict[str, float]:
    """Record the variant as a run linked to the trial's run; its figures as the trial's ``compress_…``
    metrics."""
    from designer.compress.compressor import Settings
    from designer.compress.record import record_variant, variant_metrics
    from designer.compress.report import CompressReport

    variant = CompressReport(**{f.name: report[f.name] for f in fields(CompressReport) if f.name in report})
    method = chosen["method"]
    settings = Settings(float(chosen["sparsity"]) if method in PRUNING and "sparsity" in chosen else None)
    record_variant(tracking_uri, run_id, variant, settings.params(method))
    return {PREFIX + key: value for key, value in variant_metrics(variant).items()} | {f"{PREFIX}ok": float(variant.ok)}
