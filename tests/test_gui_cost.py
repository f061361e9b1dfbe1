"""The window shows cost: a MACs column in the Analysis table, totals in the status bar, and a View
toggle that colours each canvas node by its share of the network's multiply-accumulates."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from test_gui import node_named, open_cnn, window  # noqa: F401  (window is a fixture)

from designer.app.canvas import COST_COLOR, NODE_H, NODE_W

CONV2_MACS, TOTAL_MACS = 11 * 11 * 64 * (3 * 3 * 32), 2_794_240  # classic_cnn: conv2 is 80 % of the compute


def bar_pixel(win, name: str, along: float = 0.0) -> QColor:
    """The colour ``along`` the cost bar's full length (0: where it starts) on the node called ``name``, as
    the scene paints it."""
    item = win.canvas.canvas_scene.nodes[node_named(win, name).id]
    box = item.sceneBoundingRect()
    image = QImage(int(box.width()), int(box.height()), QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    win.canvas.canvas_scene.render(painter, QRectF(0, 0, box.width(), box.height()), box)
    painter.end()
    x = 8 + (NODE_W - 12) * along  # where the bar of a node at the full share reaches
    return image.pixelColor(4 + int(max(x, 12)), 4 + int(NODE_H) - 4)  # the item's box starts 4 px outside the node


def test_table_and_status_bar_show_cost(qtbot, window):  # noqa: F811
    open_cnn(qtbot, window)
    table = window.panel.table
    assert table.horizontalHeaderItem(4).text() == "MACs"
    table.sortItems(4, Qt.SortOrder.DescendingOrder)
    assert (table.item(0, 0).text(), table.item(0, 4).text()) == ("conv2", f"{CONV2_MACS:,}")
    assert "2.79 MMACs · 364.54 KB" in window.totals.text()


def test_cost_overlay_colours_nodes_by_their_share(qtbot, window):  # noqa: F811
    open_cnn(qtbot, window)
    toggle = window.actions_by_name["Cost overlay"]
    assert toggle.isCheckable() and not toggle.isChecked()
    assert bar_pixel(window, "conv2") != QColor(COST_COLOR)
    toggle.trigger()
    assert window.canvas.canvas_scene.cost_overlay == CONV2_MACS / TOTAL_MACS  # the heaviest node is full
    assert bar_pixel(window, "conv2") == QColor(COST_COLOR)
    assert bar_pixel(window, "pool1") != QColor(COST_COLOR)  # no compute, no bar
    toggle.trigger()
    assert window.canvas.canvas_scene.cost_overlay is None
    assert bar_pixel(window, "conv2") != QColor(COST_COLOR)


def test_the_overlay_shows_parameter_or_activation_memory_instead(qtbot, window):  # noqa: F811
    open_cnn(qtbot, window)  # parameters: conv3 and hidden hold 147,712 B each; activations: conv1 86,528 B
    window.cost_measures["param_bytes"].trigger()
    assert window.actions_by_name["Cost overlay"].isChecked() and window.cost_measures["param_bytes"].isChecked()
    assert window.canvas.canvas_scene.cost_overlay == 147_712 / 373_288
    assert bar_pixel(window, "conv3", 0.97) == bar_pixel(window, "hidden", 0.97) == QColor(COST_COLOR)  # full
    assert bar_pixel(window, "conv2", 0.45) == QColor(COST_COLOR) != bar_pixel(window, "conv2", 0.55)  # half: 73,984 B
    window.cost_measures["activation_bytes"].trigger()
    assert not window.cost_measures["param_bytes"].isChecked()  # one measure at a time
    assert window.canvas.canvas_scene.cost_overlay == 86_528 / 153_576
    assert bar_pixel(window, "conv1", 0.97) == QColor(COST_COLOR) != bar_pixel(window, "conv2", 0.97)
    assert bar_pixel(window, "hidden") != QColor(COST_COLOR)  # 256 B: too little for a pixel of bar
    toggle = window.actions_by_name["Cost overlay"]
    toggle.trigger()  # off, and on again with the measure last chosen
    assert window.canvas.canvas_scene.cost_overlay is None
    toggle.trigger()
    assert bar_pixel(window, "conv1", 0.97) == QColor(COST_COLOR)
