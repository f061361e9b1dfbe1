"""ONNX files and SavedModel folders import in the window (menu and drop), off the GUI thread, and their
report opens in a dialog; offscreen (--screenshot) the report is printed instead."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
from PySide6 import QtCore, QtWidgets
from PySide6.QtGui import QDropEvent
from test_gui import settle, window  # noqa: F401  (the window fixture)
from test_onnx_import import bn_cnn

from designer.app.import_report import ImportReportDialog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def report_dialog(qtbot, win) -> ImportReportDialog:
    qtbot.waitUntil(lambda: win.findChild(ImportReportDialog) is not None, timeout=30_000)
    return win.findChild(ImportReportDialog)


def test_a_dropped_onnx_file_imports_in_the_background_and_reports(qtbot, window, tmp_path):  # noqa: F811
    onnx.save(bn_cnn(np.random.default_rng(0)), str(tmp_path / "cnn.onnx"))
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(tmp_path / "cnn.onnx"))])
    event = QDropEvent(QtCore.QPointF(10, 10), QtCore.Qt.DropAction.CopyAction, mime,
                       QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.background.importing  # the conversion runs in the Keras thread, not this one
    settle(qtbot, window)
    assert {"Conv2D", "BatchNormalization", "Dense"} <= {n.type for n in window.state.doc.nodes.values()}
    dialog = report_dialog(qtbot, window)
    assert dialog.isVisible() and dialog.headline.text().startswith("Matches onnxruntime")
    assert "Conv                 → Conv2D ×1" in dialog.body.toPlainText()


def test_file_import_takes_a_savedmodel_folder(qtbot, window, tmp_path, monkeypatch):  # noqa: F811
    from test_saved_model_import import small_cnn

    from designer.export import savedmodel

    savedmodel.write(small_cnn(), tmp_path / "exported")
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(tmp_path / "exported"), "")))
    window.actions_by_name["Import model (Keras, ONNX)"].trigger()
    settle(qtbot, window)
    assert "Conv2D" in {n.type for n in window.state.doc.nodes.values()}
    assert "tf2onnx" in report_dialog(qtbot, window).body.toPlainText()


def test_screenshot_mode_prints_the_report_instead_of_a_dialog(tmp_path):
    onnx.save(bn_cnn(np.random.default_rng(0)), str(tmp_path / "cnn.onnx"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "designer", "gui", str(tmp_path / "cnn.onnx"), "--screenshot",
                           str(tmp_path / "shot.png")], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-500:]
    assert "parity vs onnxruntime" in done.stdout and (tmp_path / "shot.png").is_file()
