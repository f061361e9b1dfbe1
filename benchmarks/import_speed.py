"""Import speed: the largest keras.applications onto the canvas, against Keras building them.

For each model, in one run: the time Keras takes to build it (weights=None), and the time
the designer takes to turn its config into a document, lay it out and analyse every node.
Goal: ratio ≤ 1.0.

    python benchmarks/import_speed.py [NAME ...]
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from designer.graph.layout import auto_layout
from designer.keras_bridge.analysis import Analyzer
from designer.keras_bridge.importer import import_config
from designer.layers.catalog import load_catalog


def main(names: list[str]) -> None:
    catalog = load_catalog()
    keras.applications.MobileNetV2(weights=None)  # warm Keras and the importer up once
    figures: dict[str, dict[str, float]] = {}
    print(f"{'model':<16}{'nodes':>7}{'Keras build':>14}{'import':>10}{'layout':>10}{'analysis':>10}{'ratio':>8}")
    for name in names:
        keras.backend.clear_session()
        start = time.perf_counter()
        model = getattr(keras.applications, name)(weights=None)
        build_s = time.perf_counter() - start
        config = model.get_config()
        start = time.perf_counter()
        doc = import_config(config, catalog=catalog, layout=False)
        import_s = time.perf_counter() - start
        start = time.perf_counter()
        auto_layout(doc)
        layout_s = time.perf_counter() - start
        start = time.perf_counter()
        analysis = Analyzer(catalog).analyze(doc)
        analysis_s = time.perf_counter() - start
        assert analysis.ok and analysis.total_params == model.count_params()
        total = import_s + layout_s + analysis_s
        figures[name] = {"nodes": len(doc), "keras_build_s": round(build_s, 3), "import_s": round(import_s, 3),
                         "layout_s": round(layout_s, 3), "analysis_s": round(analysis_s, 3),
                         "ratio": round(total / build_s, 3)}
        print(f"{name:<16}{len(doc):>7}{build_s:>13.2f}s{import_s:>9.2f}s{layout_s:>9.2f}s{analysis_s:>9.2f}s"
              f"{total / build_s:>8.2f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:] or ["EfficientNetV2L", "NASNetLarge"])
