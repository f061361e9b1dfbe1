"""Views that compare an experiment's trials: training curves overlaid, parallel coordinates with
brushing, the objective against any hyperparameter, the objective against size (Pareto), and a
side-by-side diff of two trials' settings. Rows are ``results.load_trials`` dicts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from designer.app.monitor import add_legend
from designer.experiments.results import pareto_front

COLORMAP = pg.colormap.get("viridis")
TRIAL_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _finished(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["objective"] is not None and math.isfinite(r["objective"])]


def _axis_values(rows: list[dict[str, Any]], key: str) -> tuple[np.ndarray, list[tuple[float, str]] | None, bool]:
    """A hyperparameter as numbers for an axis: categories become positions with their names as ticks;
    positive ranges spanning decades go on a log axis."""
    values = [r["params"].get(key) for r in rows]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        x = np.asarray(values, dtype=float)
        log = bool(len(x) and x.min() > 0 and x.max() / x.min() >= 20)
        return x, None, log
    names = sorted({str(v) for v in values})
    return np.asarray([names.index(str(v)) for v in values], dtype=float), list(enumerate(names)), False


class CurveOverlay(QWidget):
    """The chosen metric's per-epoch curve for each selected trial, one colour per trial."""

    def __init__(self) -> None:
        super().__init__()
        self.metric = QComboBox()
        self.metric.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.metric.currentTextChanged.connect(lambda _: self._draw())
        self.plot = pg.PlotWidget()
        self.legend = add_legend(self.plot.getPlotItem())
        self.plot.setLabel("bottom", "epoch")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.hint = QLabel("Select one or more trials in the table to overlay their curves.")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("metric"))
        bar.addWidget(self.metric)
        bar.addStretch()
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(bar)
        column.addWidget(self.plot, 1)
        column.addWidget(self.hint, 1)
        self.histories: list[tuple[int, dict[str, list[tuple[int, float]]]]] = []
        self.plot.hide()  # an empty plot reads as "no data"; the hint says what to do

    def show_trials(self, histories: list[tuple[int, dict[str, list[tuple[int, float]]]]], objective: str) -> None:
        """(trial number, {metric: [(epoch, value)]}) for each selected trial."""
        self.histories = histories
        self.plot.setVisible(bool(histories))
        self.hint.setVisible(not histories)
        names = sorted({m for _, h in histories for m in h if m != "learning_rate"})
        current = self.metric.currentText() or objective
        self.metric.blockSignals(True)
        self.metric.clear()
        self.metric.addItems(names)
        self.metric.setCurrentText(current if current in names else (objective if objective in names else ""))
        self.metric.blockSignals(False)
        self._draw()

    def _draw(self) -> None:
        self.plot.clear()
        self.plot.setLabel("left", self.metric.currentText())
        starts, ends = [], []
        for (number, history), color in zip(self.histories, TRIAL_COLORS * 8, strict=False):
            points = history.get(self.metric.currentText(), [])
            if points:
                epochs, values = zip(*points, strict=True)
                self.plot.plot(list(epochs), list(values), pen=pg.mkPen(color, width=2), symbol="o", symbolSize=5,
                               symbolBrush=color, name=f"trial {number}")
                starts.append(values[0])
                ends.append(values[-1])
        # The legend goes in the right-hand corner the curves end away from: bottom when they climb (accuracy).
        climbing = bool(ends) and float(np.mean(ends)) > float(np.mean(starts))
        corner = 1 if climbing else 0
        self.legend.anchor(itemPos=(1, corner), parentPos=(1, corner), offset=(-10, -10 if climbing else 10))


