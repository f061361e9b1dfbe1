"""A variant of a training run recorded as a run of its own, in the parent's experiment and linked to it
(``parent_run_id``, and MLflow's ``mlflow.parentRunId`` so ``mlflow ui`` nests it): its settings as
params, what was measured as metrics, the artifact and the report as files. Every measured variant is
recorded, one outside the tolerance as failed and without an artifact (none was written), so the trade-off
it showed is not lost."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from designer.compress.report import CompressReport
from designer.graph.project import SUFFIX as PROJECT_SUFFIX
from designer.graph.project import load_project
from designer.training.liveness import process_tags
from designer.training.store_errors import open_client, store_access

PARENT = "parent_run_id"
MLFLOW_PARENT = "mlflow.parentRunId"
REPORT = "compress_report.json"


def variant_metrics(report: CompressReport) -> dict[str, float]:
    """What the report measured, flattened to MLflow metric names; the test metrics are named as training
    names them (``test_accuracy``)."""
    values: dict[str, Any] = {
        "size_bytes": report.size_bytes, "baseline_bytes": report.baseline_bytes,
        "compressed_bytes": report.compressed_bytes, "baseline_compressed_bytes": report.baseline_compressed_bytes,
        "size_ratio": report.size_bytes / report.baseline_bytes, "params": report.params,
        "nonzero_params": report.nonzero_params, "loss_points": report.loss_points, "convert_s": report.convert_s,
        "agreement": report.agreement,
        **{f"test_{k}": v for k, v in report.metrics.items()},
        **{f"baseline_test_{k}": v for k, v in report.baseline_metrics.items()},
        **{f"latency_ms_batch{b}": v for b, v in report.latency_ms.items()},
        **{f"baseline_latency_ms_batch{b}": v for b, v in report.baseline_latency_ms.items()}}
    return {k: float(v) for k, v in values.items() if v is not None}


def record_variant(tracking_uri: str, parent_run_id: str, report: CompressReport, params: dict[str, Any]) -> str:
    """The variant's new run id, also set on ``report`` with its parent's; ``StoreError`` in one line if the
    store cannot be used."""
    from mlflow.entities import Metric, Param, RunTag

    client = open_client(tracking_uri)
    with store_access(tracking_uri):
        parent = client.get_run(parent_run_id)
        tags = {PARENT: parent_run_id, MLFLOW_PARENT: parent_run_id,
                "mlflow.runName": f"{report.method} of {parent_run_id[:8]}",
                **process_tags("recorder", os.getpid())}
        run_id = client.create_run(parent.info.experiment_id, tags=tags).info.run_id
        report.run_id, report.parent_run_id = run_id, parent_run_id
        try:
            now = int(time.time() * 1000)
            client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()],
                             metrics=[Metric(k, v, now, 0) for k, v in variant_metrics(report).items()],
                             tags=[RunTag("status", "finished" if report.ok else "failed")]
                             + ([] if report.ok else [RunTag("failure_message", f"{report.loss_points:.2f} points "
                                                            f"lost, outside the tolerance of {report.tolerance:g}")]))
            with tempfile.TemporaryDirectory(prefix="netdesigner-variant-") as scratch:
                saved = Path(scratch) / REPORT
                saved.write_text(json.dumps(report.to_dict()), encoding="utf-8")
                client.log_artifact(run_id, str(saved))
            for written in _written(report):
                client.log_artifact(run_id, str(written))
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED" if report.ok else "FAILED")
    return run_id


def list_variants(tracking_uri: str, parent_run_id: str) -> list[dict[str, Any]]:
    """The variants recorded for a run, oldest first: run id, method, params, metrics, status and why one
    failed; ``StoreError`` in one line if the store cannot be used."""
    client = open_client(tracking_uri)
    with store_access(tracking_uri):
        experiment = client.get_run(parent_run_id).info.experiment_id
        runs = client.search_runs([experiment], filter_string=f"tags.{PARENT} = '{parent_run_id}'",
                                  order_by=["attributes.start_time ASC"], max_results=1000)
    return [{"run_id": r.info.run_id, "method": r.data.params.get("method", "?"), "params": dict(r.data.params),
             "metrics": dict(r.data.metrics), "status": r.data.tags.get("status", r.info.status.lower()),
             "failure": r.data.tags.get("failure_message", "")} for r in runs]


def _written(report: CompressReport) -> list[Path]:
    """The files a variant wrote: one artifact, or a project file with its weights file; none when it failed."""
    if not report.ok:
        return []
    path = Path(report.path)
    if path.suffix != PROJECT_SUFFIX:
        return [path]
    weights = load_project(path).weights
    return [path, *([path.with_name(weights)] if weights else [])]
