"""The designer window driven as a user would: real widgets, real Keras analysis in the worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import pytest
import shiboken6
from keras import layers
from PySide6.QtCore import QPointF, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QDropEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QLineEdit, QMessageBox, QSpinBox, QTabBar

from conftest import SAMPLES
from designer.app.background import Background
from designer.app.canvas import LAYER_MIME
from designer.app.main_window import MainWindow
from designer.graph.project import load_project, project_to_dict


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    QStandardPaths.setTestModeEnabled(True)
    monkeypatch.chdir(tmp_path)
    background = Background(debounce_ms=10)
    answers: list[bool] = []
    win = MainWindow(background, ask=lambda title, text: answers.pop(0) if answers else False)
    win.answers = answers
    qtbot.addWidget(win, before_close_func=lambda w: w.undo.setClean())
    win.show()
    qtbot.waitUntil(lambda: background.catalog is not None, timeout=60_000)
    yield win
    win.undo.setClean()
    background.stop()


def settle(qtbot, win):
    """Wait until the latest edit has been analysed and applied."""
    qtbot.waitUntil(lambda: win.background.idle and win.analysis is not None, timeout=30_000)
    qtbot.wait(20)


def open_cnn(qtbot, win):
    assert win.open_path(SAMPLES / "classic_cnn.kdn")
    settle(qtbot, win)


def node_named(win, name):
    return next(n for n in win.state.doc.nodes.values() if n.name == name)


def snapshot(win):
    return json.dumps(project_to_dict(win.project), sort_keys=True)


def test_opens_sample_and_shows_analysis(qtbot, window):
    open_cnn(qtbot, window)
    assert "93,322 parameters" in window.totals.text()
    item = window.canvas.canvas_scene.nodes[node_named(window, "conv1").id]
    assert item.shape_text == "(None, 26, 26, 32)" and item.params_text == "320 params"
    bars = [b for b in window.findChildren(QTabBar) if b.isVisible() and b.count() == 2]
    assert [bars[0].tabText(i) for i in range(2)] == ["Analysis", "Training"] and bars[0].currentIndex() == 0
    assert window.panel.table.rowCount() == 9
    assert window._training is None  # the Training tab's plots are not paid for until it is chosen
    bars[0].setCurrentIndex(1)
    qtbot.waitUntil(lambda: window._training is not None and window._training.isVisible())
    qtbot.waitUntil(lambda: window.training.data.dataset is not None, timeout=30_000)  # the project's data


def test_a_sample_opens_from_the_start_page_with_a_double_click(qtbot, window):
    samples = window.start.samples
    qtbot.waitUntil(lambda: samples.count() >= 5)
    row = next(i for i in range(samples.count()) if samples.item(i).text().startswith("residual_cnn\n"))
    spot = samples.visualItemRect(samples.item(row)).center()
    qtbot.mouseClick(samples.viewport(), Qt.MouseButton.LeftButton, pos=spot)  # a double click's first press
    qtbot.mouseDClick(samples.viewport(), Qt.MouseButton.LeftButton, pos=spot)
    settle(qtbot, window)
    assert window.path.name == "residual_cnn.kdn" and window.stack.currentIndex() == 1


def test_the_edit_shortcuts_work_from_the_keyboard(qtbot, window):
    open_cnn(qtbot, window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.canvas.setFocus()
    before = snapshot(window)
    window.canvas.select([node_named(window, "hidden").id])
    qtbot.keyClick(window.canvas, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    duplicated = snapshot(window)
    assert "hidden_1" in {n.name for n in window.state.doc.nodes.values()}
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert snapshot(window) == before
    shift_ctrl = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, shift_ctrl)  # redo, on every platform
    assert snapshot(window) == duplicated
    window.canvas.select([node_named(window, "hidden_1").id])
    qtbot.keyClick(window.canvas, Qt.Key.Key_Delete)
    assert snapshot(window) == before


def test_drag_from_palette_to_canvas(qtbot, window):
    open_cnn(qtbot, window)
    tree = window.palette.tree
    item = next(tree.topLevelItem(i).child(j) for i in range(tree.topLevelItemCount())
                for j in range(tree.topLevelItem(i).childCount()) if tree.topLevelItem(i).child(j).text(0) == "Dropout")
    mime = tree.mimeData([item])
    assert bytes(mime.data(LAYER_MIME)) == b"Dropout"
    target = window.canvas.mapFromScene(QPointF(300, 200))
    event = QDropEvent(QPointF(target), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.canvas.dropEvent(event)
    dropout = node_named(window, "dropout")
    assert dropout.params == {"rate": 0.5}
    centre = window.canvas.canvas_scene.nodes[dropout.id].sceneBoundingRect().center()
    assert abs(centre.x() - 300) < 1 and abs(centre.y() - 200) < 1  # centred where it was dropped
    assert dropout.id in window.canvas.canvas_scene.nodes


def press_release(qtbot, win, start: QPointF, end: QPointF):
    view = win.canvas.viewport()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=win.canvas.mapFromScene(start))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=win.canvas.mapFromScene(end))


def test_connect_ports_by_dragging_and_refuse_a_cycle(qtbot, window):
    open_cnn(qtbot, window)
    classes = node_named(window, "classes")
    drop = window.add_layer("Dropout", (classes.position[0] + 260, classes.position[1]))
    qtbot.wait(20)
    scene = window.canvas.canvas_scene
    out_port = scene.nodes[node_named(window, "hidden").id].outputs[0]
    in_port = scene.nodes[drop].inputs[0]
    window.canvas.centerOn(in_port)
    press_release(qtbot, window, out_port.scenePos(), in_port.scenePos())
    assert any(e.src == node_named(window, "hidden").id and e.dst == drop for e in window.state.doc.edges)
    before = snapshot(window)
    cycle_from = scene.nodes[node_named(window, "classes").id].outputs[0]
    cycle_to = scene.nodes[node_named(window, "conv2").id].inputs[0]
    window.canvas.centerOn(cycle_to)
    assert window.request_connect(node_named(window, "classes").id, 0, node_named(window, "conv2").id, 0) is False
    press_release(qtbot, window, cycle_from.scenePos(), cycle_to.scenePos())
    assert snapshot(window) == before
    assert "Not connected" in window.statusBar().currentMessage()


def test_edit_a_parameter_and_see_the_shape_update(qtbot, window):
    open_cnn(qtbot, window)
    hidden = node_named(window, "hidden")
    window.canvas.select([hidden.id])
    spin = window.inspector.editors["units"]
    assert isinstance(spin, QSpinBox) and spin.value() == 64
    spin.setValue(128)
    spin.editingFinished.emit()
    settle(qtbot, window)
    assert window.canvas.canvas_scene.nodes[hidden.id].shape_text == "(None, 128)"
    assert window.analysis.total_params == 93_322 + 64 * 576 + 64 + 64 * 10
    kernel = next(w for name, w in window.inspector.editors.items() if name == "kernel_regularizer")
    assert kernel is not None


def test_the_properties_figures_follow_an_edit_made_in_them(qtbot, window):
    """The editor keeps the focus while the edit is analysed; its output and parameter rows used to keep
    the old figures (the node and the Analysis table were right)."""
    open_cnn(qtbot, window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.canvas.select([node_named(window, "hidden").id])
    assert window.inspector.output.text() == "(None, 64)" and window.inspector.parameters.text() == "36,928"
    spin = window.inspector.editors["units"]
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    spin.setValue(128)
    qtbot.keyClick(spin, Qt.Key.Key_Return)  # editingFinished, the editor still focused
    settle(qtbot, window)
    assert window.inspector.editors["units"] is spin and spin.hasFocus()
    assert window.inspector.output.text() == "(None, 128)" and window.inspector.parameters.text() == "73,856"


def test_invalid_values_are_refused_with_the_reason(qtbot, window):
    open_cnn(qtbot, window)
    conv = node_named(window, "conv1")
    window.canvas.select([conv.id])
    editor = window.inspector.editors["kernel_size"]
    assert isinstance(editor, QLineEdit) and editor.text() == "3, 3"
    before = snapshot(window)
    editor.setText("three")
    editor.editingFinished.emit()
    assert snapshot(window) == before
    assert "Not applied" in editor.toolTip()
    window.inspector.editors["filters"].setValue(-4)
    window.inspector.editors["filters"].editingFinished.emit()
    settle(qtbot, window)
    item = window.canvas.canvas_scene.nodes[conv.id]
    assert item.error and "filters" in item.error  # Keras's own message, pinned to the node
    assert window.panel.problems.item(0).data(Qt.ItemDataRole.UserRole) == conv.id


def type_in(qtbot, win, name, text, finish):
    """Replace the text of the selected node's ``name`` field as a user does, then press Enter or leave it."""
    editor = win.inspector.editors[name]
    editor.setFocus()
    qtbot.waitUntil(editor.hasFocus)
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    if finish == "enter":
        qtbot.keyClick(editor, Qt.Key.Key_Return)
    else:
        win.canvas.setFocus()
        qtbot.waitUntil(lambda: not editor.hasFocus())
    return editor


