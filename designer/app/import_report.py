"""The report of an ONNX or SavedModel import, in a dialog: what became what, and whether it matches.

The verdict (parity against onnxruntime) heads the dialog in colour, so a mismatch cannot be missed;
the full text below is the CLI's, so both say the same.
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtGui, QtWidgets


def verdict(report: Any) -> tuple[str, bool]:
    """One line on whether the imported network computes what the source does, and whether that is good."""
    parity = report.parity
    if report.placeholders:
        return (f"{len(report.placeholders)} node(s) have no Keras equivalent: marked placeholders (red on the "
                "canvas) stand in their place; replace them before training"), False
    if parity is None:
        return "Not compared with onnxruntime: " + ("; ".join(report.notes) or "no check ran"), False
    if parity.ok:
        fixed = "; fixed batch: one Keras sample is one whole ONNX tensor (see the note)" if report.fixed_batch else ""
        return f"Matches {parity.against} (max relative difference {parity.max_rel:.2g}){fixed}", True
    return (f"Does NOT match {parity.against}: max relative difference {parity.max_rel:.2g} — check the "
            "layers the report lists before trusting this import"), False


class ImportReportDialog(QtWidgets.QDialog):
    def __init__(self, report: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import report — {report.source}")
        self.resize(760, 520)
        text, good = verdict(report)
        self.headline = QtWidgets.QLabel(text)
        self.headline.setWordWrap(True)
        self.headline.setStyleSheet(f"font-weight: 600; padding: 6px; color: white; border-radius: 4px; "
                                    f"background: {'#2e7d32' if good else '#c62828'};")
        summary = QtWidgets.QLabel(f"{sum(report.operators.values())} ONNX operators became "
                                   f"{len(report.became)} Keras nodes; parameters "
                                   f"{report.parameters_onnx:,} → {report.parameters_keras:,}.")
        self.body = QtWidgets.QPlainTextEdit(report.text())
        self.body.setReadOnly(True)
        self.body.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        for widget in (self.headline, summary, self.body, buttons):
            layout.addWidget(widget)
