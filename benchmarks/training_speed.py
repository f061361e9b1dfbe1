"""Training speed through the designer's worker, side by side with plain Keras, in one run.

(a) steady-state throughput of the classic CNN on digits (28×28) through the worker divided
    by a plain ``model.fit`` of the same model, data, batch size and validation set (goal ≥ 0.98);
(b) time from asking to the first batch event with a warm worker (goal ≤ 1.5 s on CPU), with
    Keras's default compilation and with ``jit_compile: false`` (no XLA compile before step one).

    python benchmarks/training_speed.py [--epochs 6]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]


def plain_keras_epoch_seconds(epochs: int, batch_size: int) -> float:
    """The same model, data and split in a plain script: median epoch time after the first."""
    import keras

    from designer.data.builtin import load_builtin
    from designer.graph.project import load_project
    from designer.keras_bridge.build import build_model

    keras.utils.set_random_seed(0)
    project = load_project(ROOT / "sample_projects" / "classic_cnn.kdn")
    splits = load_builtin("digits", 28).split(0.15, 0.15, 0)
    model = build_model(project.document)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(splits.train.x, splits.train.y, batch_size=batch_size, epochs=epochs, verbose=0,
              validation_data=(splits.validation.x, splits.validation.y), callbacks=[Clock()])
    return statistics.median(times[1:])


def designer_epoch_seconds(epochs: int, batch_size: int) -> float:
    from designer.graph.project import load_project, project_to_dict
    from designer.training.worker import start_run

    project = project_to_dict(load_project(ROOT / "sample_projects" / "classic_cnn.kdn"))
    run = start_run(project, ROOT, training={"epochs": epochs, "batch_size": batch_size,
                                            "early_stopping_patience": None})
    stamps = [e["wall_time"] for e in run.events() if e["event"] == "epoch"]
    return statistics.median(b - a for a, b in itertools.pairwise(stamps))


def first_batch_seconds(warm_up_s: float = 6.0, **training: object) -> float:
    from designer.graph.project import load_project, project_to_dict
    from designer.training.worker import start_run, warm_worker

    project = project_to_dict(load_project(ROOT / "sample_projects" / "classic_cnn.kdn"))
    warm = warm_worker()
    time.sleep(warm_up_s)  # the worker imports TensorFlow while the user is still designing
    start = time.perf_counter()
    run = start_run(project, ROOT, warm=warm, training={"epochs": 1, **training})
    elapsed = None
    for event in run.events():
        if event["event"] == "batch" and elapsed is None:
            elapsed = time.perf_counter() - start
            run.stop()
    assert elapsed is not None
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    designer = designer_epoch_seconds(args.epochs, args.batch_size)
    # The plain script runs in a fresh process too, as the worker does, so both start equal.
    code = (f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'benchmarks')!r}]; import training_speed; "
            f"print(training_speed.plain_keras_epoch_seconds({args.epochs}, {args.batch_size}))")
    plain = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.split()[-1])
    first = first_batch_seconds()
    first_no_xla = first_batch_seconds(jit_compile=False)
    figures = {"designer_epoch_s": round(designer, 3), "plain_keras_epoch_s": round(plain, 3),
               "throughput_ratio": round(plain / designer, 3), "first_batch_warm_s": round(first, 2),
               "first_batch_warm_no_xla_s": round(first_no_xla, 2)}
    print(f"classic CNN on digits 28×28, batch {args.batch_size}: designer worker {designer:.2f} s/epoch, "
          f"plain model.fit {plain:.2f} s/epoch → throughput ratio {plain / designer:.3f} (goal ≥ 0.98)")
    print(f"first batch event after asking, warm worker: {first:.2f} s with Keras's default compilation, "
          f"{first_no_xla:.2f} s with jit_compile=false (goal ≤ 1.5 s)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