def test_tuples_are_typed_every_usual_way(qtbot, window, tmp_path):
    window.new_project()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    source = window.add_layer("InputLayer")
    for text, shape, finish in [("28, 28, 1", [28, 28, 1], "enter"), ("(28, 28, 2)", [28, 28, 2], "focus"),
                                ("[28, 28, 3]", [28, 28, 3], "enter"), ("(5,)", [5], "focus"),
                                ("6", [6], "enter"), ("None, 3", [None, 3], "focus")]:
        window.canvas.select([source])
        type_in(qtbot, window, "shape", text, finish)
        assert window.state.doc.node(source).params["shape"] == shape, text
        settle(qtbot, window)
        item = window.canvas.canvas_scene.nodes[source]
        assert item.shape_text == f"({', '.join(map(str, [None, *shape]))})" and not item.error, text
    window.canvas.select([source])
    editor = type_in(qtbot, window, "shape", "28, x", "enter")
    reason = editor.parentWidget().findChild(QLabel)
    assert reason.isVisible() and "whole numbers" in reason.text() and "d32f2f" in reason.styleSheet()
    assert window.state.doc.node(source).params["shape"] == [None, 3]  # Keras never sees "28, x"
    flat = window.add_layer("Conv1D")
    window.request_connect(source, 0, flat, 0)
    for text, size in [("(5,)", 5), ("[4]", 4), ("2", 2)]:
        window.canvas.select([flat])
        type_in(qtbot, window, "kernel_size", text, "enter")
        assert window.state.doc.node(flat).params["kernel_size"] == size
    settle(qtbot, window)
    assert window.canvas.canvas_scene.nodes[flat].shape_text == "(None, None, 32)"
    assert window.save_as(tmp_path / "shapes.kdn")
    saved = json.loads((tmp_path / "shapes.kdn").read_text())["graph"]["nodes"]
    assert [n["params"] for n in saved] == [{"shape": [None, 3]}, {"filters": 32, "kernel_size": 2}]