class ParallelCoordinates(pg.PlotWidget):
    """One line per finished trial across an axis per hyperparameter and the objective, coloured by the
    objective. Drag the band on any axis to brush: trials outside every band fade out."""

    brushed = Signal(list)  # trial numbers inside all bands

    def __init__(self) -> None:
        super().__init__()
        self.setMouseEnabled(x=False, y=False)
        self.hideAxis("left")
        self.getPlotItem().hideButtons()
        self.rows: list[dict[str, Any]] = []
        self.bands: list[pg.LinearRegionItem] = []
        self.lines: list[pg.PlotDataItem] = []
        self.columns: np.ndarray = np.zeros((0, 0))

    def show_trials(self, rows: list[dict[str, Any]], keys: list[str], objective: str) -> None:
        self.clear()
        self.rows, self.bands, self.lines = _finished(rows), [], []
        if not self.rows:
            return
        columns, labels = [], []
        for key in keys:
            x, ticks, log = _axis_values(self.rows, key)
            if log:
                x = np.log10(x)
            columns.append(x)
            low, high = (ticks[0][1], ticks[-1][1]) if ticks else (_fmt(x.min(), log), _fmt(x.max(), log))
            labels.append((key, low, high))
        objective_values = np.asarray([r["objective"] for r in self.rows], dtype=float)
        columns.append(objective_values)
        labels.append((objective, _fmt(objective_values.min()), _fmt(objective_values.max())))
        data = np.vstack(columns).T
        span = np.ptp(data, axis=0)
        self.columns = (data - data.min(axis=0)) / np.where(span > 0, span, 1)
        shade = (objective_values - objective_values.min()) / max(np.ptp(objective_values), 1e-12)
        axes_x = np.arange(len(labels), dtype=float)
        for row, level in zip(self.columns, shade, strict=True):
            color = COLORMAP.map(float(level), mode="qcolor")
            self.lines.append(self.plot(axes_x, row, pen=pg.mkPen(color, width=2)))
        x0, x1 = -0.2, len(labels) - 0.6
        for i, (name, low, high) in enumerate(labels):
            self.addItem(pg.InfiniteLine(pos=i, angle=90, pen=pg.mkPen("#888")))
            for text, y, anchor in ((name, -0.08, (0.5, 0)), (low, 0.0, (0, 0.5)), (high, 1.0, (0, 0.5))):
                label = pg.TextItem(text, color="#555", anchor=anchor)
                label.setPos(i + (0.03 if y in (0.0, 1.0) else 0), y)
                self.addItem(label)
            at = (i - x0) / (x1 - x0)  # a band's span is a fraction of the view's width: a narrow strip on the axis
            band = pg.LinearRegionItem(values=(-0.02, 1.02), orientation="horizontal", brush=QColor(90, 90, 255, 40),
                                       span=(at - 0.012, at + 0.012))
            band.sigRegionChanged.connect(self._brush)
            self.addItem(band)
            self.bands.append(band)
        self.getAxis("bottom").setTicks([[(float(i), "") for i in axes_x]])
        self.setXRange(x0, x1, padding=0)
        self.setYRange(-0.15, 1.08)

    def brush(self, axis: int, low: float, high: float) -> None:
        """Keep trials whose value on ``axis`` (0–1 of its range) lies between low and high."""
        self.bands[axis].setRegion((low, high))

    def _brush(self) -> None:
        inside = np.ones(len(self.rows), dtype=bool)
        for axis, band in enumerate(self.bands):
            low, high = band.getRegion()
            inside &= (self.columns[:, axis] >= low) & (self.columns[:, axis] <= high)
        for line, keep, level in zip(self.lines, inside, self.columns[:, -1], strict=True):
            color = COLORMAP.map(float(level), mode="qcolor") if keep else QColor(180, 180, 180, 60)
            line.setPen(pg.mkPen(color, width=2 if keep else 1))
        self.brushed.emit([r["trial"] for r, keep in zip(self.rows, inside, strict=True) if keep])


def _fmt(value: float, log: bool = False) -> str:
    return f"{10 ** value:.3g}" if log else f"{value:.4g}"


# What the Pareto view can weigh a trial by: its parameter count, or the size on disk of its compressed
# variant when the experiment compresses its trials (compress.method / compress.sparsity).
SIZES = {"parameters": lambda r: r.get("parameters"),
         "compressed size on disk (B)": lambda r: r["metrics"].get("compress_size_bytes")}


class ObjectiveScatter(QWidget):
    """The objective against one hyperparameter (chosen above the plot), or against a size (the parameter
    count, or the compressed variant's bytes) with its Pareto front: the trials no other trial beats on both
    size and objective."""

    picked = Signal(int)

    def __init__(self, pareto: bool = False) -> None:
        super().__init__()
        self.pareto = pareto
        self.choice = QComboBox()
        self.choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.choice.currentTextChanged.connect(lambda _: self._draw())
        self.plot = pg.PlotWidget()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.points = pg.ScatterPlotItem(size=11, pen=pg.mkPen("#333"), hoverable=True)
        self.points.sigClicked.connect(lambda _, spots: spots and self.picked.emit(int(spots[0].data())))
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("size" if pareto else "hyperparameter"))
        bar.addWidget(self.choice)
        bar.addStretch()
        column.addLayout(bar)
        column.addWidget(self.plot)
        self.rows: list[dict[str, Any]] = []
        self.objective, self.maximize = "", False

    def show_trials(self, rows: list[dict[str, Any]], keys: list[str], objective: str, maximize: bool) -> None:
        self.rows, self.objective, self.maximize = _finished(rows), objective, maximize
        if self.pareto:  # the sizes the trials have: a compressed size only where they were compressed
            keys = [name for name, size in SIZES.items() if any(size(r) for r in self.rows)] or ["parameters"]
        current = self.choice.currentText()
        offered = [self.choice.itemText(i) for i in range(self.choice.count())]
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItems(keys)
        if current in keys and (keys == offered or not self.pareto):
            self.choice.setCurrentText(current)
        elif self.pareto:
            self.choice.setCurrentText(keys[-1])  # a compressed size when one comes: what the experiment is about
        self.choice.blockSignals(False)
        self._draw()

    def _draw(self) -> None:
        self.plot.clear()
        self.plot.setLabel("left", self.objective)
        size = SIZES.get(self.choice.currentText(), SIZES["parameters"])
        rows = [r for r in self.rows if not self.pareto or size(r)]
        if not rows:
            return
        y = np.asarray([r["objective"] for r in rows], dtype=float)
        ticks = None
        if self.pareto:
            x, log = np.asarray([size(r) for r in rows], dtype=float), True
            self.plot.setLabel("bottom", self.choice.currentText())
        else:
            x, ticks, log = _axis_values(rows, self.choice.currentText())
            self.plot.setLabel("bottom", self.choice.currentText())
        self.plot.setLogMode(x=log, y=False)
        self.plot.getAxis("bottom").setTicks([ticks] if ticks else None)
        shade = (y - y.min()) / max(np.ptp(y), 1e-12)
        brushes = [pg.mkBrush(COLORMAP.map(float(s if self.maximize else 1 - s), mode="qcolor")) for s in shade]
        shown_x = np.log10(x) if log else x  # items added directly are drawn in the axis's own (log) units
        self.points.setData(shown_x, y, brush=brushes, data=[r["trial"] for r in rows])
        self.plot.addItem(self.points)
        for r, px, py in zip(rows, shown_x, y, strict=True):
            label = pg.TextItem(str(r["trial"]), color="#444", anchor=(-0.3, 1.1))
            label.setPos(px, py)
            self.plot.addItem(label)
        if self.pareto:
            front = pareto_front(list(zip(x.tolist(), y.tolist(), strict=True)), self.maximize)
            self.plot.plot(x[front], y[front], pen=pg.mkPen("#d62728", width=2, style=Qt.PenStyle.DashLine),
                           symbol="s", symbolSize=14, symbolPen=pg.mkPen("#d62728", width=2), symbolBrush=None,
                           stepMode=None, name="Pareto front")


