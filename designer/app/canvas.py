"""The canvas: a QGraphicsView that draws the viewed document and turns gestures into requests.

It never edits the document itself: it emits signals (connect, move, drop a layer, open a
block) that the window turns into undoable commands, and ``sync`` redraws from the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QStyleOptionGraphicsItem,
    QWidget,
)

from designer.app.theme import category_color
from designer.graph.document import NetworkDocument, Node

NODE_W, NODE_H, PORT_R = 200.0, 66.0, 6.0
PREVIEW_SIDE = 60.0  # a layer preview's square beside its node
COST_COLOR = "#e64a19"  # the cost overlay's heat colour
LAYER_MIME = "application/x-kdn-layer"


class PortItem(QGraphicsEllipseItem):
    def __init__(self, parent: NodeItem, index: int, is_input: bool, label: str) -> None:
        super().__init__(-PORT_R, -PORT_R, 2 * PORT_R, 2 * PORT_R, parent)
        self.node_id, self.index, self.is_input = parent.node_id, index, is_input
        self.setBrush(QBrush(QColor("#f5f5f5")))
        self.setPen(QPen(QColor("#555"), 1.2))
        self.setToolTip(f"{'input' if is_input else 'output'} {label}")
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def flash(self, color: str) -> None:
        self.setBrush(QBrush(QColor(color)))
        QTimer.singleShot(700, lambda: self.setBrush(QBrush(QColor("#f5f5f5"))))


@dataclass(frozen=True)
class NodeColors:
    """What a node is painted with on a light or a dark canvas (the category colour stays)."""

    body: str
    frozen_body: str
    border: str
    title: str
    text: str
    shape: str
    minimap: str


LIGHT = NodeColors("#fdfdfd", "#e8edf2", "#9e9e9e", "#212121", "#616161", "#1b5e20", "#e6fafafa")  # minimap: #AARRGGBB
DARK = NodeColors("#2b2e34", "#27303c", "#5f6670", "#eceff1", "#b0bec5", "#81c784", "#e626292e")


def node_fonts(base: QFont) -> tuple[QFont, QFont]:
    """The title and text fonts of a node, sized in scene units: at 100 % zoom that is device-independent
    pixels (14 and 12 px: 10.5 and 9 pt on a 96-dpi screen), whatever DPI the screen reports."""
    bold, small = QFont(base), QFont(base)
    bold.setBold(True)
    bold.setPixelSize(14)
    small.setBold(False)
    small.setPixelSize(12)
    return bold, small


class NodeItem(QGraphicsItem):
    """One layer: name, type, output shape and parameter count, coloured by category."""

    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node_id = node.id
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.title = self.subtitle = self.shape_text = self.params_text = ""
        self.color = QColor("#888")
        self.error: str | None = None
        self.frozen = False
        self.is_block = False
        self.cost_shares: dict[str, float] = {}  # of the whole network's cost, per measure (wording.COST_MEASURES)
        self.preview: QImage | None = None  # the node's output on the preview sample, drawn at its right
        self.inputs: list[PortItem] = []
        self.outputs: list[PortItem] = []
        self.setZValue(1)

    def boundingRect(self) -> QRectF:
        return QRectF(-4, -4, NODE_W + 8 + (PREVIEW_SIDE + 6 if self.preview is not None else 0), NODE_H + 8)

    def set_preview(self, image: QImage | None) -> None:
        self.prepareGeometryChange()
        self.preview = image
        self.update()

    def preview_rect(self) -> QRectF:
        return QRectF(NODE_W + 6, (NODE_H - PREVIEW_SIDE) / 2, PREVIEW_SIDE, PREVIEW_SIDE)

    def set_ports(self, inputs: list[str], outputs: int) -> None:
        if len(inputs) != len(self.inputs) or outputs != len(self.outputs):
            for port in self.inputs + self.outputs:
                port.setParentItem(None)
                if port.scene() is not None:
                    port.scene().removeItem(port)
            self.inputs = [PortItem(self, i, True, name) for i, name in enumerate(inputs)]
            self.outputs = [PortItem(self, i, False, f"{i}") for i in range(outputs)]
            for ports, y in ((self.inputs, 0.0), (self.outputs, NODE_H)):
                for i, port in enumerate(ports):
                    port.setPos(NODE_W * (i + 1) / (len(ports) + 1), y)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(0, 0, NODE_W, NODE_H)
        colors = getattr(self.scene(), "colors", LIGHT)
        body = QColor(colors.frozen_body if self.frozen else colors.body)
        border = QColor("#d32f2f" if self.error else "#1e88e5" if self.isSelected() else colors.border)
        pen = QPen(border, 2.4 if self.isSelected() or self.error else 1.2)
        if self.frozen:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(QBrush(body))
        painter.drawRoundedRect(rect, 8, 8)
        overlay = getattr(self.scene(), "cost_overlay", None)
        if overlay is not None:
            self._paint_cost(painter, overlay, self.cost_shares.get(self.scene().cost_measure, 0.0))
        if self.preview is not None:
            painter.drawImage(self.preview_rect(), self.preview)
        header = QPainterPath()
        header.addRoundedRect(QRectF(0, 0, 8, NODE_H), 4, 4)
        painter.fillPath(header, self.color if not self.frozen else self.color.lighter(150))
        if self.is_block:
            painter.setPen(QPen(self.color, 1.2))
            painter.drawRoundedRect(rect.adjusted(3, 3, -3, -3), 6, 6)
        painter.setPen(QColor(colors.title))
        bold, small = node_fonts(painter.font())
        painter.setFont(bold)
        title = QFontMetricsF(bold).elidedText(self.title, Qt.TextElideMode.ElideRight, NODE_W - 24)
        painter.drawText(QRectF(16, 4, NODE_W - 24, 20), Qt.AlignmentFlag.AlignLeft, title)
        painter.setFont(small)
        painter.setPen(QColor(colors.text))
        metrics = QFontMetricsF(small)
        params_width = metrics.horizontalAdvance(self.params_text) + 8 if self.params_text else 0
        subtitle = metrics.elidedText(self.subtitle, Qt.TextElideMode.ElideRight, NODE_W - 26 - params_width)
        painter.drawText(QRectF(16, 25, NODE_W - 26, 18), Qt.AlignmentFlag.AlignLeft, subtitle)
        painter.drawText(QRectF(16, 25, NODE_W - 26, 18), Qt.AlignmentFlag.AlignRight, self.params_text)
        painter.setPen(QColor(colors.shape) if not self.error else QColor("#e53935"))
        painter.drawText(QRectF(16, 44, NODE_W - 24, 18), Qt.AlignmentFlag.AlignLeft, self.shape_text)
        if self.error:
            painter.setBrush(QBrush(QColor("#d32f2f")))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawEllipse(QPointF(NODE_W - 4, 4), 9, 9)
            painter.setPen(QColor("white"))
            painter.setFont(bold)
            painter.drawText(QRectF(NODE_W - 13, -5, 18, 18), Qt.AlignmentFlag.AlignCenter, "!")

    def _paint_cost(self, painter: QPainter, heaviest: float, share: float) -> None:
        """Tint and a bar in proportion to the node's share of the measured cost (the heaviest node full), and
        the share."""
        relative = share / heaviest if heaviest else 0.0
        heat = QColor(COST_COLOR)
        heat.setAlphaF(0.45 * relative)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(heat)
        painter.drawRoundedRect(QRectF(1, 1, NODE_W - 2, NODE_H - 2), 7, 7)
        painter.fillRect(QRectF(8, NODE_H - 6, (NODE_W - 12) * relative, 4), QColor(COST_COLOR))
        if share:
            painter.setPen(QColor(COST_COLOR).darker(130))
            painter.setFont(node_fonts(painter.font())[0])
            painter.drawText(QRectF(16, 42, NODE_W - 26, 18), Qt.AlignmentFlag.AlignRight,
                             f"{share:.0%}" if share >= 0.005 else "<1%")

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged and self.scene() is not None:
            self.scene().node_moved(self)  # type: ignore[attr-defined]
        return super().itemChange(change, value)


class EdgeItem(QGraphicsPathItem):
    def __init__(self, key: tuple[str, int, str, int]) -> None:
        super().__init__()
        self.key = key
        self.setPen(QPen(QColor("#78909c"), 1.8))
        self.setZValue(0)

    def update_path(self, start: QPointF, end: QPointF) -> None:
        path = QPainterPath(start)
        dy = max(40.0, abs(end.y() - start.y()) / 2)
        path.cubicTo(start + QPointF(0, dy), end - QPointF(0, dy), end)
        self.setPath(path)


class CanvasScene(QGraphicsScene):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[tuple[str, int, str, int], EdgeItem] = {}
        self.grid = QColor("#e3e7eb")
        self.colors = LIGHT
        self.cost_overlay: float | None = None  # the largest node's share of the cost while the overlay shows
        self.cost_measure = "macs"  # which cost the overlay shows (wording.COST_MEASURES)
        self.set_dark(False)

    def set_dark(self, dark: bool) -> None:
        self.setBackgroundBrush(QColor("#202226" if dark else "#f4f6f8"))
        self.grid = QColor("#2c2f34" if dark else "#e3e7eb")
        self.colors = DARK if dark else LIGHT
        self.update()

    def node_moved(self, item: NodeItem) -> None:
        for key, edge in self.edges.items():
            if item.node_id in (key[0], key[2]):
                self.route(edge)

    def route(self, edge: EdgeItem) -> None:
        src, sport, dst, dport = edge.key
        a, b = self.nodes.get(src), self.nodes.get(dst)
        if a is None or b is None:
            return
        start = a.outputs[min(sport, len(a.outputs) - 1)].scenePos() if a.outputs else a.scenePos()
        end = b.inputs[min(dport, len(b.inputs) - 1)].scenePos() if b.inputs else b.scenePos()
        edge.update_path(start, end)

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawBackground(painter, rect)
        step = 40
        painter.setPen(QPen(self.grid, 1))
        left, top = int(rect.left()) - int(rect.left()) % step, int(rect.top()) - int(rect.top()) % step
        lines = [QPointF(x, rect.top()) for x in range(left, int(rect.right()), step)]
        for p in lines:
            painter.drawLine(p, QPointF(p.x(), rect.bottom()))
        for y in range(top, int(rect.bottom()), step):
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))


class Minimap(QWidget):
    """The whole graph in miniature (one coloured dash per layer) with the visible area
    outlined; click or drag in it to move there."""

    def __init__(self, canvas: Canvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.setFixedSize(150, 230)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        # The dashes are drawn again only when the scene changes: panning moves just the outline
        # (an 800-layer graph's dashes cost ~8 ms, every frame before).
        self._graph: QPixmap | None = None
        self._bounds = QRectF()
        self._scale = 1.0
        canvas.canvas_scene.changed.connect(self.invalidate)

    def invalidate(self, *_: Any) -> None:
        self._graph = None
        self.update()

    def _mapping(self) -> tuple[QRectF, float]:
        if self._graph is None:
            bounds = self.canvas.canvas_scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)
            self._bounds, self._scale = bounds, min((self.width() - 8) / max(bounds.width(), 1),
                                                    (self.height() - 8) / max(bounds.height(), 1))
        return self._bounds, self._scale

    def _to_widget(self, rect: QRectF, bounds: QRectF, scale: float) -> QRectF:
        return QRectF(4 + (rect.x() - bounds.x()) * scale, 4 + (rect.y() - bounds.y()) * scale,
                      max(rect.width() * scale, 2), max(rect.height() * scale, 1.5))

    def _draw_graph(self, bounds: QRectF, scale: float) -> QPixmap:
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(self.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(QColor(self.canvas.canvas_scene.colors.minimap))
        painter = QPainter(pixmap)
        painter.setPen(QPen(QColor("#90a4ae"), 1))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        for item in self.canvas.canvas_scene.nodes.values():
            color = QColor("#d32f2f") if item.error else item.color
            painter.fillRect(self._to_widget(item.sceneBoundingRect(), bounds, scale), color)
        painter.end()
        return pixmap

    def paintEvent(self, event: Any) -> None:
        bounds, scale = self._mapping()
        if self._graph is None:
            self._graph = self._draw_graph(bounds, scale)
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._graph)
        visible = self.canvas.mapToScene(self.canvas.viewport().rect()).boundingRect()
        painter.setPen(QPen(QColor("#1e88e5"), 1.5))
        painter.setBrush(QColor(30, 136, 229, 40))
        painter.drawRect(self._to_widget(visible, bounds, scale))

    def mousePressEvent(self, event: Any) -> None:
        bounds, scale = self._mapping()
        point = event.position()
        self.canvas.hold_view()
        self.canvas.centerOn(QPointF(bounds.x() + (point.x() - 4) / scale, bounds.y() + (point.y() - 4) / scale))

    mouseMoveEvent = mousePressEvent


class Canvas(QGraphicsView):
    """The view: zoom, pan, rubber-band select, drag to connect, drop layers from the palette."""

    connect_requested = Signal(str, int, str, int)
    moved = Signal(dict)  # node id → ((old x, y), (new x, y))
    dropped = Signal(str, QPointF)  # layer type, top-left corner of the new node
    open_block = Signal(str)
    preview_opened = Signal(str)  # a node's preview double-clicked: show all its channels
    selection_changed = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        self.canvas_scene = CanvasScene()
        super().__init__(self.canvas_scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setAcceptDrops(True)
        self.positions: dict[str, tuple[float, float]] = {}
        self._wire: QGraphicsPathItem | None = None
        self._wire_from: PortItem | None = None
        self._panning: QPointF | None = None
        # After fit() the graph stays fitted while the view is resized (an opened project is fitted before
        # the window's docks have given the canvas its size) until the user moves the view.
        self.keep_fitted = False
        self.canvas_scene.selectionChanged.connect(self._scene_selection_changed)
        self.minimap = Minimap(self)
        self.minimap.hide()
        self.caption = QLabel(self)  # a note on what the canvas shows (which weights the layer previews use)
        self.caption.move(8, 8)
        self.caption.hide()
        for bar in (self.horizontalScrollBar(), self.verticalScrollBar()):
            bar.valueChanged.connect(lambda _: self.minimap.update())
            bar.actionTriggered.connect(self.hold_view)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.minimap.move(self.viewport().width() - self.minimap.width() - 8,
                          self.viewport().height() - self.minimap.height() - 8)
        if self.keep_fitted:
            self._fit()

    def set_caption(self, text: str) -> None:
        """A note in the top-left corner, over the graph but out of the way; hidden when empty."""
        colors = self.canvas_scene.colors
        self.caption.setStyleSheet(f"QLabel {{ background: {colors.minimap}; color: {colors.text}; "
                                   "border-radius: 4px; padding: 3px 7px; }")  # no border: not a button
        self.caption.setText(text)
        self.caption.adjustSize()
        self.caption.setVisible(bool(text))

    def hold_view(self, *_: Any) -> None:
        """The user moved the view: from now on only the user moves it."""
        self.keep_fitted = False

    def node_origin(self, center: QPointF | None = None) -> tuple[float, float]:
        """Where a node's top-left corner goes for it to be centred on ``center`` (by default the view's centre)."""
        if center is None:
            center = self.mapToScene(self.viewport().rect().center())
        return center.x() - NODE_W / 2, center.y() - NODE_H / 2

    # ---- drawing from the document --------------------------------------------------------
    def sync(self, doc: NetworkDocument, describe: Any) -> None:
        """Make the items match ``doc``; ``describe(node)`` gives title, subtitle, shape, params,
        colour, error, input port names and output count."""
        scene = self.canvas_scene
        for node_id in list(scene.nodes):
            if node_id not in doc:
                scene.removeItem(scene.nodes.pop(node_id))
        for node in doc.nodes.values():
            item = scene.nodes.get(node.id)
            if item is None:
                item = scene.nodes[node.id] = NodeItem(node)
                scene.addItem(item)
            info = describe(node)
            item.title, item.subtitle, item.shape_text, item.params_text = (
                info["title"], info["subtitle"], info["shape"], info["params"])
            item.color, item.error, item.frozen, item.is_block = (
                category_color(info["category"]), info["error"], not node.trainable, node.is_block)
            item.cost_shares = info.get("cost_shares", {})
            item.setToolTip(info["error"] or info["tooltip"])
            item.set_ports(info["inputs"], info["outputs"])
            if item.pos() != QPointF(*node.position):
                item.setPos(*node.position)
            item.update()
        self.positions = {n.id: n.position for n in doc.nodes.values()}
        if scene.cost_overlay is not None:
            self.show_cost(True)
        keys = {(e.src, e.src_port, e.dst, e.dst_port) for e in doc.edges}
        for key in list(scene.edges):
            if key not in keys:
                scene.removeItem(scene.edges.pop(key))
        for key in keys:
            if key not in scene.edges:
                scene.edges[key] = EdgeItem(key)
                scene.addItem(scene.edges[key])
            scene.route(scene.edges[key])
        self._span_scene()
        self.minimap.setVisible(len(doc) > 40)
        self.minimap.update()

    def show_cost(self, on: bool, measure: str | None = None) -> None:
        """Colour each node by its share of the network's compute, parameter memory or activation memory
        (``measure``, one of wording.COST_MEASURES; unchanged when not given): View → Cost overlay."""
        scene = self.canvas_scene
        scene.cost_measure = measure or scene.cost_measure
        shares = (i.cost_shares.get(scene.cost_measure, 0.0) for i in scene.nodes.values())
        scene.cost_overlay = max(shares, default=0.0) if on else None
        for item in scene.nodes.values():
            item.update()

    def _span_scene(self, visible: QRectF | None = None) -> None:
        """Let the scene cover the graph and a view's width and height around what is (or is about to be) on
        screen, and keep the view where it is. Qt re-centres a view whose scene is smaller than the view, or
        whose scroll position falls outside the scene, and such a scene comes and goes with its scroll bars."""
        corner = self.mapToScene(0, 0)
        if visible is None:
            visible = self.mapToScene(self.viewport().rect()).boundingRect()
        room = visible.adjusted(-visible.width(), -visible.height(), visible.width(), visible.height())
        self.canvas_scene.setSceneRect(self._graph_rect().united(room))
        shift = self.mapFromScene(corner)
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + shift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + shift.y())

    def _graph_rect(self) -> QRectF:
        return self.canvas_scene.itemsBoundingRect().adjusted(-400, -300, 400, 300)

    def _scene_selection_changed(self) -> None:
        if shiboken6.isValid(self) and shiboken6.isValid(self.canvas_scene):  # not while being torn down
            self.selection_changed.emit(self.selected_ids())

    def selected_ids(self) -> list[str]:
        if not shiboken6.isValid(self.canvas_scene):  # selection signals fire while the scene is torn down
            return []
        return [i.node_id for i in self.canvas_scene.selectedItems() if isinstance(i, NodeItem)]

    def select(self, node_ids: list[str], center: bool = False) -> None:
        self.canvas_scene.clearSelection()
        for node_id in node_ids:
            item = self.canvas_scene.nodes.get(node_id)
            if item is not None:
                item.setSelected(True)
                if center:
                    self.hold_view()
                    self.centerOn(item)

    def port_item(self, node_id: str, index: int, is_input: bool) -> PortItem | None:
        item = self.canvas_scene.nodes.get(node_id)
        ports = (item.inputs if is_input else item.outputs) if item else []
        return ports[index] if index < len(ports) else None

    # ---- zoom and pan ---------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        self.hold_view()
        factor = 1.0015 ** event.angleDelta().y()
        zoom = self.transform().m11() * factor
        if 0.05 <= zoom <= 4:
            self._span_scene()  # room to zoom out into
            self.scale(factor, factor)
            self.minimap.update()

    def fit(self) -> None:
        """Show the whole graph, and keep it shown as the view is resized until the user moves it."""
        self.keep_fitted = True
        self._fit()

    def _fit(self) -> None:
        """Show the whole graph; a big one is shown from its inputs at the smallest readable zoom."""
        rect = self.canvas_scene.itemsBoundingRect()
        if rect.isEmpty():
            return
        view = self.viewport().rect()
        framed = rect.adjusted(-40, -40, 40, 40)
        zoom, center = min(1.0, view.width() / framed.width(), view.height() / framed.height()), rect.center()
        if zoom < 0.45:
            zoom = 0.55
            center = QPointF(center.x(), rect.top() + view.height() / (2 * zoom) - 40)
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self._span_scene(QRectF(0, 0, view.width() / zoom, view.height() / zoom).translated(
            center - QPointF(view.width() / zoom, view.height() / zoom) / 2))
        self.centerOn(center)

    def reset_zoom(self) -> None:
        self.hold_view()
        center = self.mapToScene(self.viewport().rect().center())
        self.resetTransform()
        self.centerOn(center)

    # ---- gestures -------------------------------------------------------------------------
    def mousePressEvent(self, event: Any) -> None:
        self.hold_view()
        if event.button() == Qt.MouseButton.MiddleButton:
            self._panning = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        item = self.itemAt(event.position().toPoint())
        if isinstance(item, PortItem) and not item.is_input and event.button() == Qt.MouseButton.LeftButton:
            self._wire_from = item
            self._wire = QGraphicsPathItem()
            self._wire.setPen(QPen(QColor("#1e88e5"), 2, Qt.PenStyle.DashLine))
            self.canvas_scene.addItem(self._wire)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: Any) -> None:
        if self._panning is not None:
            delta = event.position() - self._panning
            self._panning = event.position()
            self.horizontalScrollBar().setValue(int(self.horizontalScrollBar().value() - delta.x()))
            self.verticalScrollBar().setValue(int(self.verticalScrollBar().value() - delta.y()))
            return
        if self._wire is not None and self._wire_from is not None:
            start = self._wire_from.scenePos()
            end = self.mapToScene(event.position().toPoint())
            path = QPainterPath(start)
            path.cubicTo(start + QPointF(0, 40), end - QPointF(0, 40), end)
            self._wire.setPath(path)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: Any) -> None:
        if self._panning is not None:
            self._panning = None
            self.unsetCursor()
            return
        if self._wire is not None and self._wire_from is not None:
            self.canvas_scene.removeItem(self._wire)
            source, self._wire, self._wire_from = self._wire_from, None, None
            target = next((i for i in self.items(event.position().toPoint()) if isinstance(i, PortItem)), None)
            if isinstance(target, PortItem) and target.is_input:
                self.connect_requested.emit(source.node_id, source.index, target.node_id, target.index)
            return
        super().mouseReleaseEvent(event)
        moves = {}
        for node_id, item in self.canvas_scene.nodes.items():
            new = (item.pos().x(), item.pos().y())
            old = self.positions.get(node_id)
            if old is not None and (abs(old[0] - new[0]) > 0.5 or abs(old[1] - new[1]) > 0.5):
                moves[node_id] = (old, new)
        if moves:
            self.moved.emit(moves)

    def mouseDoubleClickEvent(self, event: Any) -> None:
        item = self.itemAt(event.position().toPoint())
        if isinstance(item, NodeItem) and item.preview is not None and \
                item.preview_rect().contains(item.mapFromScene(self.mapToScene(event.position().toPoint()))):
            self.preview_opened.emit(item.node_id)
            return
        if isinstance(item, NodeItem) and item.is_block:
            self.open_block.emit(item.node_id)
            return
        super().mouseDoubleClickEvent(event)

    def dragEnterEvent(self, event: Any) -> None:
        if event.mimeData().hasFormat(LAYER_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, event: Any) -> None:
        if event.mimeData().hasFormat(LAYER_MIME):
            self.hold_view()
            layer_type = bytes(event.mimeData().data(LAYER_MIME)).decode()
            corner = self.node_origin(self.mapToScene(event.position().toPoint()))
            self.dropped.emit(layer_type, QPointF(*corner))  # the node's top-left, for it to sit centred
            event.acceptProposedAction()
        else:
            event.ignore()