def test_any_sequence_of_edits_undoes_and_redoes_exactly(qtbot, window):
    open_cnn(qtbot, window)
    states = [snapshot(window)]
    drop = window.add_layer("Dropout", (500, 500))
    states.append(snapshot(window))
    window.request_connect(node_named(window, "flatten").id, 0, drop, 0)
    states.append(snapshot(window))
    window._inspector_edited(node_named(window, "hidden").id, {"params": {"units": 32, "activation": "tanh"}})
    states.append(snapshot(window))
    window.canvas.select([node_named(window, "pool2").id])
    window.delete_selection()
    states.append(snapshot(window))
    window.canvas.moved.emit({drop: ((500.0, 500.0), (10.0, 20.0))})
    states.append(snapshot(window))
    window.canvas.select([node_named(window, "conv1").id])
    window.toggle_frozen()
    states.append(snapshot(window))
    for expected in reversed(states[:-1]):
        window.undo.undo()
        assert snapshot(window) == expected
    for expected in states[1:]:
        window.undo.redo()
        assert snapshot(window) == expected
    settle(qtbot, window)


def test_group_and_ungroup(qtbot, window):
    open_cnn(qtbot, window)
    total = window.analysis.total_params
    before = snapshot(window)
    window.canvas.select([node_named(window, "conv2").id, node_named(window, "pool2").id])
    window.group_selection()
    settle(qtbot, window)
    blocks = [n for n in window.state.doc.nodes.values() if n.is_block]
    assert len(blocks) == 1 and len(window.state.doc) == 8
    assert window.analysis.ok and window.analysis.total_params == total
    window.open_block(blocks[0].id)
    assert {n.name for n in window.state.doc.nodes.values()} == {"pool1_in", "conv2", "pool2"}
    window.close_block()
    window.canvas.select([blocks[0].id])
    window.ungroup_selection()
    settle(qtbot, window)
    assert window.analysis.ok and window.analysis.total_params == total and len(window.state.doc) == 9
    window.undo.undo()
    window.undo.undo()
    assert snapshot(window) == before


