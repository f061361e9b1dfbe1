"""Export speed: each format for a mid-size model (ResNet50), against calling the converter directly.

For each format, in one run: the bare converter call (``model.save``, ``ExportArchive.write_out``,
``tf2onnx.convert.from_keras``, ``TFLiteConverter.from_saved_model``, ``save_weights`` plus the
codegen script), then the designer's export of the same model, which also stages, reloads the
artifact and compares it with Keras. Ratios: designer conversion / direct, and designer total
(conversion + verification) / direct. The last line is the figures as JSON.

    python benchmarks/export_speed.py [APPLICATION]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf
import tf2onnx

from designer.export.exporter import export_model
from designer.export.formats import FORMATS, SUFFIX
from designer.export.onnx_file import DEFAULT_OPSET, OP_HANDLERS
from designer.export.savedmodel import input_signature, serving_archive
from designer.keras_bridge.codegen import generate
from designer.keras_bridge.importer import import_model


def direct(fmt: str, model: keras.Model, doc: object, path: Path) -> None:
    """The converter alone, the way a user would call it by hand."""
    if fmt == "keras":
        model.save(path)
    elif fmt == "savedmodel":
        serving_archive(model).write_out(str(path), verbose=False)
    elif fmt == "onnx":
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=input_signature(model), opset=DEFAULT_OPSET,
                                              custom_op_handlers=OP_HANDLERS)
        path.write_bytes(proto.SerializeToString())
    elif fmt == "tflite":
        serving_archive(model).write_out(str(path) + ".saved", verbose=False)
        path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(path) + ".saved").convert())
    else:
        path.write_text(generate(doc, weights=path.stem + ".weights.h5"))  # type: ignore[arg-type]
        model.save_weights(path.with_name(path.stem + ".weights.h5"))


def main(name: str) -> None:
    model = getattr(keras.applications, name)(weights=None)
    doc = import_model(model)
    figures: dict[str, dict[str, float]] = {}
    print(f"{name}: {model.count_params():,} parameters")
    print(f"{'format':<12}{'direct':>9}{'convert':>9}{'verify':>9}{'ratio':>8}{'total ratio':>13}{'max diff':>11}")
    with tempfile.TemporaryDirectory() as folder:
        for fmt in FORMATS:
            start = time.perf_counter()
            direct(fmt, model, doc, Path(folder) / f"direct{SUFFIX[fmt]}")
            direct_s = time.perf_counter() - start
            report = export_model(model, fmt, Path(folder) / f"designer{SUFFIX[fmt]}", doc)
            assert report.ok, report.text()
            figures[fmt] = {"direct_s": round(direct_s, 2), "convert_s": round(report.convert_s, 2),
                            "verify_s": round(report.verify_s, 2),
                            "ratio": round(report.convert_s / direct_s, 2),
                            "total_ratio": round((report.convert_s + report.verify_s) / direct_s, 2),
                            "max_abs_diff": report.max_abs_diff}
            f = figures[fmt]
            print(f"{fmt:<12}{direct_s:>8.2f}s{report.convert_s:>8.2f}s{report.verify_s:>8.2f}s"
                  f"{f['ratio']:>8.2f}{f['total_ratio']:>13.2f}{report.max_abs_diff:>11.1e}")
    print(json.dumps({"model": name, "formats": figures}))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ResNet50")
