"""The Optuna side of an experiment: storage, study, sampler and pruner, and the trial budget.

The study lives in an SQLite file beside the project by default (``sweeps.db``, apart from
MLflow's ``runs.db``: both keep an ``alembic_version`` table), or in any database URL Optuna
accepts, so that sweeps started on several machines join one study. Trials carry heartbeats:
a trial whose process vanished is failed and its values queued again by whichever sweep of the
study notices first, while it runs or when it opens the study.
"""

from __future__ import annotations

import itertools
import math
import random
import time
import warnings
from pathlib import Path
from typing import Any

import optuna

from designer.experiments.definition import Experiment
from designer.graph.serialize import DocumentFormatError
from designer.training.store_errors import PROBE_TIMEOUT_S, STUDIES, probe, shown, store_access

GRACE_BEATS = 3  # a running trial silent for this many heartbeats is lost: its process or machine is gone
RETRIES = 3  # a lost trial's values run again at most this often: values that kill machines stop being tried


class Grid(optuna.samplers.GridSampler):
    """Optuna's grid, minus its ``study.stop()`` once every point ran: that works only inside
    ``optimize``, and the sweep's budget (the grid's size) ends it anyway."""

    def after_trial(self, *args: Any, **kwargs: Any) -> None:
        pass


def default_storage(project_dir: Path) -> str:
    return f"sqlite:///{(project_dir / 'sweeps.db').resolve()}"


def study_name(project: str, experiment: str) -> str:
    """One name for the Optuna study and the MLflow experiment, so each finds the other."""
    return f"{project}/{experiment}"


def study_errors() -> tuple[type[Exception], ...]:
    """What Optuna's storage raises when its database fails (corrupt, locked, full, a server gone)."""
    from sqlalchemy.exc import SQLAlchemyError

    return SQLAlchemyError, optuna.exceptions.StorageInternalError


def study_access(storage_url: str) -> Any:
    """Study store failures as one-line ``StoreError``s that name the store and the fix."""
    return store_access(storage_url, STUDIES, study_errors())


def _timeout(storage_url: str) -> dict[str, Any]:
    """A database server that takes the connection but never answers gives up within seconds (SQLAlchemy
    and the drivers would wait on it forever)."""
    server = storage_url.split(":", 1)[0].split("+")[0] in ("postgresql", "mysql")
    return {"connect_args": {"connect_timeout": round(PROBE_TIMEOUT_S)}} if server else {}


def open_study(experiment: Experiment, name: str, storage_url: str, epochs: int) -> Any:
    """Create the study, or load it to go on; its direction must match the experiment's. ``StoreError``
    within seconds if the store cannot be used."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    probe(storage_url, STUDIES)
    with warnings.catch_warnings(), study_access(storage_url):
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            storage = _storage(storage_url, experiment.heartbeat_s)
        except ImportError:
            raise DocumentFormatError("storage", f"cannot open {shown(storage_url)!r}: its database driver is "
                                      "not installed (PostgreSQL: pip install 'keras-network-designer[postgres]')"
                                      ) from None
        except study_errors():
            raise  # the store's own failure: study_access names it
        except Exception as exc:  # a schema of another Optuna, a bad URL: name it, not a trace
            raise DocumentFormatError("storage", f"cannot open {shown(storage_url)!r}: "
                                      f"{str(exc).splitlines()[0]}") from None
        direction = "maximize" if experiment.maximize else "minimize"
        study = optuna.create_study(storage=storage, study_name=name, direction=direction, load_if_exists=True,
                                    sampler=make_sampler(experiment), pruner=make_pruner(experiment, epochs))
        if study.direction.name.lower() != direction:
            raise DocumentFormatError("objective", f"the stored study {name!r} was made to "
                                      f"{study.direction.name.lower()} its objective; this experiment would "
                                      f"{direction} {experiment.objective}: name a new experiment")
    return study


def _storage(url: str, heartbeat_s: float) -> Any:
    """Optuna's database storage. Sweeps started together on a new database all create its tables at once,
    and all but one fail (a duplicate table or type); they only have to try again to find the tables made."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in itertools.count():
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat_s, engine_kwargs=_timeout(url),
                                              grace_period=GRACE_BEATS * heartbeat_s,
                                              heartbeat_stale_trial_callback=_LostTrials(max_retry=RETRIES))
        except (IntegrityError, ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.2 + random.random())  # not in step with the others again


class _LostTrials(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Queues a lost trial's values again and keeps the trial, so the sweep can close its run record."""

    def __init__(self, max_retry: int) -> None:
        super().__init__(max_retry=max_retry)
        self.found: list[Any] = []

    def __call__(self, study: Any, trial: Any) -> None:
        super().__call__(study, trial)
        self.found.append(trial)


def lost_trials(study: Any) -> list[Any]:
    """Fail the running trials whose heartbeats stopped, on any machine, queue their values again and
    return them (each to the one sweep that failed it). They no longer count against the budget."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    callback = study._storage.get_heartbeat_stale_trial_callback()
    found, callback.found = callback.found, []
    return found


def make_sampler(experiment: Experiment) -> Any:
    hps = experiment.hyperparameters()
    if experiment.strategy == "grid":
        space = {h.key: [optuna_choice(v) for v in h.grid_values()] for h in hps}
        return Grid(space, seed=experiment.seed)
    if experiment.strategy == "random":
        return optuna.samplers.RandomSampler(seed=experiment.seed)
    startup = max(2, min(10, experiment.budget() // 3))  # a small study learns from its own first trials
    if experiment.sampler == "gp":
        try:
            import torch  # noqa: F401  (Optuna's Gaussian process runs on it)

            return optuna.samplers.GPSampler(seed=experiment.seed, n_startup_trials=startup)
        except ImportError:
            warnings.warn("the Gaussian-process sampler needs PyTorch (pip install '.[torch]'); using TPE",
                          stacklevel=2)
    return optuna.samplers.TPESampler(seed=experiment.seed, n_startup_trials=startup, multivariate=True,
                                      constant_liar=True)  # parallel trials do not all pick the same point


def make_pruner(experiment: Experiment, epochs: int) -> Any:
    """No verdict in the first quarter of training, where curves still cross (a trial pruned at epoch 2
    of 40 for its 0.33 accuracy may well have won), nor before three trials have finished."""
    if experiment.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=epochs // 4)
    if experiment.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, epochs // 4), max_resource=max(epochs, 2))
    return optuna.pruners.NopPruner()


def optuna_choice(value: Any) -> Any:
    """Optuna's categorical values are scalars; a tuple (a kernel size) goes as its JSON text."""
    import json

    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(list(value))


def spent(study: Any, before: int | None = None) -> int:
    """Trials that use up the budget, on every machine: finished ones, running ones, and failures with a
    cause. A trial failed by an interruption has no cause; its retry is queued and runs instead.
    ``before``: only those numbered lower, which were asked for first."""
    from optuna.trial import TrialState

    counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return sum(1 for t in study.get_trials(deepcopy=False)
               if (before is None or t.number < before)
               and (t.state in counted or (t.state == TrialState.FAIL and t.user_attrs.get("cause"))))


def running(study: Any) -> int:
    """Trials running now, on any machine."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def objective_value(event: dict[str, Any], metric: str) -> float | None:
    """The trial's objective from its finished event: a test metric, else the last epoch's value."""
    if metric in event.get("metrics", {}):
        return float(event["metrics"][metric])
    values = event.get("history", {}).get(metric)
    if values:
        value = float(values[-1])
        return value if math.isfinite(value) else None
    return None

