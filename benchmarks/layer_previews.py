"""Layer-preview refresh time after an edit, worker side, on a 50-layer CNN, side by side with what a
refresh without the previewer's reuse would cost: building the whole model in Keras and running it.

Edits change one convolution's filters (so the layer after it gets a new input shape too), alternately near
the input (everything after it is recomputed: the worst case) and in the middle. Goal: ≤ 200 ms.

    python benchmarks/layer_previews.py [--layers 50] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from designer.graph.document import NetworkDocument
from designer.inspection.previews import Previewer
from designer.keras_bridge.build import build_model
from designer.layers.catalog import load_catalog


def cnn(layers: int) -> tuple[NetworkDocument, list[str]]:
    """Conv2D / BatchNormalization / ReLU repeated, ``layers`` nodes after the input."""
    doc = NetworkDocument("deep_cnn")
    last = doc.add_node("InputLayer", "image", {"shape": [32, 32, 3]}).id
    convs = []
    for i in range(layers):
        kind, params = (("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"}), ("BatchNormalization", {}),
                        ("ReLU", {}))[i % 3]
        node = doc.add_node(kind, f"l{i}", params)
        doc.connect(last, node.id)
        last = node.id
        if kind == "Conv2D":
            convs.append(node.id)
    return doc, convs


def timed(work: object) -> float:
    start = time.perf_counter()
    work()  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    catalog = load_catalog()
    doc, convs = cnn(args.layers)
    sample = np.random.default_rng(0).random((32, 32, 3), dtype="float32")
    previewer = Previewer(catalog)
    first = timed(lambda: previewer.refresh(doc, sample))
    figures: dict[str, list[float]] = {"near_input": [], "middle": [], "rebuild": []}
    for r in range(args.repeats):
        for key, node in (("near_input", convs[1]), ("middle", convs[len(convs) // 2])):
            doc.node(node).params["filters"] = 8 + (r % 2) * 4 + (key == "middle")
            figures[key].append(timed(lambda: previewer.refresh(doc, sample)))
    for _ in range(args.repeats):  # the same network built whole and run, as a refresh without reuse would
        figures["rebuild"].append(timed(lambda: build_model(doc, catalog).predict(sample[None], verbose=0)))
    medians = {key: statistics.median(values) for key, values in figures.items()}
    print(f"{args.layers}-layer CNN, median of {args.repeats} edits (worker side)")
    print(f"  first refresh (every layer made)     {first:8.1f} ms")
    print(f"  edit near the input (worst case)     {medians['near_input']:8.1f} ms")
    print(f"  edit in the middle                   {medians['middle']:8.1f} ms")
    print(f"  whole model built and run in Keras   {medians['rebuild']:8.1f} ms (what reuse avoids)")
    print(json.dumps({"layers": args.layers, "first_ms": round(first, 1),
                      "edit_near_input_ms": round(medians["near_input"], 1),
                      "edit_middle_ms": round(medians["middle"], 1), "rebuild_ms": round(medians["rebuild"], 1),
                      "goal_ms": 200}))


if __name__ == "__main__":
    main()
