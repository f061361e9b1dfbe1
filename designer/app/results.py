"""A finished run's results: final metrics, the confusion matrix as a heat map, per-class
precision/recall/F1, and export of the trained model in every format, each verified; for a GAN or
VAE, its samples and new ones generated on request."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QProcess, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from designer.app.generative.samples_page import SamplesPage
from designer.app.inspection.explain_page import ExplainPage
from designer.app.subprocesses import designer_process
from designer.export.formats import FORMATS, NAMES, SUFFIX, with_suffix


class ConfusionMatrix(pg.PlotWidget):
    """Counts as a heat map, true classes down, predicted across, each cell labelled."""

    def __init__(self) -> None:
        super().__init__()
        self.image = pg.ImageItem()
        self.addItem(self.image)
        self.getPlotItem().invertY(True)
        self.getPlotItem().setAspectLocked(True)
        self.setLabel("left", "true class")
        self.setLabel("bottom", "predicted class")
        self.labels: list[pg.TextItem] = []

    def show_matrix(self, matrix: list[list[int]], classes: list[str]) -> None:
        counts = np.asarray(matrix, dtype=float)
        for label in self.labels:
            self.removeItem(label)
        self.labels = []
        rows = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)  # colour by recall, so rare classes show
        self.image.setImage(rows.T, levels=(0, 1))
        self.image.setColorMap(pg.colormap.get("CET-L12"))
        ticks = [list(enumerate(classes))]
        for axis in ("bottom", "left"):
            self.getAxis(axis).setTicks([[(i + 0.5, name) for i, name in ticks[0]]])
        for (i, j), n in np.ndenumerate(counts):
            text = pg.TextItem(f"{int(n)}", color="w" if rows[i, j] > 0.5 else "#222", anchor=(0.5, 0.5))
            text.setPos(j + 0.5, i + 0.5)
            self.addItem(text)
            self.labels.append(text)
        self.autoRange()


class SamplePredictions(pg.GraphicsLayoutWidget):
    """Test images with true → predicted class and confidence; the Grad-CAM map laid over each in colour."""

    def show_samples(self, samples: list[dict[str, Any]]) -> None:
        self.clear()
        heat = pg.colormap.get("CET-L3")
        for i, sample in enumerate(samples):
            image = np.asarray(sample["image"], dtype=float)
            right = sample["true"] == sample["predicted"]
            title = (f"<span style='color:{'#2e7d32' if right else '#c62828'}'>{sample['true']} → "
                     f"{sample['predicted']} ({sample['confidence']:.0%})</span>")
            box = self.addViewBox(row=(i // 6) * 2 + 1, col=i % 6, lockAspect=True, invertY=True, enableMouse=False)
            self.addLabel(title, row=(i // 6) * 2, col=i % 6, size="8pt")
            box.addItem(pg.ImageItem(np.swapaxes(image[..., 0] if image.shape[-1] == 1 else image, 0, 1)))
            if "heatmap" in sample:
                overlay = pg.ImageItem(np.swapaxes(np.asarray(sample["heatmap"]), 0, 1), opacity=0.45)
                overlay.setColorMap(heat)
                box.addItem(overlay)


class PredictedVsTrue(pg.PlotWidget):
    def show_pairs(self, regression: dict[str, Any]) -> None:
        self.clear()
        true, predicted = np.asarray(regression["true"]), np.asarray(regression["predicted"])
        self.plot(true, predicted, pen=None, symbol="o", symbolSize=5, symbolBrush="#1e88e5")
        low, high = float(min(true.min(), predicted.min())), float(max(true.max(), predicted.max()))
        self.plot([low, high], [low, high], pen=pg.mkPen("#999", style=pg.QtCore.Qt.PenStyle.DashLine))
        self.setLabel("bottom", "true")
        self.setLabel("left", "predicted")
        self.setTitle(f"R² {regression['r2']:.3f} · MAE {regression['mae']:.4f} (test split)")


class ResultsView(QWidget):
    compress_requested = Signal()  # Compress…: the dock shows its Compress page for this run

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.matrix = ConfusionMatrix()
        self.per_class = QTableWidget(0, 4)
        self.per_class.setHorizontalHeaderLabels(["precision", "recall", "F1", "support"])
        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Export the run's best model; the artifact is reloaded and compared with Keras")
        self.export_button.clicked.connect(self.export_dialog)
        self.compress_button = QPushButton("Compress…")
        self.compress_button.setToolTip("Quantise or prune the run's model, measured against the float model")
        self.compress_button.clicked.connect(self.compress_requested)
        self.per_class.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.report = QPlainTextEdit(readOnly=True)
        self.report.setMaximumHeight(90)
        self.report.hide()  # until an export has something to report
        self.progress = QProgressBar(maximum=0, textVisible=False)  # busy: the export process reports no steps
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        self.ticker = QTimer(self, interval=1000)
        self.ticker.timeout.connect(self._tick)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.format)
        row.addWidget(self.export_button)
        row.addWidget(self.compress_button)
        self.samples = SamplePredictions()
        self.pairs = PredictedVsTrue()
        split = QSplitter()
        for widget in (self.matrix, self.per_class, self.samples, self.pairs):
            split.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        self.explain = ExplainPage()
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(split, "Evaluation")
        self.pages.addTab(self.explain, "Explain")
        self.generative = SamplesPage()
        self.pages.addTab(self.generative, "Samples")
        self.generative.available.connect(self._samples_available)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.report)
        self.process: QProcess | None = None
        self.exporting: tuple[str, float, Path] | None = None  # target, start, the run's files for the process
        self.folder = Path.cwd()  # where the export dialog starts: the project's folder once one is shown
        self.reset()

    def reset(self) -> None:
        """No run shown (a new window, another project): nothing of another run stays, nor can be exported."""
        self.run_id = self.tracking_uri = ""
        self.export_button.setEnabled(False)
        self.compress_button.setEnabled(False)
        self.summary.setText("Results appear here when a run finishes.")
        self.report.hide()
        self.explain.set_run(None)
        self.generative.set_run(None)
        self.pages.setCurrentIndex(0)
        for view in (self.matrix, self.per_class, self.samples, self.pairs):
            view.hide()

    def show_result(self, event: dict[str, Any], tracking_uri: str) -> None:
        self.run_id, self.tracking_uri = event.get("run_id", ""), tracking_uri
        self.export_button.setEnabled(bool(self.run_id) and event["event"] == "finished")
        self.compress_button.setEnabled(self.export_button.isEnabled())
        self.explain.folder = self.folder
        self.explain.set_run((tracking_uri, self.run_id) if self.export_button.isEnabled() else None)
        self.generative.folder = self.folder
        self.generative.set_run((tracking_uri, self.run_id) if self.export_button.isEnabled() else None)
        if event["event"] != "finished":
            self.summary.setText(f"<b>Run failed</b> ({event.get('cause')}): {event.get('message', '')}")
            return
        judged = {k: v for k, v in event["metrics"].items() if k.startswith("judge_") or k == "sample_quality"}
        metrics = " · ".join(f"{k.removeprefix('test_')} <b>{v:.4f}</b>" for k, v in event["metrics"].items()
                             if k not in judged)
        size = f"{event['parameters']:,} parameters, " if "parameters" in event else ""
        scores = " · ".join(f"{k.removeprefix('judge_').replace('_', ' ')} <b>{v:.3f}</b>"
                            for k, v in sorted(judged.items(), key=lambda kv: kv[0] != "sample_quality"))
        parts = [f"<b>Test</b> {metrics or '(no test split)'}"] if metrics or not scores else []
        if scores:  # a GAN's or VAE's samples scored by its judge classifier
            parts.append(f"<b>Samples, as the judge sees them</b>: {scores}")
        self.summary.setText(f"{'; '.join(parts)} — {size}{event.get('duration_s', 0):.1f} s, run {self.run_id[:8]}")
        evaluation = event.get("evaluation") or {}
        classifier = "confusion_matrix" in evaluation
        self.matrix.setVisible(classifier)
        self.per_class.setVisible(classifier)
        self.samples.setVisible(bool(evaluation.get("samples")))
        self.pairs.setVisible("regression" in evaluation)
        if evaluation.get("samples"):
            self.samples.show_samples(evaluation["samples"])
        if "regression" in evaluation:
            self.pairs.show_pairs(evaluation["regression"])
        if classifier:
            self.matrix.show_matrix(evaluation["confusion_matrix"], evaluation["classes"])
            per_class = evaluation["per_class"]
            self.per_class.setRowCount(len(per_class))
            self.per_class.setVerticalHeaderLabels(list(per_class))
            for i, scores in enumerate(per_class.values()):
                for j, key in enumerate(("precision", "recall", "f1", "support")):
                    value = scores[key]
                    self.per_class.setItem(i, j, QTableWidgetItem(f"{value:.3f}" if key != "support" else str(value)))

    def _samples_available(self, available: bool) -> None:
        """A GAN's or VAE's run opens on its samples: it has no evaluation to show."""
        index = self.pages.indexOf(self.generative)
        self.pages.setTabVisible(index, available)
        if available:
            self.pages.setCurrentIndex(index)
        elif self.pages.currentIndex() == index:
            self.pages.setCurrentIndex(0)

    def export_dialog(self) -> None:
        fmt = self.format.currentText()
        if fmt == "savedmodel":
            path = QFileDialog.getSaveFileName(self, "Export as a SavedModel folder", str(self.folder))[0]
        else:
            path = QFileDialog.getSaveFileName(self, f"Export as {NAMES[fmt]}", str(self.folder),
                                               filter=f"*{SUFFIX[fmt]}")[0]
        if path:  # the dialog does not add a filter's suffix on every platform, nor replace another one
            self.export(fmt, with_suffix(fmt, path))

    def export(self, fmt: str, path: str) -> QProcess | None:
        """In its own process under TensorFlow, whatever trained the run; the report is shown when done.
        The run's model is fetched here, where the store is already open: the process then starts from a
        run folder and never imports MLflow nor opens the store again (a third of its time)."""
        from designer.training.records import download_trained_model

        self.report.show()
        files = Path(tempfile.mkdtemp(prefix="netdesigner-export-"))
        try:
            download_trained_model(self.tracking_uri, self.run_id, files)
        except Exception as exc:  # a store gone or a run without a model: say so here
            shutil.rmtree(files, ignore_errors=True)
            self.report.setPlainText(f"Export failed: {exc}")
            return None
        self.export_button.setEnabled(False)
        self.exporting = (path, time.monotonic(), files)
        self._tick()
        self.progress.show()
        self.ticker.start()
        process = designer_process(self, ["export", str(files), "--format", fmt, "-o", path, "--json"],
                                   self._exported)
        process.start()
        self.process = process
        return process

    def _tick(self) -> None:
        if self.exporting is not None:
            path, started, _ = self.exporting
            self.report.setPlainText(f"Exporting to {path} … {time.monotonic() - started:.0f} s "
                                     "(loading TensorFlow, converting, then checking the artifact against Keras)")

    def _exported(self, process: QProcess) -> None:
        if self.exporting is not None:
            shutil.rmtree(self.exporting[2], ignore_errors=True)
        self.exporting = None
        self.ticker.stop()
        self.progress.hide()
        self.export_button.setEnabled(bool(self.run_id))  # none when another project opened meanwhile
        out = bytes(process.readAllStandardOutput().data()).decode(errors="replace").strip()
        err = bytes(process.readAllStandardError().data()).decode(errors="replace").strip()
        try:
            report = json.loads(out)
        except json.JSONDecodeError:
            self.report.setPlainText(f"Export failed: {err.splitlines()[-1] if err else 'no report'}")
            return
        verdict = "verified" if report.get("ok") else "FAILED verification"
        self.report.setPlainText(
            f"{NAMES.get(report.get('format'), report.get('format'))} export {verdict}: {report.get('path')}\n"
            f"max |difference| from Keras = {report.get('max_abs_diff', float('nan')):.2e} "
            f"(tolerance {report.get('tolerance', 0):.0e}) on batches {report.get('batches')}\n"
            + "\n".join(report.get("notes", [])) + (f"\n{report['error']}" if "error" in report else ""))
