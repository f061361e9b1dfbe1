"""One ``spawn`` process per training run, reporting typed events over a queue.

Events are plain dicts with an ``event`` key: ``started`` (backend, device, precision,
versions), ``batch`` (epoch, step, steps, loss, metrics, learning rate, samples/s), ``epoch``
(training and validation metrics), ``checkpoint`` (kind last/best, epoch, file), ``weights`` (epoch, file: the model's
weights written for the window's layer previews, while it asks for them), ``note`` (a
warning or what the run did on its own, e.g. adapting a layer), ``finished`` (test metrics,
evaluation, history, duration) or ``failed`` (cause: nan, oom, data, device, stopped, crash,
disk, killed; message; traceback). A crash, NaN or out-of-memory in the
run cannot take the caller down, and the GPU memory is released when the process ends.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue as queue_module
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from designer.training.failures import chain, disk_full

TERMINAL = ("finished", "failed")
# At most this many batch events a second (plenty for live curves); the environment variable of the
# same name raises it, e.g. for the UI latency benchmark, which streams every batch.
BATCH_EVENTS_PER_SECOND = float(os.environ.get("NETDESIGNER_BATCH_EVENTS_PER_SECOND", 20))


class RunHandle:
    """The caller's side of one worker: read events, stop gracefully, or kill.

    The process starts at once and imports Keras while it waits for its job, so a handle
    made ahead of time (``warm_worker()``) answers its first batch about a second after
    ``submit`` instead of after TensorFlow's multi-second import. A ``reuse`` worker serves
    one job after another (a sweep's trials) until ``close``; ``threads`` caps its thread
    pools (its share of the cores) and ``gpu`` pins it to one GPU by index. ``previews`` is set while the
    window shows layer previews: a run given a ``preview_weights`` file then writes its weights there.
    """

    def __init__(self, backend: str = "tensorflow", device: str = "auto", *, reuse: bool = False,
                 threads: int | None = None, gpu: int | None = None) -> None:
        ctx = mp.get_context("spawn")
        self.backend, self.device, self.reuse, self.threads, self.gpu = backend, device, reuse, threads, gpu
        self.queue: Any = ctx.Queue()
        self.jobs: Any = ctx.Queue()
        self.stop_event = ctx.Event()
        self.previews = ctx.Event()
        # The kernel's parent-death signal follows the starting *thread*: ask for it only from the main one.
        placement = {"threads": threads, "gpu": gpu, "reuse": reuse,
                     "death_signal": threading.current_thread() is threading.main_thread()}
        self.process = ctx.Process(target=_serve, args=(backend, device, placement, self.jobs, self.queue,
                                                        self.stop_event, self.previews), daemon=True)
        self.process.start()
        self.submitted = False
        self.done = False
        self.reaping = False

    @property
    def idle(self) -> bool:
        """Ready for a job: never used, or a reusable worker whose last job has ended."""
        return self.process.is_alive() and (not self.submitted or (self.reuse and self.done))

    def submit(self, project: dict[str, Any], folder: Path, overrides: dict[str, Any]) -> RunHandle:
        if not self.idle:
            raise RuntimeError("this worker is busy or spent; start another for the next run")
        self.submitted, self.done = True, False
        self.stop_event.clear()
        self.jobs.put((project, str(folder), overrides))
        return self

    def events(self, poll: float = 0.2) -> Iterator[dict[str, Any]]:
        """Every event until the job ends; a worker that dies silently ends it as ``failed``."""
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
        if not self.reuse:
            self.process.join(timeout=30)

    def stop(self) -> None:
        """Graceful: the run stops after the current batch and reports ``failed`` with cause ``stopped``."""
        self.stop_event.set()

    def kill(self) -> None:
        """Hard stop: SIGKILL, since a worker takes SIGTERM during a job as a request to stop gracefully."""
        self.process.kill()
        self._reap()

    def close(self) -> None:
        """Let an idle reusable worker exit in its own time (tearing TensorFlow down takes seconds, and
        nobody need wait for it); a busy one is killed."""
        if self.idle and self.reuse:
            self.jobs.put(None)
            self._reap()
        elif self.process.is_alive():
            self.kill()

    def _reap(self) -> None:
        """Join the process on a thread of its own once it ends: an ended child nobody joins stays a zombie
        until this process exits, and nobody should wait for it either."""
        if not self.reaping:
            self.reaping = True
            threading.Thread(target=self.process.join, daemon=True, name=f"reap-{self.process.pid}").start()


def warm_worker(backend: str = "tensorflow", device: str = "auto") -> RunHandle:
    """A worker process that is importing Keras now, to run one job later."""
    return RunHandle(backend, device)


def start_run(project: dict[str, Any], folder: Path, warm: RunHandle | None = None, **overrides: Any) -> RunHandle:
    """Run ``project`` in ``warm`` if it suits (same backend and device, idle), else in a new worker.
    Overrides: ``training`` and ``data`` (merged over the project's), ``output_dir`` (checkpoints and
    the trained model), ``resume_from`` (a run's folder with ``last.keras``: training goes on from it),
    ``preview_weights`` (a file for the weights after epochs, while the handle's ``previews`` is set),
    ``batch_events_per_second`` (fewer for a sweep's many trials, whose views plot epochs), ``resumable``
    (False: no ``last.keras`` each epoch, for a sweep's trials, which run again from the start)."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    training = {**project.get("training", {}), **overrides.get("training", {})}
    backend, device = training.get("backend", "tensorflow"), training.get("device", "auto")
    suits = warm is not None and warm.idle and (warm.backend, warm.device) == (backend, device)
    handle = warm if suits and warm is not None else RunHandle(backend, device)
    return handle.submit(project, folder, overrides)


# ---- inside the worker process ----------------------------------------------------------------
def _die_with_parent(death_signal: bool) -> None:
    """An orphaned worker would train on with nobody to record it: end with the process that started us.
    Linux's parent-death signal acts at once; the parent's end of the spawn pipe closing (any OS, any
    thread, and a parent already gone before we asked) is noticed by a watching thread."""
    if death_signal and sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    parent = mp.parent_process()
    if parent is not None:
        from multiprocessing.connection import wait

        threading.Thread(target=lambda: (wait([parent.sentinel]), os._exit(1)), daemon=True,
                         name="parent-watch").start()


def _serve(backend: str, device: str, placement: dict[str, Any], jobs: Any, queue: Any, stop_event: Any,
           previews: Any) -> None:
    _die_with_parent(placement["death_signal"])
    # Ctrl+C reaches the whole process group; the parent answers it with a graceful stop (a run recorded
    # as stopped), so the worker must not die of it half-way with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["KERAS_BACKEND"] = backend
    if device == "cpu":  # before the framework starts: hidden GPUs are never initialised
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    elif placement.get("gpu") is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(placement["gpu"])
    elif device == "gpu":
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "0")
    if placement["reuse"]:  # a sweep's workers may share a GPU: take its memory as needed, not all up front
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    if placement.get("threads"):  # read by TensorFlow, OpenMP (PyTorch) and XLA when they start
        threads = str(placement["threads"])
        for name in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
            os.environ[name] = threads
        os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    from designer.quiet import import_keras_quietly

    import_keras_quietly()  # while nobody waits yet: Keras, the catalog and the data libraries
    if backend == "tensorflow":  # a reused worker builds a new model per job: TF's retracing notes are noise
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    import scipy.ndimage  # noqa: F401
    import sklearn.datasets  # noqa: F401

    from designer.keras_bridge import saving  # noqa: F401
    from designer.layers.catalog import load_catalog

    load_catalog()
    while (job := jobs.get()) is not None:  # one job, or a reusable worker's next one
        project, folder, overrides = job
        # SIGTERM to the whole group (a service manager, a batch scheduler) stops the job as the parent's stop
        # does, so that the run is recorded as stopped; between jobs it ends the process as ever.
        signal.signal(signal.SIGTERM, lambda *_: stop_event.set())
        _main(project, folder, overrides, queue, stop_event, previews)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if not placement["reuse"]:
            break


def _main(project: dict[str, Any], folder: str, overrides: dict[str, Any], queue: Any, stop_event: Any,
          previews: Any) -> None:
    import warnings

    def forward(message: Any, category: type, *_: Any, **__: Any) -> None:  # the run's warnings reach its console
        queue.put({"event": "note", "text": f"{category.__name__}: {message}"})

    warnings.showwarning = forward
    started = time.perf_counter()
    try:
        _train(project, Path(folder), overrides, queue, stop_event, previews, started)
    except _Stopped as exc:
        queue.put({"event": "failed", "cause": exc.cause, "message": str(exc)})
    except Exception as exc:
        cause, message = _cause(exc), str(exc).split("\n")[0][:500]
        # The run's files go to a scratch folder (``output_dir``) in the temporary folder: that is the one to clear.
        full = disk_full(exc, Path(overrides["output_dir"]).parent if overrides.get("output_dir") else Path(folder))
        if full:
            cause, message = "disk", full
        elif cause == "oom":
            message = f"out of memory: lower the batch size or make the network smaller ({message[:300]})"
        queue.put({"event": "failed", "cause": cause, "message": message, "traceback": traceback.format_exc()})


class _Stopped(Exception):
    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause


def _cause(exc: BaseException) -> str:
    from designer.data.dataset import DataError
    from designer.graph.serialize import DocumentFormatError

    if isinstance(exc, (DataError, DocumentFormatError)):  # unusable data or options: the message says which
        return "data"
    if any(isinstance(e, MemoryError) or "ResourceExhausted" in type(e).__name__ or "out of memory" in str(e)
           or "OOM when allocating" in str(e) for e in chain(exc)):
        return "oom"
    return "crash"


def _train(project: dict[str, Any], folder: Path, overrides: dict[str, Any], queue: Any, stop_event: Any,
           previews: Any, started: float) -> None:
    from designer.graph.project import project_from_dict
    from designer.training.spec import TrainingSpec

    spec = TrainingSpec.from_dict({**project.get("training", {}), **overrides.get("training", {})})
    import keras

    from designer.data.dataset import DataError, check_fit
    from designer.data.sources import load_setup
    from designer.keras_bridge.saving import model_with_weights

    keras.backend.clear_session()  # a reused worker starts each job from a clean slate
    keras.utils.set_random_seed(spec.seed)
    keras.mixed_precision.set_global_policy("mixed_float16" if spec.mixed_precision else "float32")
    scope, device = _device_scope(keras, spec.device)
    queue.put({"event": "started", "backend": keras.backend.backend(), "device": device,
               "precision": keras.mixed_precision.global_policy().name, "versions": {"keras": keras.__version__}})
    data_setup = {**project.get("data", {}), **overrides.get("data", {})}
    dataset = load_setup(data_setup, folder)
    splits = dataset.split(spec.validation_split, spec.test_split, spec.seed)
    if _is_text(splits.train.x) and keras.backend.backend() != "tensorflow":
        raise DataError(f"this data is text, and only the tensorflow backend has string tensors (not "
                        f"{keras.backend.backend()}): train it on the tensorflow backend (--backend tensorflow)")
    resume = Path(overrides["resume_from"]) if overrides.get("resume_from") else None
    initial_epoch, best = 0, float("inf")
    recipe = spec.recipe if spec.recipe != "supervised" else None
    if recipe:
        from designer.training import recipes
        from designer.training.recipes import common as recipe_parts
        from designer.training.recipes import gan, vae  # noqa: F401  (their trainers load from checkpoints)
        from designer.training.recipes import judge as recipe_judge
    with scope:
        if resume is not None:  # the checkpoint carries the optimizer and its state: no new compile
            model = keras.saving.load_model(resume / LAST, safe_mode=True)
            state = json.loads((resume / LAST_STATE).read_text(encoding="utf-8"))
            initial_epoch, best = int(state["epoch"]), float(state.get("best", best))
        else:
            model, _ = model_with_weights(project_from_dict(project), folder)
            if recipe:
                _check_recipe(project, recipe, spec.recipe_options)
                try:
                    model = recipes.trainer(model, recipe, spec.recipe_options, spec.seed)
                except ValueError as exc:
                    raise DataError(str(exc)) from None
        if recipe:
            problems = recipe_parts.data_problems(model, splits.train.x, len(dataset.class_names))
        else:
            problems = check_fit(dataset, [tuple(t.shape) for t in model.inputs],
                                 [tuple(t.shape) for t in model.outputs])
        if problems:
            raise DataError("; ".join(problems))
        judge = _judge(model, spec, folder) if recipe else None
        if resume is None and not recipe:
            _adapt(model, splits.train.x, queue)
        steps = spec.epochs * max(1, -(-len(splits.train.x) // spec.batch_size))
        if resume is None:
            def optimizer_at(rate: float) -> Any:
                return keras.optimizers.get({"class_name": spec.optimizer, "config": {
                    "learning_rate": learning_rate_schedule(keras, spec, steps, rate), **spec.optimizer_args,
                    **({"clipnorm": spec.gradient_clip} if spec.gradient_clip else {})}})

            optimizer = optimizer_at(spec.learning_rate)
            if recipe == "gan":  # the discriminator steps with an optimizer (and a learning rate) of its own
                optimizer = gan.GANOptimizers(optimizer, optimizer_at(
                    spec.recipe_options["discriminator_learning_rate"] or spec.learning_rate))
            jit = "auto" if spec.jit_compile is None else spec.jit_compile
            if recipe:  # the recipe's loss is its own (compute_loss)
                model.compile(optimizer=optimizer, jit_compile=jit)
            else:
                model.compile(optimizer=optimizer, jit_compile=jit,
                              loss=spec.loss_for(dataset.task, model.outputs[0].shape[-1]),
                              metrics=spec.metrics_for(dataset.task))
    rate = float(overrides.get("batch_events_per_second", BATCH_EVENTS_PER_SECOND))
    events = _events_callback()(queue, stop_event, spec.batch_size, len(splits.train.x), rate)
    callbacks: list[Any] = [events]
    training = {**project.get("training", {}), **overrides.get("training", {})}
    if judge is not None and spec.recipe_options["judge_each_epoch"]:  # before the events callback reports
        callbacks.insert(0, recipe_judge.JudgeEachEpoch(judge, training, spec.recipe_options["judge_samples"],
                                                        dataset.class_names))
    if overrides.get("output_dir"):
        callbacks.append(_checkpoints_callback()(Path(overrides["output_dir"]), queue, best,
                                                 overrides.get("resumable", True)))
        if recipe:
            classes = len(dataset.class_names) if getattr(model, "conditional", False) else 0
            callbacks.append(recipe_parts.SampleGrids(Path(overrides["output_dir"]), queue, training, classes))
    if overrides.get("preview_weights"):
        callbacks.append(_preview_weights_callback()(Path(overrides["preview_weights"]), queue, previews))
    if spec.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2))
    if spec.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(patience=spec.early_stopping_patience,
                                                       restore_best_weights=True))
    if recipe:  # a GAN's losses say nothing of how good its samples are: it validates on nothing
        train: dict[str, Any] = {"x": recipe_parts.fit_inputs(model, splits.train), "batch_size": spec.batch_size}
        validation = (recipe_parts.fit_inputs(model, splits.validation) if recipe == "vae"
                      and len(splits.validation.x) else None)
    else:
        train = {**_feed(splits.train, spec, shuffle=True),
                 "class_weight": spec.class_weights(splits.train.y, dataset.class_names)}
        validation = None
        if len(splits.validation.x):
            feed = _feed(splits.validation, spec)
            validation = (feed["x"], feed["y"]) if "y" in feed else feed["x"]
    history = model.fit(**train, epochs=spec.epochs, initial_epoch=initial_epoch, validation_data=validation,
                        validation_freq=spec.validation_freq, callbacks=callbacks, verbose=0)
    reason = events.reason
    if reason is not None:
        raise _Stopped(*reason)
    metrics, evaluation = {}, {}
    if recipe == "vae" and len(splits.test.x):  # the test split's reconstruction loss scores the samples
        metrics = {f"test_{k}": float(v) for k, v in model.evaluate(
            recipe_parts.fit_inputs(model, splits.test), batch_size=spec.batch_size, verbose=0,
            return_dict=True).items()}
    elif not recipe and len(splits.test.x):
        metrics = {f"test_{k}": float(v) for k, v in
                   model.evaluate(**_feed(splits.test, spec), verbose=0, return_dict=True).items()}
        from designer.training.evaluation import evaluate

        evaluation = evaluate(model, _feed(splits.test, spec)["x"], splits.test.x, splits.test.y, dataset.task,
                              dataset.class_names)
    if judge is not None:  # the samples' quality, as the judge sees it
        metrics.update(recipe_judge.judge_network(judge, model.network, training,
                                                  spec.recipe_options["judge_samples"], dataset.class_names))
    if overrides.get("output_dir"):  # a recipe's trained model is the network it trained, blocks and all
        _save_outputs(Path(overrides["output_dir"]), model.network if recipe else model, history.history, project,
                      evaluation)
    queue.put({"event": "finished", "metrics": metrics, "evaluation": evaluation,
               "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
               "duration_s": time.perf_counter() - started, "parameters": int(model.count_params()),
               "samples": len(splits.train.x)})


LAST, LAST_STATE, BEST = "last.keras", "last.json", "best.keras"


def _check_recipe(project: dict[str, Any], recipe: str, options: dict[str, Any]) -> None:
    """Refuse a GAN or VAE whose blocks do not fit together, naming the block (as analysis does)."""
    from designer.data.dataset import DataError
    from designer.graph.project import project_from_dict
    from designer.keras_bridge.analysis import Analyzer
    from designer.keras_bridge.recipe_checks import recipe_diagnostics

    doc = project_from_dict(project).document
    wrong = recipe_diagnostics(doc, Analyzer().analyze(doc), recipe, options)
    if wrong:
        raise DataError("; ".join(f"{doc.node(d.node).name}: {d.message}" if d.node else d.message for d in wrong))


def _judge(trainer: Any, spec: Any, folder: Path) -> Any:
    """The recipe's judge classifier, checked against the images the network makes (None without one)."""
    from designer.data.dataset import DataError
    from designer.training.recipes.common import image_shape
    from designer.training.recipes.judge import JudgeError, load_judge

    given = spec.recipe_options["judge"]
    if not given:
        return None
    try:
        return load_judge(given, folder, image_shape(trainer), f"training.{spec.recipe}.judge")
    except JudgeError as exc:
        raise DataError(str(exc)) from None


def _is_text(x: Any) -> bool:
    """Strings: Keras takes them only as TensorFlow tensors."""
    import numpy as np

    return isinstance(x, np.ndarray) and x.dtype.kind in "OSU"


def _feed(split: Any, spec: Any, shuffle: bool = False) -> dict[str, Any]:
    """What fit/evaluate take for a split: arrays with a batch size, or batches decoded from image files."""
    import numpy as np

    if _is_text(split.x):
        import tensorflow as tf

        return {"x": tf.constant(split.x.astype(str)), "y": split.y, "batch_size": spec.batch_size}
    if isinstance(split.x, np.ndarray):
        return {"x": split.x, "y": split.y, "batch_size": spec.batch_size}
    from designer.data.images import batches

    return {"x": batches(split.x, split.y, spec.batch_size, shuffle, spec.seed)}


def _adapt(model: Any, x: Any, queue: Any) -> None:
    """Adapt preprocessing layers that read the model's input directly and still need their state
    (see ``needs_adapt``), on the training split only."""
    import numpy as np

    from designer.keras_bridge.preprocessing import needs_adapt

    if len(model.inputs) != 1 or not isinstance(x, np.ndarray):
        return
    for layer in model.layers:
        try:
            direct = layer.input is model.inputs[0]
        except (AttributeError, ValueError):  # layers called more than once have no single input
            continue
        if direct and needs_adapt(layer):
            layer.adapt(x)
            queue.put({"event": "note", "text": f"adapted {type(layer).__name__} {layer.name!r} on "
                                                f"{len(x):,} training samples"})


def _device_scope(keras: Any, device: str) -> tuple[Any, str]:
    """Where the run computes, as a context to build and compile in, and its name for the user."""
    import contextlib

    gpus = [] if device == "cpu" else _visible_gpus(keras)
    if device in ("gpu", "all_gpus") and not gpus:
        raise _Stopped("device", f"device {device!r} asks for a GPU but none is visible here; choose auto or cpu")
    if device != "all_gpus" or len(gpus) < 2:
        return contextlib.nullcontext(), (gpus[0] if gpus else "cpu")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy().scope(), f"{len(gpus)} GPUs (MirroredStrategy)"
    if backend == "jax":
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=gpus))
        return contextlib.nullcontext(), f"{len(gpus)} GPUs (DataParallel)"
    raise _Stopped("device", "all_gpus needs the tensorflow or jax backend; torch trains on one GPU here")


def _visible_gpus(keras: Any) -> list[str]:
    """The GPUs the backend sees. Keras has no distribution library for torch, so torch is asked itself."""
    if keras.backend.backend() == "torch":
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    try:
        return keras.distribution.list_devices("gpu")
    except RuntimeError:  # JAX raises where it has no GPU platform at all; TensorFlow lists none
        return []


def learning_rate_schedule(keras: Any, spec: Any, steps: int, lr: float | None = None) -> Any:
    """The spec's schedule as a Keras LearningRateSchedule over ``steps`` optimizer steps, from the rate ``lr``
    (default the spec's learning rate)."""
    lr, schedules = spec.learning_rate if lr is None else lr, keras.optimizers.schedules
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


def _save_outputs(folder: Path, model: Any, history: dict[str, list[float]], project: dict[str, Any],
                  evaluation: dict[str, Any]) -> None:
    """What a run record keeps: the trained model, its history, the project it came from."""
    import csv

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


def batch_loss(mean_before: float, mean: float, seen_before: int, seen: int) -> float:
    """The mean loss of the samples seen since ``seen_before``, from Keras's running epoch means.

    Keras logs the loss averaged over the epoch so far, weighted by batch size: after ``seen``
    samples ``mean = total / seen``, so the samples since then lost
    ``(seen * mean - seen_before * mean_before) / (seen - seen_before)``; for one batch, that batch's
    own loss. A curve of running means falls in steps at each epoch; this is the loss as it is.
    """
    if seen <= seen_before:
        return mean
    return (seen * mean - seen_before * mean_before) / (seen - seen_before)


def _events_callback() -> type:
    """The Keras callback class (defined once Keras is imported, inside the worker)."""
    import threading

    import keras

    from designer.keras_bridge.internals import learning_rate_at

    class Events(keras.callbacks.Callback):
        """Streams batch and epoch events; stops within a batch or two on request or on NaN.

        Per batch it does a few comparisons; the queue waits for an event, at most ``rate`` a second.
        ``async_safe``: on PyTorch, whose Keras calls batch ends on a thread pool (not on TensorFlow, which
        Keras marks not thread-safe), the training loop then never waits for a step's results to reach the
        host, as in a plain ``fit``. Those calls may overlap or come out of order, so the state changes
        under a lock and a batch older than one already seen is not sent. Not on JAX: there a late call
        reads a step's results after the next step has taken (donated) their buffers, and the run fails
        with "Array has been deleted".
        """

        async_safe = keras.backend.backend() != "jax"

        def __init__(self, queue: Any, stop_event: Any, batch_size: int, samples: int, rate: float) -> None:
            super().__init__()
            self.queue, self.stop_event, self.interval = queue, stop_event, 1 / rate
            self.batch_size, self.samples = batch_size, samples
            self.lock = threading.Lock()
            self.epoch = 0
            self.last = (-1, 0.0)  # this epoch's latest batch seen and its running mean loss
            self.last_sent, self.batches = time.perf_counter(), 0  # batches since the last event, for samples/s
            self.reason: tuple[str, str] | None = None
            self.rate = 0.0  # the learning rate at this epoch's start

        def seen(self, batch: int) -> int:
            return min((batch + 1) * self.batch_size, self.samples) if batch >= 0 else 0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            with self.lock:  # the previous epoch's batch ends have all run (Keras waits for them at its end)
                self.epoch, self.last = epoch, (-1, 0.0)
                # the variables are attached now (JAX detaches them during the epoch's steps)
                self.rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            logs = dict(logs or {})
            with self.lock:
                self.batches += 1
                before, mean_before = self.last
                if batch <= before:  # overtaken by a later batch: its event would go back in time
                    return
                self.last = (batch, logs.get("loss", 0.0))
                if not all(map(_finite, logs.values())):
                    self.reason = ("nan", f"the loss became NaN or infinite at epoch {self.epoch + 1}, batch "
                                          f"{batch + 1}: lower the learning rate or check the data")
                    self.model.stop_training = True
                elif self.stop_event.is_set():
                    self.reason = ("stopped", f"stopped by request at epoch {self.epoch + 1}, batch {batch + 1}")
                    self.model.stop_training = True
                now = time.perf_counter()
                if now - self.last_sent < self.interval and not self.reason:
                    return
                if "loss" in logs:
                    logs["loss"] = batch_loss(mean_before, logs["loss"], self.seen(before), self.seen(batch))
                step = self.epoch * (self.params.get("steps") or 0) + batch
                logs["learning_rate"] = learning_rate_at(self.model.optimizer, step, self.rate)
                self.queue.put({"event": "batch", "epoch": self.epoch + 1, "step": batch + 1,
                                "steps": self.params.get("steps"), **logs,
                                "samples_per_s": self.batches * self.batch_size / max(now - self.last_sent, 1e-9)})
                self.last_sent, self.batches = now, 0

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.queue.put({"event": "epoch", "epoch": epoch + 1, "wall_time": time.time(),
                            **{k: float(v) for k, v in (logs or {}).items()}})

    return Events


# Writing checkpoints may take this share of the training time at most: a .keras file takes tens of
# milliseconds to write, longer than a small network's epoch, and one or two a epoch made such a run
# half as fast again as a plain fit.
CHECKPOINT_SHARE = 0.05


def _checkpoints_callback() -> type:
    import keras

    class Checkpoints(keras.callbacks.Callback):
        """The last model (to resume from) and the best one by validation loss, each announced.

        Files are written at most ``CHECKPOINT_SHARE`` of the time (after a write of ``d`` seconds, the
        next waits ``d / CHECKPOINT_SHARE``), and always when training ends, stopped or not: a killed
        run resumes from a slightly older epoch. A new best while waiting is kept in memory.
        """

        def __init__(self, folder: Path, queue: Any, best: float, resumable: bool) -> None:
            super().__init__()
            self.folder, self.queue, self.best, self.epoch, self.resumable = folder, queue, best, 0, resumable
            self.best_epoch, self.best_weights = 0, None  # a best not written yet
            self.next_write = 0.0
            folder.mkdir(parents=True, exist_ok=True)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch + 1
            value = (logs or {}).get("val_loss")
            if value is not None and _finite(float(value)) and float(value) < self.best:
                self.best, self.best_epoch = float(value), self.epoch
                self.best_weights = self.model.get_weights()
            if time.perf_counter() >= self.next_write:
                self.write()

        def on_train_end(self, logs: dict | None = None) -> None:
            self.write()  # a run stopped mid-epoch keeps its weights; resuming repeats that epoch

        def write(self) -> None:
            started = time.perf_counter()
            if self.best_weights is not None:
                current = self.model.get_weights()
                self.model.set_weights(self.best_weights)
                # what is exported from a run: a recipe's network, not the trainer around it (kept in LAST)
                getattr(self.model, "network", self.model).save(self.folder / BEST)
                self.model.set_weights(current)
                self.best_weights = None
                self.queue.put({"event": "checkpoint", "kind": "best", "epoch": self.best_epoch, "file": BEST})
            if self.resumable:
                self.model.save(self.folder / LAST)
                (self.folder / LAST_STATE).write_text(json.dumps({"epoch": self.epoch, "best": self.best}))
                self.queue.put({"event": "checkpoint", "kind": "last", "epoch": self.epoch, "file": LAST})
            now = time.perf_counter()
            self.next_write = now + (now - started) / CHECKPOINT_SHARE

    return Checkpoints


# The weights for the window's layer previews are written at most this share of the training time and at
# most once per interval: a small network's previews follow every epoch of a slow run, a fast run's a few
# times a second (more would only queue up behind the previews being computed), a large network's less often.
PREVIEW_SHARE, PREVIEW_INTERVAL_S = 0.02, 0.5


def _preview_weights_callback() -> type:
    import keras

    from designer.keras_bridge.weights import collect_weights, save_weights_file

    class PreviewWeights(keras.callbacks.Callback):
        """The weights after an epoch, written (atomically, so a reader never sees half a file) while
        ``wanted`` is set, each write announced by a ``weights`` event; throttled, and the last epoch always."""

        def __init__(self, path: Path, queue: Any, wanted: Any) -> None:
            super().__init__()
            self.path, self.queue, self.wanted = path, queue, wanted
            self.epoch, self.written, self.next_write = 0, True, 0.0

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch, self.written = epoch + 1, False
            if time.perf_counter() >= self.next_write:
                self.write()

        def on_train_end(self, logs: dict | None = None) -> None:
            if not self.written:
                self.write()

        def write(self) -> None:
            if not self.wanted.is_set():
                return
            started = time.perf_counter()
            network = getattr(self.model, "network", self.model)  # a recipe trains the network it holds
            save_weights_file(collect_weights(network), self.path)
            self.queue.put({"event": "weights", "epoch": self.epoch, "file": str(self.path)})
            now = time.perf_counter()
            self.written, self.next_write = True, now + max(PREVIEW_INTERVAL_S, (now - started) / PREVIEW_SHARE)

    return PreviewWeights


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")
