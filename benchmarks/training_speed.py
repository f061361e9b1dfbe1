"""Training speed through the designer's worker, side by side with plain Keras, in one run.

(a) steady-state throughput of the classic CNN on digits (28×28) through the worker divided
    by a plain ``model.fit`` of the same model, data, batch size and validation set (goal ≥ 0.98);
(b) the same ratio for a small CNN on the 8×8 digits at batch 32, where each step takes about a
    millisecond and any per-batch overhead of the worker (callbacks, events, device syncs) shows
    (goal: the worker's epoch ≤ 1.05× plain Keras's);
(c) time from asking to the first batch event: cold (a worker started at that moment) and with a
    warm worker (goal ≤ 1.5 s on CPU), with Keras's default compilation and with ``jit_compile: false``
    (no XLA compile before step one).

Each side's figure is its fastest epoch after the first: other processes on a shared machine only
ever slow an epoch down, so the fastest is the one nearest the code's own cost.

    python benchmarks/training_speed.py [--epochs 6] [--small-epochs 20]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]


def classic_cnn() -> dict[str, Any]:
    from designer.graph.project import load_project, project_to_dict

    return project_to_dict(load_project(ROOT / "sample_projects" / "classic_cnn.kdn"))


def small_cnn() -> dict[str, Any]:
    """A CNN small enough that a batch of 32 trains in about a millisecond: the worker's own cost per
    batch is what this case measures."""
    from designer.graph.document import NetworkDocument
    from designer.graph.project import Project, project_to_dict

    doc = NetworkDocument("small_cnn")
    layers = [("InputLayer", "image", {"shape": [8, 8, 1]}),
              ("Conv2D", "conv", {"filters": 16, "kernel_size": [3, 3], "activation": "relu"}),
              ("Flatten", "flat", {}), ("Dense", "out", {"units": 10, "activation": "softmax"})]
    previous = None
    for kind, name, params in layers:
        node = doc.add_node(kind, name, params)
        if previous is not None:
            doc.connect(previous, node.id)
        previous = node.id
    return project_to_dict(Project(doc, data={"source": "builtin:digits"}, training={"batch_size": 32}))


CASES = {"classic_cnn": classic_cnn, "small_cnn": small_cnn}


def plain_keras_epoch_seconds(case: str, epochs: int, batch_size: int) -> float:
    """The same model, data and split in a plain script: its fastest epoch after the first."""
    import keras

    from designer.data.builtin import load_builtin
    from designer.graph.project import project_from_dict
    from designer.keras_bridge.build import build_model

    keras.utils.set_random_seed(0)
    project = project_from_dict(CASES[case]())
    splits = load_builtin("digits", project.data.get("target_size")).split(0.15, 0.15, 0)
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
    return min(times[1:])


def designer_epoch_seconds(case: str, epochs: int, batch_size: int) -> float:
    import tempfile

    from designer.training.worker import start_run

    with tempfile.TemporaryDirectory() as outputs:  # checkpoints written, as in every run the user starts
        run = start_run(CASES[case](), ROOT, training={"epochs": epochs, "batch_size": batch_size,
                                                       "early_stopping_patience": None}, output_dir=outputs)
        stamps = [e["wall_time"] for e in run.events() if e["event"] == "epoch"]
    return min(b - a for a, b in itertools.pairwise(stamps))


def plain_in_a_fresh_process(case: str, epochs: int, batch_size: int) -> float:
    """The plain script runs in a fresh process too, as the worker does, so both start equal."""
    code = (f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'benchmarks')!r}]; import training_speed; "
            f"print(training_speed.plain_keras_epoch_seconds({case!r}, {epochs}, {batch_size}))")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split()[-1])


def first_batch_seconds(warm_up_s: float = 6.0, **training: object) -> float:
    from designer.training.worker import start_run, warm_worker

    warm = warm_worker()
    time.sleep(warm_up_s)  # the worker imports TensorFlow while the user is still designing
    start = time.perf_counter()
    run = start_run(classic_cnn(), ROOT, warm=warm, training={"epochs": 1, **training})
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
    parser.add_argument("--small-epochs", type=int, default=20)
    parser.add_argument("--only-small", action="store_true", help="measure the small-batch case alone")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    figures: dict[str, float] = {}
    if not args.only_small:
        designer = designer_epoch_seconds("classic_cnn", args.epochs, args.batch_size)
        plain = plain_in_a_fresh_process("classic_cnn", args.epochs, args.batch_size)
        figures |= {"designer_epoch_s": round(designer, 3), "plain_keras_epoch_s": round(plain, 3),
                    "throughput_ratio": round(plain / designer, 3)}
        print(f"classic CNN on digits 28×28, batch {args.batch_size}: designer worker {designer:.2f} s/epoch, "
              f"plain model.fit {plain:.2f} s/epoch → throughput ratio {plain / designer:.3f} (goal ≥ 0.98)")
    small = designer_epoch_seconds("small_cnn", args.small_epochs, 32)
    small_plain = plain_in_a_fresh_process("small_cnn", args.small_epochs, 32)
    figures |= {"small_designer_epoch_s": round(small, 4), "small_plain_keras_epoch_s": round(small_plain, 4),
                "small_epoch_ratio": round(small / small_plain, 3)}
    print(f"small CNN on digits 8×8, batch 32: designer worker {small * 1000:.0f} ms/epoch, plain model.fit "
          f"{small_plain * 1000:.0f} ms/epoch → worker/plain {small / small_plain:.3f} (goal ≤ 1.05)")
    if not args.only_small:
        cold = first_batch_seconds(warm_up_s=0.0)  # Train at once: the worker still imports TensorFlow
        first = first_batch_seconds()
        first_no_xla = first_batch_seconds(jit_compile=False)
        figures |= {"first_batch_cold_s": round(cold, 2), "first_batch_warm_s": round(first, 2),
                    "first_batch_warm_no_xla_s": round(first_no_xla, 2)}
        print(f"first batch event after asking: cold {cold:.2f} s (TensorFlow still loading); warm worker "
              f"{first:.2f} s with Keras's default compilation, {first_no_xla:.2f} s with jit_compile=false "
              "(goal ≤ 1.5 s warm)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