def test_copy_paste_and_duplicate(qtbot, window):
    open_cnn(qtbot, window)
    window.canvas.select([node_named(window, "conv2").id, node_named(window, "pool2").id])
    window.copy()
    new = window.paste()
    names = {window.state.doc.node(i).name for i in new}
    assert names == {"conv2_1", "pool2_1"}
    assert any(e.src in new and e.dst in new for e in window.state.doc.edges)  # the link inside came along
    window.canvas.select([node_named(window, "hidden").id])
    window.duplicate()
    assert node_named(window, "hidden_1").params == node_named(window, "hidden").params
    window.canvas.select([node_named(window, "hidden_1").id])
    window.cut()
    assert "hidden_1" not in {n.name for n in window.state.doc.nodes.values()}


def test_save_and_reopen(qtbot, window, tmp_path):
    open_cnn(qtbot, window)
    window._inspector_edited(node_named(window, "hidden").id, {"note": "try 128 next"})
    assert window.save_as(tmp_path / "mine.kdn")
    assert window.undo.isClean()
    saved = snapshot(window)
    assert load_project(tmp_path / "mine.kdn").document.nodes[node_named(window, "hidden").id].note == "try 128 next"
    window.new_project()
    assert window.open_path(tmp_path / "mine.kdn")
    assert snapshot(window) == saved


def test_open_an_imported_keras_model(qtbot, window, tmp_path):
    inp = keras.Input((8,), name="x")
    hidden = layers.Dense(4, name="h")(inp)
    model = keras.Model(inp, layers.Add(name="res")([layers.Dense(4, name="skip")(inp), hidden]), name="imported")
    model.save(tmp_path / "m.keras")
    assert window.open_path(tmp_path / "m.keras")
    assert window.background.importing and "Importing" in window.statusBar().currentMessage()  # not on this thread
    settle(qtbot, window)
    assert {n.name for n in window.state.doc.nodes.values()} == {"x", "h", "skip", "res"}
    assert window.analysis.total_params == model.count_params()
    assert not window.undo.isClean()  # imported work is unsaved until saved


def test_an_application_imports_while_the_window_stays_live(qtbot, window):
    ticks: list[bool] = []
    timer = QTimer(interval=20)
    timer.timeout.connect(lambda: ticks.append(bool(window.background.importing)))
    timer.start()
    window.start.chosen.emit("application", "MobileNet")  # the start page's "Open architecture"
    settle(qtbot, window)
    timer.stop()
    assert len(window.state.doc) > 80 and window.analysis.total_params == 4_253_864
    assert any(ticks)  # the GUI thread kept serving events while Keras built the model

    minimap = window.canvas.minimap
    assert minimap.isVisible()
    before = minimap.grab().toImage()
    window.canvas.verticalScrollBar().setValue(window.canvas.verticalScrollBar().maximum())
    scrolled = minimap.grab().toImage()
    assert scrolled != before  # the outline of the visible part followed
    last = max(window.state.doc.nodes.values(), key=lambda n: n.position[1])
    window.canvas.moved.emit({last.id: (last.position, (last.position[0] + 3000, last.position[1]))})
    settle(qtbot, window)
    shown = minimap.grab().toImage()
    minimap.invalidate()  # a miniature drawn afresh: the one shown after the edit must not be stale
    assert shown == minimap.grab().toImage() and shown != scrolled


