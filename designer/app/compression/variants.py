"""A run's compressed variants as the store records them: a table against the float baseline, and
accuracy (or error) against size on disk with each kind's float baseline marked."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem

from designer.compress import methods
from designer.wording import size_text

COLUMNS = ["method", "size on disk", "test score", "latency, batch 1", "status"]
FAILED, BASELINE = "#c62828", "#757575"
BASELINE_SYMBOLS = {".tflite": "star", ".keras": "d", ".onnx": "t", ".kdn": "s"}
PALETTE = ("#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41", "#3949ab", "#d81b60")


def score_name(metrics: dict[str, float]) -> str:
    """Accuracy for classifiers, mean absolute error for the rest, as the report measured them."""
    return "accuracy" if "test_accuracy" in metrics else "mae"


def settings_text(variant: dict[str, Any]) -> str:
    params = variant["params"]
    return variant["method"] + (f" {float(params['sparsity']):.0%}" if "sparsity" in params else "")


def cells(variant: dict[str, Any]) -> list[str]:
    """One table row: each figure beside the float baseline's of the same kind."""
    m = variant["metrics"]
    score = score_name(m)
    points = (m[f"test_{score}"] - m[f"baseline_test_{score}"]) * (100 if score == "accuracy" else 1)
    status = "within tolerance" if variant["status"] == "finished" else variant["failure"] or variant["status"]
    return [settings_text(variant),
            f"{size_text(m['size_bytes'])} ({m['size_bytes'] / m['baseline_bytes']:.2f}× float; gzipped "
            f"{m['compressed_bytes'] / m['baseline_compressed_bytes']:.2f}×)",
            f"{score} {m[f'test_{score}']:.4f} ({points:+.2f}{' pts' if score == 'accuracy' else ''})",
            f"{m['latency_ms_batch1']:.2f} ms ({m['latency_ms_batch1'] / m['baseline_latency_ms_batch1']:.2f}× float)",
            status]


class VariantTable(QTableWidget):
    def __init__(self) -> None:
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

    def show_variants(self, variants: list[dict[str, Any]]) -> None:
        self.setRowCount(len(variants))
        for i, variant in enumerate(variants):
            for j, text in enumerate(cells(variant)):
                item = QTableWidgetItem(text)
                item.setToolTip(f"run {variant['run_id']}")
                self.setItem(i, j, item)


class SizeAccuracyPlot(pg.PlotWidget):
    """Each variant at (size on disk, test score), one colour per variant and a red cross for one outside the
    tolerance; the float artifacts they were measured against in grey, one symbol per kind. Keys, not labels
    beside the points: variants of nearly one size would write over each other."""

    def __init__(self) -> None:
        super().__init__()
        self.setLabel("bottom", "size on disk", units="B")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.getPlotItem().showGrid(x=True, y=True, alpha=0.2)
        self.legend = self.getPlotItem().addLegend(offset=(10, 5), colCount=3)  # a band along the top
        self.variants = pg.ScatterPlotItem(size=11, pen=None)
        self.baselines = pg.ScatterPlotItem(size=14, pen=None, brush=BASELINE)
        self.baselines.setZValue(1)  # a pruned .keras sits on its float twin's size: keep the twin in sight
        self.addItem(self.variants)
        self.addItem(self.baselines)

    def show_variants(self, variants: list[dict[str, Any]]) -> None:
        self.legend.clear()
        score = score_name(variants[0]["metrics"]) if variants else "accuracy"
        self.setLabel("left", f"test {score}")
        spots, floats = [], {}
        for i, v in enumerate(variants):
            m = v["metrics"]
            ok = v["status"] == "finished"
            look = {"symbol": "o" if ok else "x", "brush": PALETTE[i % len(PALETTE)] if ok else FAILED}
            spots.append({"pos": (m["size_bytes"], m[f"test_{score}"]), "data": v["run_id"], **look})
            self.legend.addItem(pg.ScatterPlotItem(pen=None, size=10, **look), settings_text(v))
            kind = methods.suffix(v["method"] if v["method"] in methods.KIND else "prune")
            floats[kind] = (m["baseline_bytes"], m[f"baseline_test_{score}"])
        self.variants.setData(spots)
        kinds = list(floats.items())
        self.baselines.setData([{"pos": pos, "symbol": BASELINE_SYMBOLS[suffix]} for suffix, pos in kinds])
        for suffix, _ in kinds:
            self.legend.addItem(pg.ScatterPlotItem(pen=None, size=12, brush=BASELINE,
                                                   symbol=BASELINE_SYMBOLS[suffix]), f"float {suffix}")
        self._frame([s["pos"] for s in spots] + [pos for _, pos in kinds])

    def _frame(self, points: list[tuple[float, float]]) -> None:
        """Every point in view, with room above them for the key's band."""
        if not points:
            return
        xs, ys = zip(*points, strict=True)
        low, high = min(ys), max(ys)
        span = (high - low) or max(abs(high) * 0.02, 1e-3)
        self.setYRange(low - 0.15 * span, high + 1.2 * span, padding=0)
        left, right = min(xs), max(xs)
        self.setXRange(left - 0.08 * ((right - left) or right), right + 0.08 * ((right - left) or right), padding=0)
