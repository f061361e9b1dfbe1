"""Live monitor refresh cost: 100,000 points per curve, 10 runs overlaid.

One refresh = the timer's work after new events arrived (each live curve gets new points and is
redrawn) plus painting the plots. Printed side by side with the same refresh on an empty
monitor. Goal: ≤ 33 ms per refresh (30 frames a second). The last line is JSON.

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

from designer.app.monitor import TrainingMonitor

POINTS, RUNS, REFRESHES = 100_000, 10, 40


def fill(monitor: TrainingMonitor, points: int) -> None:
    rng = np.random.default_rng(0)
    x = np.linspace(0, 50, points)
    loss = np.exp(-x / 10) + rng.normal(0, 0.05, points)
    for name, y in (("loss", loss), ("accuracy", 1 - loss / 2)):
        plot = "loss" if name == "loss" else "metric"
        monitor.curve(plot, name, "#1e88e5").series.extend(x, y)
        monitor.curve(plot, f"{name} (smoothed)", "#1e88e5", 2).series.extend(x, y)
    monitor.curve("lr", "learning rate", "#5e35b1").series.extend(x, np.full(points, 1e-3))
    monitor.curve("speed", "samples/s", "#00897b").series.extend(x, rng.normal(5000, 100, points))
    monitor.overlay([(f"run {r}", {"loss": list(zip(x, loss + r * 0.01, strict=True)),
                                   "accuracy": list(zip(x, 1 - loss / 2 - r * 0.01, strict=True))})
                     for r in range(RUNS)])


def refresh_times(monitor: TrainingMonitor, start_epoch: float) -> list[float]:
    times = []
    for i in range(REFRESHES):
        start = time.perf_counter()
        epoch = start_epoch + i * 0.01
        monitor.add_events([{"event": "batch", "epoch": int(epoch) + 1, "step": 1 + i % 100, "steps": 100,
                             "loss": 0.1, "accuracy": 0.9, "learning_rate": 1e-3, "samples_per_s": 5000.0}])
        monitor.redraw(everything=True)
        monitor.graphics.grab()  # paint every plot, as the screen would
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    app = QApplication.instance() or QApplication([])
    figures = {}
    for label, points in (("empty", 0), ("100k x 10 runs", POINTS)):
        monitor = TrainingMonitor()
        monitor.resize(1200, 500)
        monitor.show()
        if points:
            fill(monitor, points)
        monitor.redraw(everything=True)
        monitor.graphics.grab()
        app.processEvents()
        times = refresh_times(monitor, 50.0 if points else 0.0)
        figures[label] = {"median_ms": round(statistics.median(times), 2),
                          "p95_ms": round(sorted(times)[int(0.95 * len(times)) - 1], 2)}
        print(f"{label:<16} median {figures[label]['median_ms']:7.2f} ms   p95 {figures[label]['p95_ms']:7.2f} ms")
        monitor.close()
    ratio = figures["100k x 10 runs"]["median_ms"] / max(figures["empty"]["median_ms"], 1e-9)
    print(f"big / empty: {ratio:.2f}   (goal: ≤ 33 ms per refresh with 100k points and 10 runs)")
    print(json.dumps({**figures["100k x 10 runs"], "empty_median_ms": figures["empty"]["median_ms"],
                      "ratio": round(ratio, 2), "points": POINTS, "runs": RUNS}))


if __name__ == "__main__":
    main()
