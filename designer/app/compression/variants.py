"""A run's compressed variants as the store records them: a table against the float baseline, and
accuracy (or error) against size on disk with each kind's float baseline marked."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem

from designer.compress.methods import KIND
from designer.export.formats import SUFFIX
from designer.wording import size_text

COLUMNS = ["method", "size on disk", "test score", "latency, batch 1", "status"]
OK, FAILED, BASELINE = "#1e88e5", "#c62828", "#757575"


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
            f"{size_text(m['size_bytes'])} ({m['size_bytes'] / m['baseline_bytes']:.2f}× float)",
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
    """Each variant at (size on disk, test score); the float artifacts they were measured against as grey
    stars, one per kind (.tflite, .keras, .onnx), labelled."""

    def __init__(self) -> None:
        super().__init__()
        self.setLabel("bottom", "size on disk (MB)")
        self.getPlotItem().showGrid(x=True, y=True, alpha=0.2)
        self.legend = self.getPlotItem().addLegend(offset=(-10, 10))
        self.variants = pg.ScatterPlotItem(name="variants", size=10, pen=None)
        self.baselines = pg.ScatterPlotItem(name="float baselines", size=14, symbol="star", pen=None,
                                            brush=BASELINE)
        self.addItem(self.variants)
        self.addItem(self.baselines)
        self.labels: list[pg.TextItem] = []

    def show_variants(self, variants: list[dict[str, Any]]) -> None:
        for label in self.labels:
            self.removeItem(label)
        self.labels = []
        score = score_name(variants[0]["metrics"]) if variants else "accuracy"
        self.setLabel("left", f"test {score}")
        spots, floats = [], {}
        for v in variants:
            m = v["metrics"]
            spots.append({"pos": (m["size_bytes"] / 1e6, m[f"test_{score}"]), "data": v["run_id"],
                          "brush": OK if v["status"] == "finished" else FAILED})
            floats[SUFFIX[KIND.get(v["method"], "keras")]] = (m["baseline_bytes"] / 1e6, m[f"baseline_test_{score}"])
            self._label(settings_text(v), spots[-1]["pos"], pg.getConfigOption("foreground"))
        self.variants.setData(spots)
        self.baselines.setData(pos=list(floats.values()))
        for suffix, pos in floats.items():
            self._label(f"float {suffix}", pos, BASELINE)
        self.autoRange()

    def _label(self, text: str, pos: tuple[float, float], color: str) -> None:
        label = pg.TextItem(text, color=color, anchor=(0, 1))
        label.setPos(*pos)
        self.addItem(label)
        self.labels.append(label)
