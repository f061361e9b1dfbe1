"""The canvas and the Properties form under real drag-and-drop, mouse and keyboard events."""

from __future__ import annotations

import test_gui
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QFontMetricsF,
    QImage,
    QMouseEvent,
    QPainter,
)
from PySide6.QtWidgets import QApplication
from test_gui import node_named, open_cnn, settle

from conftest import SAMPLES
from designer.app.canvas import CanvasScene, NodeItem
from designer.graph.document import NetworkDocument

window = test_gui.window  # the designer window, shown on its start page


def palette_mime(win, layer_type):
    tree = win.palette.tree
    entries = [tree.topLevelItem(i).child(j) for i in range(tree.topLevelItemCount())
               for j in range(tree.topLevelItem(i).childCount())]
    return tree.mimeData([next(e for e in entries if e.text(0) == layer_type)])


def drop_on_canvas(win, layer_type, spot: QPoint) -> str:
    """Drag a palette entry over the canvas and drop it at ``spot`` (viewport pixels), as Qt delivers a drag."""
    mime, viewport = palette_mime(win, layer_type), win.canvas.viewport()
    copy, left, none = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    for event in (QDragEnterEvent(spot, copy, mime, left, none), QDragMoveEvent(spot, copy, mime, left, none),
                  QDropEvent(QPointF(spot), copy, mime, left, none)):
        QApplication.sendEvent(viewport, event)
        assert event.isAccepted()
    (node_id,) = win.canvas.selected_ids()
    return node_id


def mouse(win, kind: QEvent.Type, spot: QPoint, pressed: bool) -> None:
    viewport = win.canvas.viewport()
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    buttons = Qt.MouseButton.LeftButton if pressed else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, QPointF(spot), QPointF(viewport.mapToGlobal(spot)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, event)


def centre_on_screen(win, node_id) -> QPoint:
    item = win.canvas.canvas_scene.nodes[node_id]
    return win.canvas.mapFromScene(item.sceneBoundingRect().center())


def view_state(win):
    """What the user sees of the scene: the scene point at the viewport's corner, and the zoom."""
    corner = win.canvas.mapToScene(0, 0)
    return round(corner.x(), 3), round(corner.y(), 3), win.canvas.transform().m11()


def near(a: QPoint, b: QPoint, pixels: int = 2) -> bool:
    return abs(a.x() - b.x()) <= pixels and abs(a.y() - b.y()) <= pixels


def test_dropped_layers_land_centred_where_dropped_and_the_view_stays_put(qtbot, window):
    window.new_project()
    qtbot.wait(50)
    seen = view_state(window)
    for spot in (QPoint(200, 150), QPoint(520, 380), QPoint(40, 30)):  # the first onto the empty canvas
        node_id = drop_on_canvas(window, "Dense", spot)
        settle(qtbot, window)
        assert near(centre_on_screen(window, node_id), spot)
        assert view_state(window) == seen
    grab = centre_on_screen(window, node_id)
    mouse(window, QEvent.Type.MouseButtonPress, grab, True)
    for step in range(1, 6):  # drag it down and right, well past where the scene ended
        mouse(window, QEvent.Type.MouseMove, grab + QPoint(60 * step, 40 * step), True)
    mouse(window, QEvent.Type.MouseButtonRelease, grab + QPoint(300, 200), False)
    settle(qtbot, window)
    assert near(centre_on_screen(window, node_id), grab + QPoint(300, 200))
    assert window.undo.undoText() == "Move 1 layer" and view_state(window) == seen


def test_an_opened_project_is_fitted_to_the_view(qtbot, window):
    open_cnn(qtbot, window)  # from the start page: the docks are laid out after the project is opened
    qtbot.wait(50)
    canvas = window.canvas
    graph = canvas.mapFromScene(canvas.canvas_scene.itemsBoundingRect()).boundingRect()
    assert canvas.viewport().rect().contains(graph)
    assert near(graph.center(), canvas.viewport().rect().center())


def test_paste_offsets_each_copy_and_selects_it(qtbot, window):
    open_cnn(qtbot, window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    canvas, hidden = window.canvas, node_named(window, "hidden")
    canvas.setFocus()
    canvas.select([hidden.id])
    qtbot.keyClick(canvas, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    spots = {hidden.position}
    for copy in range(1, 4):
        qtbot.keyClick(canvas, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
        settle(qtbot, window)
        (pasted,) = canvas.selected_ids()
        node = window.state.doc.node(pasted)
        assert node.name == f"hidden_{copy}" and window.inspector.node is node
        assert node.position == (hidden.position[0] + 40 * copy, hidden.position[1] + 40 * copy)
        spots.add(node.position)
    assert len(spots) == 4  # no copy hides another


def test_node_text_is_readable_at_100_percent_whatever_the_screen_dpi(qtbot):
    """Render a node 1:1, as the canvas shows it at 100 %, on a 96- and a 72-dpi device: its smallest text must
    be as tall as 9 pt is on a 96-dpi screen (12 px)."""
    doc = NetworkDocument("n")
    scene = CanvasScene()
    item = NodeItem(doc.add_node("Dense", "hidden", {"units": 64}))
    item.title, item.subtitle, item.shape_text = "hidden", "Dense", "(None, 64)"
    scene.addItem(item)
    reference = QFont(QApplication.font())
    reference.setPixelSize(12)
    expected = QFontMetricsF(reference).tightBoundingRect("(None, 64)").height()
    for dpi in (96, 72):
        image = QImage(220, 80, QImage.Format.Format_RGB32)
        image.setDotsPerMeterX(round(dpi / 0.0254))
        image.setDotsPerMeterY(round(dpi / 0.0254))
        image.fill(QColor("white"))
        painter = QPainter(image)
        scene.render(painter, QRectF(0, 0, 220, 80), QRectF(-10, -10, 220, 80))
        painter.end()
        rows = [y for y in range(10 + 42, 10 + 66) if any(_green_ink(image.pixelColor(x, y)) for x in range(26, 200))]
        assert rows and rows[-1] - rows[0] + 1 >= expected - 1, (dpi, rows, expected)


def _green_ink(color: QColor) -> bool:
    """A pixel of the shape line (dark green) rather than the white body or the grey border."""
    return color.green() - color.red() > 40 and color.lightness() < 200


def test_the_properties_form_keeps_its_place_when_a_node_is_first_connected(qtbot, window):
    assert window.open_path(SAMPLES / "classic_cnn.kdn")
    settle(qtbot, window)
    source = node_named(window, "pool1").id
    conv = window.add_layer("SeparableConv2D", (400.0, 400.0))  # a long form: it scrolls
    settle(qtbot, window)
    window.canvas.select([conv])
    inspector = window.inspector
    bar = inspector.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 50)
    for scrolled in (0, bar.maximum()):
        bar.setValue(scrolled)
        field = inspector.editors["padding"]
        before = field.mapTo(inspector, QPoint(0, 0))
        window.request_connect(source, 0, conv, 0)
        settle(qtbot, window)
        assert window.canvas.selected_ids() == [conv] and inspector.editors["padding"] is not field  # rebuilt
        assert window.canvas.canvas_scene.nodes[conv].shape_text == "(None, 11, 11, 32)"
        assert inspector.editors["padding"].mapTo(inspector, QPoint(0, 0)) == before, scrolled
        window.undo.undo()
        settle(qtbot, window)
