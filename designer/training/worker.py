"""One ``spawn`` process per training run, reporting typed events over a queue.

Events are plain dicts with an ``event`` key: ``started`` (backend, device, versions),
``batch`` (epoch, step, loss, metrics, samples/s), ``epoch`` (training and validation
metrics), ``finished`` (test metrics, history, duration) or ``failed`` (cause: nan, oom,
data, stopped, crash, killed; message; traceback). A crash, NaN or out-of-memory in the
run cannot take the caller down, and the GPU memory is released when the process ends.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_module
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TERMINAL = ("finished", "failed")
# At most this many batch events a second (plenty for live curves); the environment variable of the
# same name raises it, e.g. for the UI latency benchmark, which streams every batch.
BATCH_EVENTS_PER_SECOND = float(os.environ.get("NETDESIGNER_BATCH_EVENTS_PER_SECOND", 20))


class RunHandle:
    """The caller's side of one run: read events, stop gracefully, or kill.

    The process starts at once and imports Keras while it waits for its job, so a handle
    made ahead of time (``warm_worker()``) answers its first batch about a second after
    ``submit`` instead of after TensorFlow's multi-second import.
    """

    def __init__(self, backend: str = "tensorflow") -> None:
        ctx = mp.get_context("spawn")
        self.backend = backend
        self.queue: Any = ctx.Queue()
        self.jobs: Any = ctx.Queue()
        self.stop_event = ctx.Event()
        self.process = ctx.Process(target=_serve, args=(backend, self.jobs, self.queue, self.stop_event), daemon=True)
        self.process.start()
        self.submitted = False
        self.done = False

    def submit(self, project: dict[str, Any], folder: Path, overrides: dict[str, Any]) -> RunHandle:
        if self.submitted:
            raise RuntimeError("a worker runs one training job; start another for the next run")
        self.submitted = True
        self.jobs.put((project, str(folder), overrides))
        return self

    def events(self, poll: float = 0.2) -> Iterator[dict[str, Any]]:
        """Every event until the run ends; a worker that dies silently ends as ``failed``."""
        while not self.done:
            try:
                event = self.queue.get(timeout=poll)
            except queue_module.Empty:
                if not self.process.is_alive():
                    self.done = True
                    code = self.process.exitcode
                    yield {"event": "failed", "cause": "killed" if code and code < 0 else "crash",
                           "message": f"the training process ended unexpectedly (exit code {code})"}
                continue
            self.done = event["event"] in TERMINAL
            yield event
        self.process.join(timeout=30)

    def stop(self) -> None:
        """Graceful: the run stops after the current batch and reports ``failed`` with cause ``stopped``."""
        self.stop_event.set()

    def kill(self) -> None:
        self.process.terminate()


def warm_worker(backend: str = "tensorflow") -> RunHandle:
    """A worker process that is importing Keras now, to run one job later."""
    return RunHandle(backend)


def start_run(project: dict[str, Any], folder: Path, warm: RunHandle | None = None, **overrides: Any) -> RunHandle:
    """Run ``project`` in ``warm`` if it suits (same backend, unused), else in a new worker."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    backend = {**project.get("training", {}), **overrides.get("training", {})}.get("backend", "tensorflow")
    handle = warm if warm is not None and not warm.submitted and warm.backend == backend else RunHandle(backend)
    return handle.submit(project, folder, overrides)


# ---- inside the worker process ----------------------------------------------------------------
def _serve(backend: str, jobs: Any, queue: Any, stop_event: Any) -> None:
    os.environ["KERAS_BACKEND"] = backend
    from designer.quiet import import_keras_quietly

    import_keras_quietly()  # while nobody waits yet: Keras, the catalog and the data libraries
    import scipy.ndimage  # noqa: F401
    import sklearn.datasets  # noqa: F401

    from designer.keras_bridge import saving  # noqa: F401
    from designer.layers.catalog import load_catalog

    load_catalog()
    project, folder, overrides = jobs.get()
    _main(project, folder, overrides, queue, stop_event)


