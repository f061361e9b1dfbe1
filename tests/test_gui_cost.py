"""The window shows cost: a MACs column in the Analysis table, totals in the status bar, and a View
toggle that colours each canvas node by its share of the network's multiply-accumulates."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from test_gui import node_named, open_cnn, window  # noqa: F401  (window is a fixture)

from designer.app.canvas import COST_COLOR, NODE_H

CONV2_MACS, TOTAL_MACS = 11 * 11 * 64 * (3 * 3 * 32), 2_794_240  # classic_cnn: conv2 is 80 % of the compute


def bar_pixel(win, name: str) -> QColor:
    """The colour where the cost bar starts on the node called ``name``, as the scene paints it."""
    item = win.canvas.canvas_scene.nodes[node_named(win, name).id]
    box = item.sceneBoundingRect()
    image = QImage(int(box.width()), int(box.height()), QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    win.canvas.canvas_scene.render(painter, QRectF(0, 0, box.width(), box.height()), box)
    painter.end()
    return image.pixelColor(4 + 12, 4 + int(NODE_H) - 4)  # the item's box starts 4 px outside the node


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