class TrialDiff(QTableWidget):
    """Two trials' hyperparameters, options and metrics side by side; rows that differ are marked."""

    def __init__(self) -> None:
        super().__init__(0, 3)
        self.setHorizontalHeaderLabels(["setting", "", ""])
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().hide()
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

    def show_pair(self, left: dict[str, Any], right: dict[str, Any], settings: tuple[dict, dict]) -> None:
        """``settings``: each trial's full recorded parameters (MLflow params), beyond its hyperparameters."""
        self.setHorizontalHeaderLabels(["setting", f"trial {left['trial']}", f"trial {right['trial']}"])
        a = {**settings[0], **left["params"], **{f"metric: {k}": v for k, v in left["metrics"].items()}}
        b = {**settings[1], **right["params"], **{f"metric: {k}": v for k, v in right["metrics"].items()}}
        keys = sorted(set(a) | set(b), key=lambda k: (str(a.get(k)) == str(b.get(k)), k.startswith("metric"), k))
        self.setRowCount(len(keys))
        for i, key in enumerate(keys):
            differs = str(a.get(key)) != str(b.get(key))
            for j, text in enumerate((key, _cell(a.get(key)), _cell(b.get(key)))):
                item = QTableWidgetItem(text)
                if differs:
                    item.setBackground(QColor(255, 230, 150, 140))
                self.setItem(i, j, item)


class TrialMetrics(QWidget):
    """Several trials' objective, metrics, size and duration side by side (one column per trial), under a
    line that says what one selected trial shows instead: its confusion matrix, per-class scores, export."""

    def __init__(self) -> None:
        super().__init__()
        self.hint = QLabel()
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.hint)
        column.addWidget(self.table, 1)
        self.show_trials([], "")

    def show_trials(self, rows: list[dict[str, Any]], objective: str) -> None:
        one = "Select one finished trial for its confusion matrix, per-class scores and Export."
        if not rows:
            self.hint.setText("Select trials in the table: one for its results, several to compare their metrics.")
        elif len(rows) == 1:
            row = rows[0]
            why = f": {row['message']}" if row.get("message") else ""
            self.hint.setText(f"Trial {row['trial']} is {row['status']}{why}. Its results appear when it finishes.")
        else:
            self.hint.setText(f"{len(rows)} trials side by side. {one}")
        metrics = sorted({m for r in rows for m in r["metrics"] if m != objective})
        lines = [("status", lambda r: r["status"]), (objective or "objective", lambda r: r["objective"]),
                 *((m, lambda r, m=m: r["metrics"].get(m)) for m in metrics),
                 ("parameters", lambda r: r.get("parameters")), ("duration (s)", lambda r: r.get("duration_s"))]
        self.table.setColumnCount(len(rows))
        self.table.setHorizontalHeaderLabels([f"trial {r['trial']}" for r in rows])
        self.table.setRowCount(len(lines) if rows else 0)
        self.table.setVerticalHeaderLabels([name for name, _ in lines])
        self.table.setVisible(bool(rows))
        for j, row in enumerate(rows):
            for i, (_, value) in enumerate(lines):
                self.table.setItem(i, j, QTableWidgetItem(_cell(value(row))))


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
