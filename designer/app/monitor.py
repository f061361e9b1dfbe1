"""The live training monitor: loss and metric curves per iteration (each batch's own loss, and
smoothed) with validation points per epoch, learning rate, samples/s, progress with ETA, Stop and Kill.
Every loss goes on the loss plot (a GAN's d_loss and g_loss, a VAE's three), and a GAN's or VAE's
grid of samples from fixed noise is shown beside the plots, the latest epoch's.

Events only append to numpy buffers; a timer redraws one plot every 50 ms in turn, with pyqtgraph
downsampling and clipping to the view, so a long run stays smooth and the event loop stays free.
The x axis is in epochs, so other runs' per-epoch curves overlay on the same scale.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from designer.app.generative.sample_grid import SampleGrid

SMOOTHING = 0.9
ETA_AFTER_S, ETA_AFTER_BATCHES = 1.0, 3  # of steady batches before the remaining time is estimated
OVERLAY_COLORS = ("#e53935", "#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41", "#3949ab")
PLOTS = ("loss", "metric", "lr", "speed")
TITLES = {"loss": "Loss", "metric": "Metrics", "lr": "Learning rate", "speed": "Samples/s"}
KEYED = ("loss", "metric")  # plots with a key under them; the others hold one curve, named by the title
KEY_COLUMNS = 3
SKIP = ("event", "epoch", "step", "steps", "samples_per_s", "learning_rate", "wall_time")


class Series:
    """A growable (x, y) series: amortised O(1) appends, views without copies."""

    def __init__(self, capacity: int = 1024) -> None:
        self.data = np.empty((2, capacity))
        self.size = 0

    def append(self, x: float, y: float) -> None:
        if self.size == self.data.shape[1]:
            self.data = np.concatenate([self.data, np.empty_like(self.data)], axis=1)
        self.data[:, self.size] = x, y
        self.size += 1

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        for x, y in zip(xs, ys, strict=True):
            self.append(float(x), float(y))

    @property
    def x(self) -> np.ndarray:
        return self.data[0, : self.size]

    @property
    def y(self) -> np.ndarray:
        return self.data[1, : self.size]


class DebiasedEma:
    """TensorBoard's smoothing: an exponential moving average started from zero and divided by the
    weight it has gathered (1 - w^n), so no single point (the first) weighs more than its share."""

    def __init__(self, weight: float = SMOOTHING) -> None:
        self.weight, self.value, self.count = weight, 0.0, 0

    def add(self, x: float) -> float:
        self.count += 1
        self.value = self.weight * self.value + (1 - self.weight) * x
        return self.value / (1 - self.weight ** self.count)


def fast_item(item: Any) -> Any:
    """About one point per pixel, only the visible part: a 100,000-point curve draws like a short one."""
    item.setDownsampling(auto=True, method="peak")
    item.opts["autoDownsampleFactor"] = 1.0  # pyqtgraph draws ~5 samples a pixel by default
    item.setClipToView(True)
    return item


def _lighter(color: str) -> str:
    """An opaque tint: transparent pens make QPainter blend every segment, which is slow for dense curves."""
    return pg.mkColor(color).lighter(170).name()


class _Curve:
    """One plotted series and whether it changed since the last redraw."""

    def __init__(self, plot: pg.PlotItem, pen: Any, name: str, symbol: str | None = None) -> None:
        self.series = Series()
        self.item = plot.plot([], [], pen=pen, name=name, symbol=symbol, symbolSize=7,
                              symbolBrush=pen.color() if symbol else None, skipFiniteCheck=True)
        fast_item(self.item)
        self.dirty = False
        self.low, self.high = float("inf"), float("-inf")

    def add(self, x: float, y: float) -> None:
        self.series.append(x, y)
        self.low, self.high = min(self.low, y), max(self.high, y)
        self.dirty = True

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """Many points at once (a reopened run, a benchmark)."""
        self.series.extend(xs, ys)
        if len(ys):
            self.low, self.high = min(self.low, float(np.min(ys))), max(self.high, float(np.max(ys)))
        self.dirty = True

    def redraw(self) -> None:
        if self.dirty:
            self.item.setData(self.series.x, self.series.y)
            self.dirty = False


def plot_defaults() -> None:
    """Every plot of the app: dark lines on white, as in a paper; antialiasing off for speed."""
    pg.setConfigOptions(antialias=False, background="w", foreground="#333")


def add_legend(plot: pg.PlotItem, **options: object) -> pg.LegendItem:
    """A legend in the top-right corner on translucent white, so the curves under it stay visible."""
    return plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(255, 255, 255, 200), **options)


class TrainingMonitor(QWidget):
    stop_requested = Signal()
    kill_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        plot_defaults()
        self.status = QLabel()
        self.progress = QProgressBar()
        self.progress.setFormat("%p%")
        self.timing = QLabel("")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current batch; the best checkpoint is kept")
        self.kill_button = QPushButton("Kill")
        self.kill_button.setToolTip("End the training process at once")
        self.log_scale = QCheckBox("log loss")
        self.stop_button.clicked.connect(self.stop_requested)
        self.kill_button.clicked.connect(self.kill_requested)
        self.log_scale.toggled.connect(self._log_loss)
        header = QHBoxLayout()
        for w in (self.status, self.progress, self.timing, self.log_scale, self.stop_button, self.kill_button):
            header.addWidget(w)
        header.setStretch(1, 1)
        self.graphics = pg.GraphicsLayoutWidget()
        self.plots: dict[str, pg.PlotItem] = {}
        for i, key in enumerate(PLOTS):
            title = TITLES[key]
            plot = self.graphics.addPlot(row=i // 2 * 2, col=i % 2, title=title)
            plot.showGrid(x=True, y=True, alpha=0.25)
            for axis in ("left", "bottom"):  # labels on major ticks only: text is most of an axis's paint
                plot.getAxis(axis).setStyle(maxTextLevel=0)
            plot.setLabel("bottom", "epoch")
            self.plots[key] = plot
        # Keys under the plots rather than legends over them: a legend inside a plot hides the curves that
        # pass under it (a rising accuracy ends in the top-right corner).
        self.keys = {key: self.graphics.addLabel("", row=1, col=i, size="8pt") for i, key in enumerate(KEYED)}
        self.key_entries: dict[str, dict[Any, str]] = {key: {} for key in KEYED}
        self.graphics.ci.layout.setRowStretchFactor(0, 3)  # loss and metrics get the room
        self.graphics.ci.layout.setRowStretchFactor(2, 1)
        self.plots["lr"].setLogMode(y=True)  # schedules span decades; a constant rate stays readable
        self.console = QPlainTextEdit(readOnly=True)
        self.console.setMaximumBlockCount(2000)
        self.console.setMaximumHeight(70)
        self.console.hide()  # shown when the run has something to say
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(header)
        self.samples = SampleGrid()
        self.samples.setToolTip("The same noise through the generator (or decoder) after each epoch")
        body = QHBoxLayout()
        body.addWidget(self.graphics, 3)
        body.addWidget(self.samples, 1)
        layout.addLayout(body, 1)
        layout.addWidget(self.console)
        self.curves: dict[tuple[str, str], _Curve] = {}
        self.y_ranges: dict[str, tuple[float, float]] = {}  # in data units, widened only when data leave it
        self.overlay_bounds = {plot: (float("inf"), float("-inf")) for plot in PLOTS}
        self.colors: dict[str, str] = {}  # one hue per metric: raw faint, smoothed solid, validation dashed + dots
        self.smoothed: dict[str, DebiasedEma] = {}
        self.overlays: list[Any] = []
        self.turn = 0
        self.timer = QTimer(self, interval=50)
        self.timer.timeout.connect(self.redraw)
        self.reset(running=False)

    # ---- a live run ---------------------------------------------------------------------------
    def reset(self, running: bool = True, epochs: int = 0) -> None:
        for (plot, _), curve in self.curves.items():  # from the plot, not its view box alone: the plot
            self.plots[plot].removeItem(curve.item)  # keeps listing the curves of every run since
        for plot, entries in self.key_entries.items():
            entries.clear()
            self.keys[plot].setText("")
        self.curves.clear()
        self.y_ranges.clear()
        self.smoothed.clear()
        self.console.clear()
        self.console.hide()
        self.samples.clear()
        self.samples.hide()  # until a GAN or VAE run sends its first grid
        self.plots["metric"].setTitle(TITLES["metric"])
        self.epochs, self.started_at, self.position = epochs, time.perf_counter(), 0.0
        self.phase = "starting TensorFlow"  # what the run waits for until its first batch
        self.first_batch: tuple[float, float] | None = None  # when and where (in epochs) batches began
        self.batches = 0
        self.span = float(max(epochs, 1))
        self._fix_x_range()
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.timing.setText("")
        self.stop_button.setEnabled(running)
        self.kill_button.setEnabled(running)
        if running:
            self.status.setText("Starting the training process…")
            self.timer.start()
        else:
            self.status.setText("No run yet: press Train.")
            self.timer.stop()

    def _log_loss(self, on: bool) -> None:
        self.plots["loss"].setLogMode(y=on)
        self.y_ranges.pop("loss", None)
        self._fit_y("loss")

    def _fit_y(self, plot: str) -> None:
        """Widen the y range only when the data leave it (by a margin), instead of autoscaling on every
        point: an axis that keeps its range keeps its tick labels, and re-laying those is what costs."""
        lows = [c.low for (where, _), c in self.curves.items() if where == plot] + [self.overlay_bounds[plot][0]]
        highs = [c.high for (where, _), c in self.curves.items() if where == plot] + [self.overlay_bounds[plot][1]]
        item = self.plots[plot]
        log = bool(item.getAxis("left").logMode)
        if log:
            lows = [v for v in lows if v > 0]
        low, high = min(lows, default=float("inf")), max(highs, default=float("-inf"))
        if not low <= high:
            return
        current = self.y_ranges.get(plot)
        if current is not None and current[0] <= low and high <= current[1]:
            return
        if log:
            low, high = np.log10(low), np.log10(max(high, low))
        margin = max((high - low) * 0.1, abs(high) * 0.05, 1e-9)
        self.y_ranges[plot] = (10 ** (low - margin), 10 ** (high + margin)) if log else (low - margin, high + margin)
        item.enableAutoRange(y=False)
        item.setYRange(low - margin, high + margin, padding=0)

    def _fix_x_range(self) -> None:
        """The whole run's epochs from the start: axes that do not move are not re-laid out on every
        redraw, which is most of a refresh's cost."""
        for plot in self.plots.values():
            plot.enableAutoRange(x=False)
            plot.setXRange(0, self.span, padding=0.02)

    def curve(self, plot: str, name: str, color: str, width: float = 1.0, symbol: str | None = None,
              dashed: bool = False) -> _Curve:
        key = (plot, name)
        if key not in self.curves:
            style = pg.QtCore.Qt.PenStyle.DashLine if dashed else pg.QtCore.Qt.PenStyle.SolidLine
            self.curves[key] = _Curve(self.plots[plot], pg.mkPen(color, width=width, style=style), name, symbol)
            self._key(plot, key, name, color, dashed)
        return self.curves[key]

    def _key(self, plot: str, entry: Any, name: str | None, color: str = "", dashed: bool = False) -> None:
        """Add (or with ``name`` None, remove) one curve's entry in the key under ``plot``."""
        entries = self.key_entries.get(plot)
        if entries is None:
            return
        if name is None:
            entries.pop(entry, None)
        else:
            entries[entry] = f"<span style='color:{color}'>{'╌╌' if dashed else '━━'}</span>&nbsp;{name}"
        cells = list(entries.values())
        rows = ("&nbsp;&nbsp;&nbsp;".join(cells[i:i + KEY_COLUMNS]) for i in range(0, len(cells), KEY_COLUMNS))
        self.keys[plot].setText("<br>".join(rows))

    def color(self, metric: str) -> str:
        base = metric.removeprefix("val_")
        if base not in self.colors:
            self.colors[base] = OVERLAY_COLORS[(len(self.colors) + 1) % len(OVERLAY_COLORS)]
        return self.colors[base]

    def add_events(self, events: list[dict[str, Any]]) -> None:
        """Cheap: buffers only; the timer draws."""
        for event in events:
            kind = event["event"]
            if kind == "started":
                self.status.setText(f"Training on {event['backend']} · {event['device']}")
                self.phase = "loading the data and building the model"
            elif kind == "batch":
                self._batch(event)
            elif kind == "epoch":
                self._epoch(event)
            elif kind == "samples":
                self._samples(event)
            elif kind == "note":
                self.say(event["text"])
            elif kind in ("finished", "failed"):
                self.finish(event)

    def _batch(self, event: dict[str, Any]) -> None:
        steps = event.get("steps") or event["step"]
        x = event["epoch"] - 1 + event["step"] / steps
        self.position = x
        self.batches += 1
        if self.first_batch is None:
            self.first_batch = (time.perf_counter(), x)
        for name, value in event.items():
            if name in SKIP or not isinstance(value, (int, float)):
                continue
            plot = "loss" if name.endswith("loss") else "metric"
            color = self.color(name)
            self.curve(plot, name, _lighter(color)).add(x, value)
            smooth = self.smoothed.setdefault(name, DebiasedEma()).add(value)
            self.curve(plot, f"{name} (smoothed)", color, 1.5).add(x, smooth)
        if "learning_rate" in event:
            self.curve("lr", "learning rate", "#5e35b1", 2).add(x, event["learning_rate"])
        if "samples_per_s" in event:
            self.curve("speed", "samples/s", "#00897b").add(x, event["samples_per_s"])

    def _epoch(self, event: dict[str, Any]) -> None:
        for name, value in event.items():
            if name.startswith("val_") and isinstance(value, (int, float)):
                plot = "loss" if name.endswith("loss") else "metric"
                self.curve(plot, name, self.color(name), 2, symbol="o", dashed=True).add(float(event["epoch"]), value)
        self.position = float(event["epoch"])

    def _samples(self, event: dict[str, Any]) -> None:
        """The epoch's grid (its PNG read by whoever pumps the run's events)."""
        if "png" in event and self.samples.show_png(event["png"], f"Samples after epoch {event['epoch']} "
                                                                    "(the same noise each epoch)"):
            self.samples.show()
        if not any(where == "metric" for where, _ in self.curves):  # an empty plot should say why it is
            self.plots["metric"].setTitle("Metrics: none, this recipe logs its losses")

    def redraw(self, everything: bool = False) -> None:
        """One plot per tick, in turn (each plot redraws five times a second): a tick then repaints a
        quarter of the area, so the event loop is never held for a whole monitor's paint."""
        plot = PLOTS[self.turn % len(PLOTS)]
        self.turn += 1
        for (where, _), curve in self.curves.items():
            if everything or where == plot:
                curve.redraw()
        for where in PLOTS if everything else (plot,):
            self._fit_y(where)
        if self.epochs:
            self._show_progress()

    def _show_progress(self) -> None:
        """Until the first batch, what the run waits for and for how long; then the epoch, and the time
        left once batches have come steadily for a while (measured from the first batch, so the start-up
        wait does not make the first estimate absurd)."""
        now = time.perf_counter()
        elapsed = now - self.started_at
        if self.first_batch is None:
            self.progress.setFormat(f"{self.phase}… {elapsed:.0f} s")
            self.timing.setText(f"{elapsed:.0f} s elapsed")
            return
        fraction = min(1.0, self.position / self.epochs)
        self.progress.setValue(int(fraction * 100))
        self.progress.setFormat(f"epoch {min(self.epochs, int(self.position) + 1)}/{self.epochs} · %p%")
        since, start = now - self.first_batch[0], self.first_batch[1]
        eta = ""
        if since >= ETA_AFTER_S and self.batches > ETA_AFTER_BATCHES and self.position > start:
            eta = f" · ETA {(self.epochs - self.position) * since / (self.position - start):.0f} s"
        self.timing.setText(f"{elapsed:.0f} s elapsed{eta}")

    def finish(self, event: dict[str, Any]) -> None:
        self.redraw(everything=True)
        self.timer.stop()
        self.stop_button.setEnabled(False)
        self.kill_button.setEnabled(False)
        if event["event"] == "finished":
            self.progress.setValue(100)
            self.status.setText(f"Finished in {event.get('duration_s', 0):.1f} s")
        elif event.get("cause") == "stopped":  # asked for: the best checkpoint is kept, nothing went wrong
            self.status.setText(f"Stopped: {event.get('message', '')}")
        else:
            self.status.setText(f"Failed ({event.get('cause')}): {event.get('message', '')}")
            self.say(event.get("traceback", "") or event.get("message", ""))

    def say(self, text: str) -> None:
        self.console.show()
        self.console.appendPlainText(text)

    # ---- other runs -----------------------------------------------------------------------------
    def overlay(self, runs: list[tuple[str, dict[str, list[tuple[int, float]]]]]) -> None:
        """Draw past runs' per-epoch curves (label, {metric: [(epoch, value)]}) over the live ones."""
        for item, plot in self.overlays:
            plot.removeItem(item)
            self._key(next(k for k, p in self.plots.items() if p is plot), item, None)
        self.overlays = []
        self.overlay_bounds = {plot: (float("inf"), float("-inf")) for plot in PLOTS}
        for (label, history), color in zip(runs, OVERLAY_COLORS * 4, strict=False):
            for name, points in history.items():
                if not points or name in ("learning_rate",):
                    continue
                where = "loss" if name.endswith("loss") else "metric"
                plot = self.plots[where]
                style = pg.mkPen(color, style=pg.QtCore.Qt.PenStyle.DashLine if name.startswith("val_")
                                 else pg.QtCore.Qt.PenStyle.SolidLine)
                epochs, values = zip(*points, strict=True)
                many = len(points) > 200
                item = plot.plot(np.asarray(epochs), np.asarray(values), pen=style, name=f"{label} {name}",
                                 symbol=None if many else "o", symbolSize=5, symbolBrush=color)
                self.overlays.append((fast_item(item), plot))
                self._key(where, item, f"{label} {name}", color, name.startswith("val_"))
                self.span = max(self.span, float(max(epochs)))
                low, high = self.overlay_bounds[where]
                self.overlay_bounds[where] = (min(low, min(values)), max(high, max(values)))
        self._fix_x_range()
        self.y_ranges.clear()
        for where in PLOTS:
            self._fit_y(where)
