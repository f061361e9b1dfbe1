"""Compression speed: full-integer int8 TFLite of ResNet50 through the designer's compress path, against the
bare ``tf.lite.TFLiteConverter`` call with the same settings, and the int8 artifact's latency against the
float one's.

Both conversions start from the same Keras model and write a SavedModel of its serving endpoint first (the
route that keeps variables readable in TFLite); both calibrate int8 ranges on the same few random images
(``CALIBRATION`` of them, a stand-in for a representative set: the figures here are time and size, not
accuracy). A tiny model is converted first, so the converter's start-up is charged to neither side. Ratio:
designer conversion / direct (goal ≤ 1.2), each the best of two turns taken alternately. Latency: the
median of a few single-image calls of each artifact in the TFLite interpreter on this machine. The last line
is the figures as JSON.

    python benchmarks/compress_speed.py [SIZE]     SIZE: the input's height and width (default 224)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf

from designer.compress import writers
from designer.compress.measure import latency_ms
from designer.data.dataset import Split
from designer.export import tflite_file
from designer.export.probes import input_names
from designer.export.savedmodel import ENDPOINT, serving_archive

CALIBRATION = 8
ROUNDS = 2  # each conversion's best of this many


def direct(model: keras.Model, images: np.ndarray, path: Path) -> None:
    """The converter alone, the way a user would call it by hand, with the designer's int8 settings."""
    name = input_names(model)[0]
    saved = str(path) + ".saved"
    serving_archive(model).write_out(saved, verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=[ENDPOINT])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ({name: x[None]} for x in images)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    path.write_bytes(converter.convert())


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def warm_up(folder: Path) -> None:
    """One conversion of a tiny model first: the converter's one-time start-up is charged to neither side."""
    inputs = keras.Input((4,))
    direct(keras.Model(inputs, keras.layers.Dense(2)(inputs)), np.ones((2, 4), "float32"), folder / "warm_up.tflite")


def main(size: int) -> None:
    model = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3))
    images = np.random.default_rng(0).random((CALIBRATION, size, size, 3), dtype=np.float32) * 255
    job = writers.Job(model, Split(images, np.zeros(len(images), "int64")), 0.0, 0, 1, 0.0, "", Path())
    print(f"ResNet50 at {size}×{size}: {model.count_params():,} parameters; int8 calibrated on {CALIBRATION} "
          "random images")
    with tempfile.TemporaryDirectory() as folder:
        warm_up(Path(folder))
        paths = {k: Path(folder) / f"{k}.tflite" for k in ("direct", "designer", "float")}
        times: dict[str, list[float]] = {"direct": [], "designer": []}
        for _ in range(ROUNDS):  # taking turns, so a busy moment of a shared machine falls on both sides
            times["direct"].append(timed(lambda: direct(model, images, paths["direct"])))
            times["designer"].append(timed(lambda: writers.tflite("int8", job, paths["designer"])))
        direct_s, designer_s = min(times["direct"]), min(times["designer"])
        float_s = timed(lambda: tflite_file.write(model, paths["float"]))
        sizes = {k: p.stat().st_size for k, p in paths.items()}
        latency = {k: latency_ms(tflite_file.load(paths[k]), images[:1], (1,))["1"] for k in ("designer", "float")}
    figures = {"model": "ResNet50", "input": size, "calibration_images": CALIBRATION,
               "direct_s": round(direct_s, 2), "designer_s": round(designer_s, 2),
               "ratio": round(designer_s / direct_s, 3), "float_convert_s": round(float_s, 2),
               "int8_bytes": sizes["designer"], "direct_int8_bytes": sizes["direct"], "float_bytes": sizes["float"],
               "size_ratio": round(sizes["designer"] / sizes["float"], 3),
               "int8_latency_ms": latency["designer"], "float_latency_ms": latency["float"],
               "latency_ratio": round(latency["designer"] / latency["float"], 3)}
    print(f"{'':<26}{'direct':>12}{'designer':>12}{'ratio':>8}")
    print(f"{'int8 conversion':<26}{direct_s:>11.1f}s{designer_s:>11.1f}s{figures['ratio']:>8.2f}  (goal ≤ 1.2)")
    print(f"{'':<26}{'float':>12}{'int8':>12}{'ratio':>8}")
    print(f"{'size (MB)':<26}{sizes['float'] / 1e6:>12.1f}{sizes['designer'] / 1e6:>12.1f}"
          f"{figures['size_ratio']:>8.2f}")
    print(f"{'latency, batch 1 (ms)':<26}{latency['float']:>12.1f}{latency['designer']:>12.1f}"
          f"{figures['latency_ratio']:>8.2f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 224)
