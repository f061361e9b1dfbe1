"""The Compress page: the run shown on the Results page compressed by ``netdesigner compress`` in its own
process (TensorFlow's converters, a fine-tune for pruning: nothing of it on the GUI thread), which records
each variant in the run store beside its parent; the page reads them back from there, so every variant
made of the run, in this window or on the command line, is listed and plotted."""

from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import QProcess, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from designer.app.compression.variants import SizeAccuracyPlot, VariantTable
from designer.app.subprocesses import designer_process
from designer.compress.methods import DEFAULT_SPARSITY, KIND, METHODS, PROJECT, PRUNING, suffix
from designer.export.formats import with_suffix

HINT = "Compress the run on the Results page: each variant is measured against its float twin on the test split."


class CompressPage(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(HINT)
        self.title.setWordWrap(True)
        self.method = QComboBox()
        self.method.addItems(list(METHODS))
        self.method.setToolTip("dynamic, float16, int8: TFLite · keras-int8, prune: .keras · onnx-int8: ONNX · "
                               "prune-structured: a smaller project (.kdn)")
        self.sparsity = QDoubleSpinBox(minimum=0.05, maximum=0.95, singleStep=0.05, value=DEFAULT_SPARSITY,
                                       prefix="sparsity ")
        self.sparsity.setToolTip("prune: the share of weights set to zero; prune-structured: the share of each "
                                 "layer's filters or units removed")
        self.method.currentTextChanged.connect(lambda m: self.sparsity.setEnabled(m in PRUNING))
        self.sparsity.setEnabled(False)
        self.compress_button = QPushButton("Compress…")
        self.compress_button.clicked.connect(self.compress_dialog)
        row = QHBoxLayout()
        row.addWidget(self.title, 1)
        for widget in (self.method, self.sparsity, self.compress_button):
            row.addWidget(widget)
        self.table = VariantTable()
        self.plot = SizeAccuracyPlot()
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(self.plot)
        split.setSizes([560, 440])
        self.progress = QProgressBar(maximum=0, textVisible=False)  # busy: the process reports no steps
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        self.report = QPlainTextEdit(readOnly=True)
        self.report.setMaximumHeight(110)
        self.report.hide()
        self.ticker = QTimer(self, interval=1000)
        self.ticker.timeout.connect(self._tick)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(split, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.report)
        self.process: QProcess | None = None
        self.compressing: tuple[str, str, float] | None = None  # method, target, start
        self.folder = Path.cwd()  # where the dialog starts: the project's folder once one is shown
        self.variants: list[dict] = []
        self.show_run("", "")

    def show_run(self, run_id: str, tracking_uri: str) -> None:
        """The run on the Results page (none: ``""``): its variants, and Compress… for a finished one."""
        self.run_id, self.tracking_uri = run_id, tracking_uri
        self.compress_button.setEnabled(bool(run_id) and self.process is None)
        self.title.setText(f"Variants of run <b>{run_id[:8]}</b>. {HINT}" if run_id else
                           "Compress a finished run: open it on the Results page.")
        if self.compressing is None:
            self.report.hide()
        self.reload()

    def reload(self) -> None:
        """The run's variants, read again from the store."""
        self.variants = []
        if self.run_id:
            from designer.compress.record import list_variants

            try:
                self.variants = list_variants(self.tracking_uri, self.run_id)
            except Exception as exc:  # a store gone since the run was shown: say so on the page
                self.report.setPlainText(f"The variants could not be read: {exc}")
                self.report.show()
        self.table.show_variants(self.variants)
        self.plot.show_variants(self.variants)

    def compress_dialog(self) -> None:
        method = self.method.currentText()
        ending = suffix(method)
        path = QFileDialog.getSaveFileName(self, f"Compress with {method} into a {ending} file",
                                           str(self.folder / f"{method}{ending}"), filter=f"*{ending}")[0]
        if path:
            self.compress(method, str(Path(path).with_suffix(ending)) if KIND[method] == PROJECT
                          else with_suffix(KIND[method], path))

    def compress(self, method: str, path: str) -> QProcess:
        """``netdesigner compress RUN`` on the shown run, in its own process; the variant it records is
        listed when it ends."""
        arguments = ["compress", self.run_id, "--tracking-uri", self.tracking_uri,
                     "--method", method, "-o", path, "--json"]
        if method in PRUNING:
            arguments += ["--sparsity", f"{self.sparsity.value():g}"]
        self.compress_button.setEnabled(False)
        self.compressing = (method, path, time.monotonic())
        self.report.show()
        self._tick()
        self.progress.show()
        self.ticker.start()
        process = designer_process(self, arguments, self._compressed)
        process.start()
        self.process = process
        return process

    def _tick(self) -> None:
        if self.compressing is not None:
            method, path, started = self.compressing
            self.report.setPlainText(f"Compressing with {method} into {path} … {time.monotonic() - started:.0f} s "
                                     "(loading TensorFlow, converting, then measuring both artifacts on the test "
                                     "split)")

    def _compressed(self, process: QProcess) -> None:
        self.compressing = self.process = None
        self.ticker.stop()
        self.progress.hide()
        self.compress_button.setEnabled(bool(self.run_id))
        out = bytes(process.readAllStandardOutput().data()).decode(errors="replace").strip()
        err = bytes(process.readAllStandardError().data()).decode(errors="replace").strip()
        try:
            report = json.loads(out.splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            self.report.setPlainText(f"Compression failed: {err.splitlines()[-1] if err else 'no report'}")
            return
        self.report.setPlainText(summary(report))
        self.reload()


def summary(report: dict) -> str:
    """The report's verdict and figures in three lines."""
    score = "accuracy" if "accuracy" in report["metrics"] else "mae"
    verdict = (f"written to {report['path']}" if report["ok"] else
               "OUTSIDE the tolerance: nothing was written")
    return (f"{report['method']}: {verdict}\n"
            f"{report['size_bytes']:,} B, {report['size_ratio']:.2f}× the float {Path(report['path']).suffix}; "
            f"{score} {report['metrics'][score]:.4f} (float {report['baseline_metrics'][score]:.4f}); "
            f"{report['loss_points']:.2f} points lost (tolerance {report['tolerance']:g})\n"
            + "\n".join(report.get("notes", [])))
