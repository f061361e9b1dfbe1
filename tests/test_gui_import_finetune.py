"""An imported model keeps its weights in the window as on the command line, and an imported ONNX CNN
is fine-tuned there: freeze the features, replace the head, train on a built-in dataset, export back
to ONNX with parity. Everything goes through the window's own code (menus, drops, the Training tab)."""

from __future__ import annotations

import keras
import numpy as np
import onnx
import onnxruntime
import pytest
from PySide6 import QtCore
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog
from test_gui_onnx_import import report_dialog
from test_gui_training import window  # noqa: F401  (the window fixture, which also stops its training worker)
from test_onnx_import import bn_cnn

from designer.data.builtin import digits
from designer.graph.project import load_project
from designer.keras_bridge.saving import model_with_weights
from designer.training.records import download_trained_model


def settle(qtbot, win) -> None:
    qtbot.waitUntil(lambda: win.background.idle and win.analysis is not None, timeout=60_000)


def drop(win, path) -> None:
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path))])
    win.dropEvent(QDropEvent(QtCore.QPointF(10, 10), QtCore.Qt.DropAction.CopyAction, mime,
                             QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier))


def outputs(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


def test_a_dropped_keras_file_keeps_its_weights_through_save_as(qtbot, window, tmp_path):  # noqa: F811
    """The window used to build the imported network afresh: trained weights were dropped, so training
    and export started from random ones while the command line kept them."""
    source = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu", name="hidden"),
                               keras.layers.Dense(3, name="out")])
    source.save(tmp_path / "trained.keras")
    drop(window, tmp_path / "trained.keras")
    settle(qtbot, window)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    assert window.project.weights and window.path is None  # unsaved, but not weightless
    model, fresh = model_with_weights(window.project, window.project_folder())
    assert fresh == [] and np.allclose(outputs(model, x), outputs(source, x), atol=1e-6)
    (tmp_path / "elsewhere").mkdir()
    assert window.save_as(tmp_path / "elsewhere" / "mine.kdn")
    saved = load_project(tmp_path / "elsewhere" / "mine.kdn")
    assert (tmp_path / "elsewhere" / saved.weights).is_file()  # the weights went where the project went
    model, fresh = model_with_weights(saved, tmp_path / "elsewhere")
    assert fresh == [] and np.allclose(outputs(model, x), outputs(source, x), atol=1e-6)


@pytest.mark.slow
def test_an_imported_onnx_cnn_is_fine_tuned_in_the_window_and_exported_back(qtbot, window, tmp_path,  # noqa: F811
                                                                             monkeypatch):
    proto = bn_cnn(np.random.default_rng(3), channels=1, classes=5)  # "pretrained" on five classes
    onnx.save(proto, str(tmp_path / "pretrained.onnx"))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "pretrained.onnx"), ""))
    window.actions_by_name["Import model (Keras, ONNX)"].trigger()
    settle(qtbot, window)
    report_dialog(qtbot, window).close()
    x = digits().x[:2]  # the file was exported with a batch of 2
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"x": x.transpose(0, 3, 1, 2)})[0]
    imported, _ = model_with_weights(window.project, window.project_folder())
    assert np.max(np.abs(outputs(imported, x) - expected)) < 1e-4  # the window's project has the ONNX weights

    doc = window.state.doc
    head = next(n for n in doc.nodes.values() if n.type == "Dense")
    features = [n.id for n in doc.nodes.values() if not n.is_input and n.id != head.id]
    window.canvas.select(features)
    window.actions_by_name["Freeze / unfreeze"].trigger()
    window._inspector_edited(head.id, {"params": {**head.params, "units": 10, "activation": "softmax"}})
    window.change_setup({"source": "builtin:digits"}, {"epochs": 3, "batch_size": 64, "learning_rate": 0.01})
    settle(qtbot, window)
    assert window.analysis.trainable_params == 64 * 10 + 10  # only the new head trains

    dock = window.training
    qtbot.waitUntil(lambda: dock.data.dataset is not None, timeout=60_000)
    dock.train_button.click()
    with qtbot.waitSignal(dock.controller.ended, timeout=180_000) as ended:
        pass
    assert ended.args[0]["event"] == "finished", ended.args[0]
    run = download_trained_model(dock.results.tracking_uri, dock.results.run_id, tmp_path / "run")
    trained = keras.saving.load_model(next(run.glob("*.keras")), compile=False, safe_mode=True)
    for layer in imported.layers:  # the frozen features are the imported ones, untouched by training
        if layer.weights and layer.name != head.name:
            for before, after in zip(layer.get_weights(), trained.get_layer(layer.name).get_weights(), strict=True):
                np.testing.assert_array_equal(before, after)
    accuracy = np.mean(np.argmax(outputs(trained, digits().x), axis=1) == digits().y)
    assert accuracy > 0.5  # the new head learned on the frozen features (chance is 0.1)

    results = dock.results
    results.format.setCurrentText("onnx")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "tuned.onnx"), ""))
    results.export_dialog()
    qtbot.waitUntil(lambda: results.process.state() == results.process.ProcessState.NotRunning, timeout=180_000)
    qtbot.waitUntil(lambda: "verified" in results.report.toPlainText(), timeout=5_000)
    assert "ONNX export verified" in results.report.toPlainText()
    exported = onnxruntime.InferenceSession(str(tmp_path / "tuned.onnx"), providers=["CPUExecutionProvider"])
    got = exported.run(None, {exported.get_inputs()[0].name: x})[0]
    assert np.max(np.abs(got - outputs(trained, x))) < 1e-4
