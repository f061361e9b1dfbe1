"""Analysis speed on a generated ~800-node residual network, side by side with Keras.

Prints (a) the designer's full analysis time divided by the time Keras takes to build
the same model in plain code, in the same run, and (b) the re-analysis time after
editing one node near the output. Goals: (a) ≤ 1.0, (b) ≤ 100 ms.

    python benchmarks/analysis_speed.py [--blocks 114]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from designer.graph.document import NetworkDocument
from designer.keras_bridge.analysis import Analyzer
from designer.layers.catalog import load_catalog


def block_layers(i: int) -> list[tuple[str, str, dict]]:
    k = (1, 3, 5)[i % 3]  # vary kernels so blocks differ, as in a real network
    return [("Conv2D", f"b{i}_conv_a", {"filters": 32, "kernel_size": k, "padding": "same"}),
            ("BatchNormalization", f"b{i}_bn_a", {}),
            ("ReLU", f"b{i}_relu_a", {}),
            ("Conv2D", f"b{i}_conv_b", {"filters": 32, "kernel_size": 3, "padding": "same"}),
            ("BatchNormalization", f"b{i}_bn_b", {})]


def residual_document(blocks: int) -> NetworkDocument:
    doc = NetworkDocument("deep_residual")
    x = doc.add_node("InputLayer", "image", {"shape": [16, 16, 32]}).id
    for i in range(blocks):
        y = x
        for type_, name, params in block_layers(i):
            node = doc.add_node(type_, name, params)
            doc.connect(y, node.id)
            y = node.id
        add = doc.add_node("Add", f"b{i}_add").id
        doc.connect(x, add)
        doc.connect(y, add)
        x = doc.add_node("ReLU", f"b{i}_out").id
        doc.connect(add, x)
    for type_, name, params in [("GlobalAveragePooling2D", "gap", {}), ("Dense", "classes", {"units": 10})]:
        node = doc.add_node(type_, name, params)
        doc.connect(x, node.id)
        x = node.id
    return doc


def keras_build(blocks: int) -> keras.Model:
    """The same network written as plain Keras code."""
    inp = keras.Input((16, 16, 32), name="image")
    x = inp
    for i in range(blocks):
        y = x
        for type_, name, params in block_layers(i):
            y = getattr(keras.layers, type_)(name=name, **params)(y)
        x = keras.layers.ReLU(name=f"b{i}_out")(keras.layers.Add(name=f"b{i}_add")([x, y]))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(10, name="classes")(x))


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=114)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    catalog = load_catalog()
    doc = residual_document(args.blocks)
    keras_build(2)
    Analyzer(catalog).analyze(residual_document(2))  # warm both paths up once

    keras_s = timed(lambda: keras_build(args.blocks), args.repeat)
    cold_s = timed(lambda: Analyzer(catalog, cache_size=0).analyze(doc), args.repeat)
    fresh_s = timed(lambda: Analyzer(catalog).analyze(doc), args.repeat)

    analyzer = Analyzer(catalog)
    first = analyzer.analyze(doc)
    assert first.ok, first.diagnostics[:3]
    head = next(n for n in doc.nodes.values() if n.name == "classes")
    edits = []
    for units in (11, 12, 13, 14, 15):
        head.params["units"] = units
        start = time.perf_counter()
        result = analyzer.analyze(doc)
        edits.append(time.perf_counter() - start)
        assert result.recomputed == 1 and result.nodes[head.id].outputs[0][0] == (None, units)
    edit_ms = statistics.median(edits) * 1000

    figures = {
        "nodes": len(doc),
        "keras_build_s": round(keras_s, 3),
        "analysis_no_cache_s": round(cold_s, 3),
        "analysis_fresh_s": round(fresh_s, 3),
        "ratio_analysis_vs_keras_build": round(cold_s / keras_s, 3),
        "ratio_fresh_analyzer_vs_keras_build": round(fresh_s / keras_s, 3),
        "reanalysis_after_edit_ms": round(edit_ms, 1),
    }
    print(f"{'graph':<44}{len(doc)} nodes, {first.total_params:,} parameters")
    print(f"{'Keras builds the model (plain code)':<44}{keras_s * 1000:8.0f} ms")
    ratio = cold_s / keras_s
    print(f"{'full analysis, every node computed':<44}{cold_s * 1000:8.0f} ms   ratio {ratio:.2f} (goal ≤ 1.0)")
    print(f"{'full analysis, new analyzer (shared cache)':<44}{fresh_s * 1000:8.0f} ms   ratio {fresh_s / keras_s:.2f}")
    print(f"{'re-analysis after editing the head':<44}{edit_ms:8.1f} ms   (goal ≤ 100 ms)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