def _main(project: dict[str, Any], folder: str, overrides: dict[str, Any], queue: Any, stop_event: Any) -> None:
    started = time.perf_counter()
    try:
        _train(project, Path(folder), overrides, queue, stop_event, started)
    except _Stopped as exc:
        queue.put({"event": "failed", "cause": exc.cause, "message": str(exc)})
    except Exception as exc:
        queue.put({"event": "failed", "cause": _cause(exc), "message": str(exc).split("\n")[0][:500],
                   "traceback": traceback.format_exc()})


class _Stopped(Exception):
    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause


def _cause(exc: BaseException) -> str:
    from designer.data.dataset import DataError

    if isinstance(exc, DataError):
        return "data"
    if isinstance(exc, MemoryError) or "ResourceExhausted" in type(exc).__name__ or "out of memory" in str(exc):
        return "oom"
    return "crash"


def _train(project: dict[str, Any], folder: Path, overrides: dict[str, Any], queue: Any, stop_event: Any,
           started: float) -> None:
    from designer.graph.project import project_from_dict
    from designer.training.spec import TrainingSpec

    spec = TrainingSpec.from_dict({**project.get("training", {}), **overrides.get("training", {})})
    import keras

    from designer.data.dataset import DataError, check_fit
    from designer.data.sources import load_source
    from designer.keras_bridge.saving import model_with_weights

    keras.utils.set_random_seed(spec.seed)
    devices = keras.distribution.list_devices() if hasattr(keras, "distribution") else []
    queue.put({"event": "started", "backend": keras.backend.backend(), "device": devices[0] if devices else "cpu",
               "versions": {"keras": keras.__version__}})
    data_setup = {**project.get("data", {}), **overrides.get("data", {})}
    dataset = load_source(str(data_setup.get("source", "")), folder, target=data_setup.get("target"),
                          target_size=data_setup.get("target_size"))
    model, _ = model_with_weights(project_from_dict(project), folder)
    problems = check_fit(dataset, [tuple(t.shape) for t in model.inputs], [tuple(t.shape) for t in model.outputs])
    if problems:
        raise DataError("; ".join(problems))
    splits = dataset.split(spec.validation_split, spec.test_split, spec.seed)
    steps = spec.epochs * max(1, -(-len(splits.train.x) // spec.batch_size))
    optimizer = keras.optimizers.get({"class_name": spec.optimizer, "config": {
        "learning_rate": learning_rate_schedule(keras, spec, steps), **spec.optimizer_args,
        **({"clipnorm": spec.gradient_clip} if spec.gradient_clip else {})}})
    model.compile(optimizer=optimizer, jit_compile="auto" if spec.jit_compile is None else spec.jit_compile,
                  loss=spec.loss_for(dataset.task, model.outputs[0].shape[-1]),
                  metrics=spec.metrics_for(dataset.task))
    callbacks: list[Any] = [_events_callback()(queue, stop_event, spec.batch_size)]
    if overrides.get("output_dir") and len(splits.validation.x):
        Path(overrides["output_dir"]).mkdir(parents=True, exist_ok=True)
        callbacks.append(keras.callbacks.ModelCheckpoint(str(Path(overrides["output_dir"]) / "best.keras"),
                                                         monitor="val_loss", save_best_only=True))
    if spec.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2))
    if spec.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(patience=spec.early_stopping_patience,
                                                       restore_best_weights=True))
    validation = (splits.validation.x, splits.validation.y) if len(splits.validation.x) else None
    history = model.fit(splits.train.x, splits.train.y, batch_size=spec.batch_size, epochs=spec.epochs,
                        validation_data=validation, callbacks=callbacks, verbose=0)
    reason = callbacks[0].reason
    if reason is not None:
        raise _Stopped(*reason)
    metrics, evaluation = {}, {}
    if len(splits.test.x):
        metrics = {f"test_{k}": float(v) for k, v in
                   model.evaluate(splits.test.x, splits.test.y, verbose=0, return_dict=True).items()}
        if dataset.task == "classification":
            evaluation = _classifier_report(model, splits.test.x, splits.test.y, dataset.class_names)
    if overrides.get("output_dir"):
        _save_outputs(Path(overrides["output_dir"]), model, history.history, project, evaluation)
    queue.put({"event": "finished", "metrics": metrics, "evaluation": evaluation,
               "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
               "duration_s": time.perf_counter() - started, "parameters": int(model.count_params()),
               "samples": len(splits.train.x)})


