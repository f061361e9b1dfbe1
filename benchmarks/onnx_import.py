"""ONNX import speed: a model-zoo network onto the canvas, against Keras building the same model in code.

For each model, in one run: the designer's import (ONNX → Keras layers → document) and its analysis
of every node, against ``keras.Model.from_config`` of the converted model's config, which is what the
generated code (or a hand-written model) costs to build. The files are the ``light`` model zoo that
ships with the ``onnx`` package, whose weights are made by ``ConstantOfShape`` nodes to keep the files
small; they are stored as initializers first, as a real export stores its weights. Goal: ratio ≤ 1.5.

    python benchmarks/onnx_import.py [NAME ...]      (NAME: resnet50, squeezenet, densenet121, ...)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import onnx
from onnx import numpy_helper

from designer.keras_bridge.analysis import Analyzer
from designer.keras_bridge.importer import import_model
from designer.keras_bridge.onnx_import import import_onnx
from designer.layers.catalog import load_catalog

ZOO = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def with_stored_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with each ``ConstantOfShape`` of a stored shape replaced by an initializer of its value."""
    graph = model.graph
    shapes = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in shapes:
            fill = next((numpy_helper.to_array(a.t) for a in node.attribute if a.name == "value"),
                        np.zeros(1, np.float32))
            value = np.full(shapes[node.input[0]], fill.reshape(-1)[0], dtype=fill.dtype)
            graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    return model


def measure(name: str, analyzer: Analyzer, folder: Path) -> dict[str, float]:
    path = folder / f"{name}.onnx"
    if not path.exists():
        onnx.save(with_stored_weights(onnx.load(str(ZOO / f"light_{name}.onnx"))), str(path))
    keras.backend.clear_session()
    start = time.perf_counter()
    model = import_onnx(path, check=False).model
    convert_s = time.perf_counter() - start
    start = time.perf_counter()
    doc = import_model(model)
    document_s = time.perf_counter() - start
    start = time.perf_counter()
    analysis = analyzer.analyze(doc)
    analysis_s = time.perf_counter() - start
    assert analysis.ok and analysis.total_params == model.count_params(), analysis.diagnostics[:3]
    config = model.get_config()
    keras.backend.clear_session()
    start = time.perf_counter()
    keras.Model.from_config(config)
    build_s = time.perf_counter() - start
    total = convert_s + document_s + analysis_s
    return {"nodes": len(doc), "parameters": model.count_params(), "keras_build_s": round(build_s, 3),
            "convert_s": round(convert_s, 3), "document_s": round(document_s, 3),
            "analysis_s": round(analysis_s, 3), "ratio": round(total / build_s, 3)}


def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        run(names, Path(folder))


def run(names: list[str], folder: Path) -> None:
    analyzer = Analyzer(load_catalog())
    measure("squeezenet", analyzer, folder)  # warm Keras, TensorFlow and the converter up once
    figures: dict[str, dict[str, float]] = {}
    print(f"{'model':<14}{'nodes':>7}{'Keras build':>13}{'convert':>10}{'document':>10}{'analysis':>10}{'ratio':>8}")
    for name in names:
        f = figures[name] = measure(name, analyzer, folder)
        print(f"{name:<14}{f['nodes']:>7}{f['keras_build_s']:>12.2f}s{f['convert_s']:>9.2f}s"
              f"{f['document_s']:>9.2f}s{f['analysis_s']:>9.2f}s{f['ratio']:>8.2f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet50", "densenet121"])