WORKER_ROUND_TRIP = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from designer.app.background import Background
from designer.app.run import application, wait_until
from designer.graph.serialize import document_from_dict
from pathlib import Path
app = application()
background, got = Background(debounce_ms=10), {}
background.imported.connect(lambda source, result: got.setdefault("doc", result))
background.analysed.connect(lambda analysis: got.setdefault("params", analysis.total_params))
background.import_source(sys.argv[1], Path(sys.argv[1]).parent)
assert wait_until(lambda: "doc" in got, 120), "not imported"
background.request(document_from_dict(got["doc"]["graph"]))
assert wait_until(lambda: "params" in got, 120), "not analysed"
print(got["params"])
os._exit(0)
"""


def test_a_model_imported_in_one_worker_call_is_analysed_in_the_next(tmp_path):
    """In a fresh process, where Keras first loads in the worker as in the app: a model built by one
    queued call and analysed by the next used to block the worker, and the window with it, for good
    (a Normalization layer met a Python thread state that had ended with the first call; EfficientNet
    from the start page did this)."""
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0] * 3),
                              layers.Flatten(), layers.Dense(2)])
    model.save(tmp_path / "tiny.keras")
    result = subprocess.run([sys.executable, "-c", WORKER_ROUND_TRIP, str(tmp_path / "tiny.keras")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == str(model.count_params())


def test_autosave_is_offered_back_after_a_crash(qtbot, window, tmp_path):
    path = tmp_path / "work.kdn"
    open_cnn(qtbot, window)
    window.save_as(path)
    window._inspector_edited(node_named(window, "hidden").id, {"note": "unsaved idea"})
    target = window.autosave()
    assert target is not None and target.exists()
    import os
    import time

    os.utime(target, (time.time() + 5, time.time() + 5))
    window.undo.setClean()  # as if the process had died: the file on disk lacks the note
    window.answers.append(True)
    assert window.open_path(path)
    assert node_named(window, "hidden").note == "unsaved idea"
    assert not window.undo.isClean()


def test_closing_and_discarding_the_changes_ends_cleanly(qtbot, tmp_path, monkeypatch):
    """Unsaved edits thrown away at close: the window's teardown raises nothing (its undo stack used
    to report the change from its destructor, after the title it updates was gone)."""
    QStandardPaths.setTestModeEnabled(True)
    monkeypatch.chdir(tmp_path)
    background = Background(debounce_ms=10)
    win = MainWindow(background)
    win.show()
    qtbot.waitUntil(lambda: background.catalog is not None, timeout=60_000)
    open_cnn(qtbot, win)
    win.add_layer("Dropout")
    monkeypatch.setattr(QMessageBox, "question", lambda *args: QMessageBox.StandardButton.Discard)
    assert win.close()
    shiboken6.delete(win)  # what the application's end does to it
    background.stop()



SCREENSHOTS = """
import sys
from designer.cli import main
print("first exit", main(["gui", sys.argv[1], "--screenshot", sys.argv[1] + ".png"]), file=sys.stderr)
sys.exit(main(["gui", sys.argv[2], "--screenshot", sys.argv[2] + ".png"]))
"""


def test_screenshots_end_with_the_reason_or_a_picture_and_close_cleanly(tmp_path):
    """``gui --screenshot`` in a fresh process, as from a shell: a Lambda model used to wait for ever on a
    message box nobody could see offscreen; a model that imports is unsaved work, and the window left open
    after its picture used to be torn down at exit with a traceback (its undo stack reporting the change
    to a title that was already gone)."""
    for name, layer in (("lam", layers.Lambda(lambda x: x * 2)), ("ok", layers.Dense(2))):
        inp = keras.Input((4,))
        keras.Model(inp, layer(inp)).save(tmp_path / f"{name}.keras")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", SCREENSHOTS, str(tmp_path / "lam.keras"),
                             str(tmp_path / "ok.keras")], capture_output=True, text=True, timeout=150, env=env,
                            cwd=tmp_path)
    assert "first exit 2" in result.stderr, result.stderr[-2000:]
    reason = [line for line in result.stderr.splitlines() if line.startswith("netdesigner:")]
    assert len(reason) == 1 and reason[0].startswith("netdesigner: Cannot import:") and "Lambda" in reason[0]
    assert not (tmp_path / "lam.keras.png").exists()
    assert result.returncode == 0 and (tmp_path / "ok.keras.png").stat().st_size > 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


def test_names_counts_and_the_file_menu(qtbot, window, tmp_path, monkeypatch):
    """Issue #15's small things: counts in the singular, the breadcrumb named by Save As, dialogs starting in
    the project's folder, Quit / Open Recent / Export in the File menu, palette counts that follow the
    search, InputLayer's own description, and one word for the validation split."""
    from PySide6.QtWidgets import QFileDialog, QLabel

    from designer.app.training_options import TrainingOptionsDialog

    window.start.chosen.emit("new", "")
    window.add_layer("InputLayer")
    settle(qtbot, window)
    assert window.totals.text().startswith("1 layer · ") and "1 layers" not in window.totals.text()
    window.canvas.select(list(window.state.doc.nodes))
    title = window.inspector.widget().findChild(QLabel).text()
    assert "Keras tensor" in title and "all layers inherit" not in title  # keras.Input's docstring

    folder = tmp_path / "projects"
    folder.mkdir()
    assert window.save_as(folder / "mine.kdn")
    assert ">mine<" in window.breadcrumb.text() and "untitled" not in window.breadcrumb.text()
    starts = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda _parent, _title, start, *_: starts.append(start)
                        or ("", ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda _parent, _title, start, *_: starts.append(start)
                        or ("", ""))
    window.open_dialog()
    window.import_dialog()
    window.save_as()
    assert starts[:2] == [str(folder)] * 2 and starts[2] == str(folder / "mine.kdn")

    file_menu = window.menuBar().actions()[0].menu()
    file_menu.aboutToShow.emit()
    assert window.recent_menu.actions()[0].text() == str((folder / "mine.kdn").resolve())  # the newest first
    assert not window.actions_by_name["Export trained model"].isEnabled()  # no run to export yet
    quit_action = window.actions_by_name["Quit"]
    assert quit_action in file_menu.actions() and quit_action.shortcut().matches(QKeySequence.StandardKey.Quit)

    window.palette.search.setText("conv2d")
    tree = window.palette.tree
    for i in range(tree.topLevelItemCount()):
        category = tree.topLevelItem(i)
        shown = sum(not category.child(j).isHidden() for j in range(category.childCount()))
        assert category.text(0).endswith(f"({shown})")
    convolution = next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
                       if tree.topLevelItem(i).text(0).startswith("Convolution"))
    assert 0 < int(convolution.text(0).split("(")[1].rstrip(")")) < convolution.childCount()

    labels = {label.text() for label in window.training.data.findChildren(QLabel)}
    dialog = TrainingOptionsDialog(window.project.training)
    qtbot.addWidget(dialog)
    labels_there = {label.text() for label in dialog.findChildren(QLabel)}
    assert {"validation split", "test split"} <= labels & labels_there and "validation share" not in labels

    window.new_project()
    window.recent_menu.actions()[0].trigger()
    assert window.path == (folder / "mine.kdn").resolve()
    quit_action.trigger()
    assert not window.isVisible()