def learning_rate_schedule(keras: Any, spec: Any, steps: int) -> Any:
    """The spec's schedule as a Keras LearningRateSchedule over ``steps`` optimizer steps."""
    lr, schedules = spec.learning_rate, keras.optimizers.schedules
    if spec.schedule == "step":  # divide by 10 at half and at three quarters of training
        return schedules.PiecewiseConstantDecay([steps // 2, (3 * steps) // 4], [lr, lr / 10, lr / 100])
    if spec.schedule == "exponential":
        return schedules.ExponentialDecay(lr, decay_steps=max(1, steps // 10), decay_rate=0.8)
    if spec.schedule == "cosine":
        return schedules.CosineDecay(lr, decay_steps=steps)
    if spec.schedule == "warmup_cosine":
        warmup = max(1, int(steps * spec.warmup_fraction))
        return schedules.CosineDecay(0.0, decay_steps=max(1, steps - warmup), warmup_target=lr, warmup_steps=warmup)
    return lr  # constant, and plateau (a callback lowers it)


def _classifier_report(model: Any, x: Any, y: Any, class_names: list[str]) -> dict[str, Any]:
    """Confusion matrix and per-class precision, recall and F1 on the test split."""
    import numpy as np
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    scores = np.asarray(model.predict(x, verbose=0))
    predicted = scores.argmax(-1) if scores.shape[-1] > 1 else (scores[..., 0] > 0.5).astype(int)
    labels = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    return {"classes": class_names, "confusion_matrix": confusion_matrix(y, predicted, labels=labels).tolist(),
            "per_class": {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
                          for name, p, r, f, n in zip(class_names, precision, recall, f1, support, strict=True)}}


def _save_outputs(folder: Path, model: Any, history: dict[str, list[float]], project: dict[str, Any],
                  evaluation: dict[str, Any]) -> None:
    """What a run record keeps: the trained model, its history, the project it came from."""
    import csv
    import json

    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    with open(folder / "history.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        keys = list(history)
        writer.writerow(["epoch", *keys])
        for i in range(len(history[keys[0]]) if keys else 0):
            writer.writerow([i + 1, *(history[k][i] for k in keys)])
    (folder / "project.kdn").write_text(json.dumps(project, indent=1), encoding="utf-8")
    if evaluation:
        (folder / "evaluation.json").write_text(json.dumps(evaluation, indent=1), encoding="utf-8")


def _events_callback() -> type:
    """The Keras callback class (defined once Keras is imported, inside the worker)."""
    import keras

    class Events(keras.callbacks.Callback):
        """Streams batch and epoch events; stops within one batch on request or on NaN."""

        def __init__(self, queue: Any, stop_event: Any, batch_size: int) -> None:
            super().__init__()
            self.queue, self.stop_event, self.batch_size = queue, stop_event, batch_size
            self.epoch = 0
            self.last_sent = 0.0
            self.last_time = time.perf_counter()
            self.reason: tuple[str, str] | None = None

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            logs = {k: float(v) for k, v in (logs or {}).items()}
            now = time.perf_counter()
            if not all(map(_finite, logs.values())):
                self.reason = ("nan", f"the loss became NaN or infinite at epoch {self.epoch + 1}, batch {batch + 1}: "
                                      "lower the learning rate or check the data")
                self.model.stop_training = True
            elif self.stop_event.is_set():
                self.reason = ("stopped", f"stopped by request at epoch {self.epoch + 1}, batch {batch + 1}")
                self.model.stop_training = True
            if now - self.last_sent >= 1 / BATCH_EVENTS_PER_SECOND or self.reason:
                lr = self.model.optimizer.learning_rate
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(lr))
                self.queue.put({"event": "batch", "epoch": self.epoch + 1, "step": batch + 1,
                                "steps": self.params.get("steps"), **logs,
                                "samples_per_s": self.batch_size / max(now - self.last_time, 1e-9)})
                self.last_sent = now
            self.last_time = now

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.queue.put({"event": "epoch", "epoch": epoch + 1, "wall_time": time.time(),
                            **{k: float(v) for k, v in (logs or {}).items()}})

    return Events


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")
