"""An experiment's results read back from its two stores: one row per trial (Optuna's state and
values with the MLflow run's notes and stars), the Pareto front, and CSV for spreadsheets."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from designer.experiments.definition import Experiment

NOTE, STAR = "note", "star"  # MLflow tags: visible in `mlflow ui` too, and writable after the run ended


def load_trials(experiment: Experiment, study: str, storage: str, tracking_uri: str) -> list[dict[str, Any]]:
    """Every trial of the study so far, oldest first; none if the experiment never ran."""
    import optuna
    from mlflow.tracking import MlflowClient

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    except KeyError:  # no such study yet
        return []
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(study)
    tags = {}
    if found is not None:
        tags = {r.info.run_id: r.data.tags for r in client.search_runs([found.experiment_id], max_results=5000)}
    decode = {h.key for h in experiment.hyperparameters() if h.kind == "choice"
              and any(isinstance(v, tuple) for v in h.values)}
    rows = []
    for t in trials:
        run_id = t.user_attrs.get("run_id", "")
        run_tags = tags.get(run_id, {})
        rows.append({"trial": t.number, "status": _status(t), "objective": t.value,
                     "params": {k: (json.loads(v) if k in decode else v) for k, v in t.params.items()},
                     "metrics": t.user_attrs.get("metrics", {}), "duration_s": t.user_attrs.get("duration_s"),
                     "parameters": t.user_attrs.get("parameters"), "run_id": run_id,
                     "cause": t.user_attrs.get("cause", ""), "message": t.user_attrs.get("message", ""),
                     "note": run_tags.get(NOTE, ""), "star": run_tags.get(STAR) == "1",
                     "epochs_done": len(t.intermediate_values), "epochs": t.user_attrs.get("epochs")})
    return rows


def _status(trial: Any) -> str:
    state = trial.state.name.lower()
    if state == "fail":
        return "failed" if trial.user_attrs.get("cause") else "interrupted"
    return {"complete": "finished"}.get(state, state)


def set_run_tag(tracking_uri: str, run_id: str, key: str, value: str) -> None:
    """A note or a star on a trial's run."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri).set_tag(run_id, key, value)


def pareto_front(points: list[tuple[float, float]], maximize: bool) -> list[int]:
    """Indices of the points no other point beats on both fewer parameters (x) and a better objective (y),
    in order of x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1] if maximize else points[i][1]))
    front, best = [], None
    for i in order:
        y = points[i][1]
        if best is None or (y > best if maximize else y < best):
            front.append(i)
            best = y
    return front


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """The results table as a spreadsheet: one row per trial, hyperparameters and metrics as columns."""
    params = sorted({k for r in rows for k in r["params"]})
    metrics = sorted({k for r in rows for k in r["metrics"]})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["trial", "status", "objective", *params, *metrics, "duration_s", "parameters", "run_id",
                         "star", "note"])
        for r in rows:
            writer.writerow([r["trial"], r["status"], r["objective"], *(r["params"].get(k) for k in params),
                             *(r["metrics"].get(k) for k in metrics), r["duration_s"], r["parameters"], r["run_id"],
                             int(r["star"]), r["note"]])
