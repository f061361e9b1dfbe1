"""Parallel trials: the wall time of 4 trials in 2 warm workers divided by the same 4 trials one after
another in 1 warm worker, measured side by side in one run (goal ≤ 0.70 on a 2-core machine).

Each trial trains a small CNN on the 8×8 digits for about 5 s; both sweeps are a 2×2 grid over the
filters and the learning rate, with fresh stores, from the sweep's start to its summary.

Beside it, the same four fits in plain Keras with no designer at all: one process fitting four times,
against two processes fitting twice each, threads sized as the sweep sizes them. That ratio is what
this machine allows two Keras processes; the sweep's ratio can only come close to it.

    python benchmarks/sweep_parallel.py [--epochs 12]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from designer.experiments.workers import usable_cores

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def small_cnn(epochs: int) -> object:
    from designer.graph.document import NetworkDocument
    from designer.graph.project import Project

    doc = NetworkDocument("digits_cnn")
    layers = [("InputLayer", "image", {"shape": [8, 8, 1]}),
              ("Conv2D", "conv", {"filters": 16, "kernel_size": [3, 3], "activation": "relu", "padding": "same"}),
              ("MaxPooling2D", "pool", {"pool_size": [2, 2]}), ("Flatten", "flatten", {}),
              ("Dense", "hidden", {"units": 64, "activation": "relu"}),
              ("Dense", "digit", {"units": 10, "activation": "softmax"})]
    ids = [doc.add_node(t, n, p).id for t, n, p in layers]
    for a, b in itertools.pairwise(ids):
        doc.connect(a, b)
    return Project(doc, data={"source": "builtin:digits"},
                   training={"epochs": epochs, "batch_size": 32, "jit_compile": False})


PLAIN_KERAS = """
import sys
import keras
from sklearn.datasets import load_digits

digits = load_digits()
x, y = (digits.images / 16.0)[..., None].astype("float32"), digits.target
train, val = slice(0, int(len(x) * 0.7)), slice(int(len(x) * 0.7), int(len(x) * 0.85))
for filters in map(int, sys.argv[2:]):
    keras.backend.clear_session()
    layers = keras.layers
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(filters, 3, padding="same", activation="relu"),
                              layers.MaxPooling2D(), layers.Flatten(),
                              layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    model.fit(x[train], y[train], validation_data=(x[val], y[val]), epochs=int(sys.argv[1]), batch_size=32, verbose=0)
"""


def plain_keras_seconds(processes: int, epochs: int) -> float:
    """The four fits in plain Keras: in one process, or split over ``processes`` running at once."""
    threads = str(max(1, usable_cores() // processes))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_NUM_INTRAOP_THREADS": threads,
           "OMP_NUM_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1"}
    filters = ["8", "8", "16", "16"]
    share = len(filters) // processes
    start = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-c", PLAIN_KERAS, str(epochs), *filters[i * share:(i + 1) * share]],
                                env=env, stderr=subprocess.DEVNULL) for i in range(processes)]
    assert all(p.wait() == 0 for p in running)
    return time.perf_counter() - start


def sweep_seconds(workers: int, epochs: int) -> tuple[float, list[float]]:
    """Wall time of the 4-trial grid with this many workers, and each trial's own duration."""
    from designer.experiments.definition import Experiment
    from designer.experiments.sweep import Sweep

    folder = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    experiment = Experiment(name=f"w{workers}", strategy="grid", workers=workers, objective="val_accuracy",
                            params={"conv.filters": "8,16", "training.learning_rate": "0.003,0.01"})
    start = time.perf_counter()
    events = list(Sweep(small_cnn(epochs), folder, experiment).run())
    wall = time.perf_counter() - start
    finished = [e["duration_s"] for e in events if e["event"] == "trial_finished"]
    assert len(finished) == 4, events[-1]
    return wall, finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="epochs per trial (about 5 s on 2 cores)")
    parser.add_argument("--repeat", type=int, default=2, help="pairs of runs, interleaved; medians are shown")
    args = parser.parse_args()
    walls: dict[int, list[float]] = {1: [], 2: []}
    trials: dict[int, list[float]] = {1: [], 2: []}
    plain: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.repeat):  # interleaved, so a slow spell of the machine hits both
        for workers in (1, 2):
            wall, durations = sweep_seconds(workers, args.epochs)
            walls[workers].append(wall)
            trials[workers] += durations
            plain[workers].append(plain_keras_seconds(workers, args.epochs))
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    ratio = two / one
    plain_ratio = statistics.median(plain[2]) / statistics.median(plain[1])
    print(f"{'workers':>8} {'wall (s), median':>17} {'runs':>18} {'mean trial (s)':>15}")
    for workers, wall in ((1, one), (2, two)):
        runs = ", ".join(f"{w:.1f}" for w in walls[workers])
        print(f"{workers:>8} {wall:17.1f} {runs:>18} {statistics.mean(trials[workers]):15.1f}")
    print(f"parallel / sequential = {ratio:.2f} (goal ≤ 0.70) on {usable_cores()} cores")
    print(f"plain Keras, same four fits: 1 process {statistics.median(plain[1]):.1f} s, 2 processes "
          f"{statistics.median(plain[2]):.1f} s, ratio {plain_ratio:.2f} (what this machine allows)")
    print(json.dumps({"sequential_s": round(one, 2), "parallel_s": round(two, 2), "ratio": round(ratio, 3),
                      "plain_keras_ratio": round(plain_ratio, 3),
                      "trial_s": round(statistics.mean(trials[1]), 2), "cores": usable_cores()}))


if __name__ == "__main__":
    main()
