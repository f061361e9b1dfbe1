"""Live monitor refresh cost: 100,000 points per curve, 10 runs overlaid.

One refresh = one tick of the monitor's timer after new events arrived: the next plot in turn gets
its new points and is painted (each plot so refreshes five times a second). Also printed: all four
plots redrawn and the whole monitor painted at once, and both on an empty monitor, side by side.
Goal: ≤ 33 ms per refresh (30 frames a second). The last line is JSON.

    QT_QPA_PLATFORM=offscreen python benchmarks/plot_update.py
"""

from __future__ import annotations

import json
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtWidgets import QApplication

from designer.app.monitor import PLOTS, TrainingMonitor

POINTS, RUNS, REFRESHES = 100_000, 10, 40


def fill(monitor: TrainingMonitor, points: int) -> None:
    rng = np.random.default_rng(0)
    x = np.linspace(0, 50, points)
    loss = np.exp(-x / 10) + rng.normal(0, 0.05, points)
    for name, y in (("loss", loss), ("accuracy", 1 - loss / 2)):
        plot = "loss" if name == "loss" else "metric"
        monitor.curve(plot, name, "#1e88e5").extend(x, y)
        monitor.curve(plot, f"{name} (smoothed)", "#1e88e5", 2).extend(x, y)
    monitor.curve("lr", "learning rate", "#5e35b1").extend(x, np.full(points, 1e-3))
    monitor.curve("speed", "samples/s", "#00897b").extend(x, rng.normal(5000, 100, points))
    monitor.overlay([(f"run {r}", {"loss": list(zip(x, loss + r * 0.01, strict=True)),
                                   "accuracy": list(zip(x, 1 - loss / 2 - r * 0.01, strict=True))})
                     for r in range(RUNS)])


def refresh_times(monitor: TrainingMonitor, start_epoch: float, everything: bool) -> list[float]:
    """``everything``: all four plots redrawn and the whole monitor painted; otherwise what one timer tick
    does: the next plot in turn redrawn, and the screen area of that plot painted."""
    times = []
    for i in range(REFRESHES):
        start = time.perf_counter()
        epoch = start_epoch + i * 0.01
        monitor.add_events([{"event": "batch", "epoch": int(epoch) + 1, "step": 1 + i % 100, "steps": 100,
                             "loss": 0.1, "accuracy": 0.9, "learning_rate": 1e-3, "samples_per_s": 5000.0}])
        plot = monitor.plots[PLOTS[monitor.turn % len(PLOTS)]]
        monitor.redraw(everything=everything)
        if everything:
            monitor.graphics.grab()
        else:
            area = monitor.graphics.mapFromScene(plot.mapRectToScene(plot.boundingRect())).boundingRect()
            monitor.graphics.viewport().repaint(area)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    app = QApplication.instance() or QApplication([])
    figures = {}
    for label, points in (("empty", 0), ("100k x 10 runs", POINTS)):
        for everything in (False, True):
            monitor = TrainingMonitor()
            monitor.resize(1200, 500)
            monitor.show()
            if points:
                fill(monitor, points)
            monitor.redraw(everything=True)
            monitor.graphics.grab()
            app.processEvents()
            times = refresh_times(monitor, 50.0 if points else 0.0, everything)
            key = f"{label}, {'whole monitor' if everything else 'one tick'}"
            figures[key] = {"median_ms": round(statistics.median(times), 2),
                            "p95_ms": round(sorted(times)[int(0.95 * len(times)) - 1], 2)}
            print(f"{key:<32} median {figures[key]['median_ms']:7.2f} ms   p95 {figures[key]['p95_ms']:7.2f} ms")
            monitor.close()
    tick, whole = figures["100k x 10 runs, one tick"], figures["100k x 10 runs, whole monitor"]
    ratio = tick["median_ms"] / max(figures["empty, one tick"]["median_ms"], 1e-9)
    print(f"big / empty (one tick): {ratio:.2f}   (goal: ≤ 33 ms per refresh with 100k points and 10 runs)")
    print(json.dumps({**tick, "whole_monitor_median_ms": whole["median_ms"], "whole_monitor_p95_ms": whole["p95_ms"],
                      "ratio": round(ratio, 2), "points": POINTS, "runs": RUNS}))


if __name__ == "__main__":
    main()
