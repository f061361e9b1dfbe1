"""The side panels: layer palette, property inspector, analysis table and diagnostics."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from designer.app.canvas import LAYER_MIME
from designer.app.theme import category_icon
from designer.graph.document import Node
from designer.layers.values import parse_param
from designer.wording import macs_text, plural, size_text

# ---- palette ----------------------------------------------------------------------------------


class _LayerTree(QTreeWidget):
    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:
        data = QMimeData()
        layer_type = items[0].data(0, Qt.ItemDataRole.UserRole) if items else None
        if layer_type:
            data.setData(LAYER_MIME, layer_type.encode())
        return data


class Palette(QWidget):
    """Search box over the catalog's categories; drag a layer out or double-click it."""

    activated = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.search = QLineEdit(placeholderText="Search layers…", clearButtonEnabled=True)
        self.tree = _LayerTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        self.search.textChanged.connect(self.filter)
        self.status = QLabel("Loading Keras…")
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        layout.addWidget(self.status)

    def populate(self, catalog: Any) -> None:
        self.tree.clear()
        for category, specs in catalog.categories().items():
            parent = QTreeWidgetItem([f"{category}  ({len(specs)})"])
            parent.setData(0, Qt.ItemDataRole.UserRole + 1, category)
            parent.setIcon(0, category_icon(category))
            parent.setFlags(parent.flags() & ~Qt.ItemFlag.ItemIsDragEnabled)
            for spec in specs:
                child = QTreeWidgetItem([spec.type])
                child.setData(0, Qt.ItemDataRole.UserRole, spec.type)
                child.setToolTip(0, f"<b>{spec.type}</b><br>{spec.description}")
                child.setIcon(0, category_icon(category))
                parent.addChild(child)
            self.tree.addTopLevelItem(parent)
        self.tree.expandToDepth(0)
        self.status.setText(f"{plural(len(catalog), 'layer')} · Keras {catalog.keras_version}")

    def filter(self, text: str) -> None:
        text = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            parent = self.tree.topLevelItem(i)
            shown = 0
            for j in range(parent.childCount()):
                child = parent.child(j)
                hit = not text or text in child.text(0).lower() or text in child.toolTip(0).lower()
                child.setHidden(not hit)
                shown += hit
            parent.setHidden(shown == 0)
            parent.setText(0, f"{parent.data(0, Qt.ItemDataRole.UserRole + 1)}  ({shown})")  # what the search found
            parent.setExpanded(bool(text) or i < 3)

    def _double_clicked(self, item: QTreeWidgetItem) -> None:
        layer_type = item.data(0, Qt.ItemDataRole.UserRole)
        if layer_type:
            self.activated.emit(layer_type)


# ---- inspector --------------------------------------------------------------------------------


class Inspector(QScrollArea):
    """A form generated from the catalog's parameter schema for the selected node."""

    edited = Signal(str, dict)  # node id, changes (name / params / trainable / note)

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.node: Node | None = None
        self.editors: dict[str, QWidget] = {}
        self.show_node(None, None)

    def show_node(self, node: Node | None, spec: Any, analysis: Any = None) -> None:
        same = node is not None and self.node is not None and node.id == self.node.id
        self.node, self.editors = node, {}
        body = QWidget()
        form = QFormLayout(body)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        if node is None:
            form.addRow(QLabel("Select a layer to see and edit its parameters."))
            self._show(body, same)
            return
        title = QLabel(f"<b>{node.type}</b>" + (f"<br><small>{spec.description}</small>" if spec else ""))
        title.setWordWrap(True)
        form.addRow(title)
        name = QLineEdit(node.name)
        name.editingFinished.connect(lambda: name.text().strip() and name.text() != node.name
                                     and self.edited.emit(node.id, {"name": name.text().strip()}))
        form.addRow("name", name)
        self.editors["name"] = name
        trainable = QCheckBox("trainable")
        trainable.setChecked(node.trainable)
        trainable.toggled.connect(lambda on: self.edited.emit(node.id, {"trainable": on}))
        form.addRow("", trainable)
        self.output, self.parameters = QLabel(), QLabel()
        form.addRow("output", self.output)  # always there, so the fields never move down
        form.addRow("parameters", self.parameters)
        self.statistics = QLabel("—", wordWrap=True)
        self.statistics.setToolTip("The output on the layer-preview sample (View ▸ Layer previews): a share of "
                                   "zeros near 100% after a ReLU means dead units")
        form.addRow("statistics", self.statistics)
        self.show_analysis(analysis)
        if spec is None:
            editor = QPlainTextEdit(json.dumps(node.params, indent=1))
            editor.setToolTip("Parameters as JSON")
            form.addRow("params", editor)
        else:
            for param in spec.params:
                form.addRow(param.name + (" *" if param.required else ""), self._editor(node, param))
        note = QLineEdit(node.note, placeholderText="a note for this layer")
        note.editingFinished.connect(
            lambda: note.text() != node.note and self.edited.emit(node.id, {"note": note.text()}))
        form.addRow("note", note)
        self._show(body, same)

    def _show(self, body: QWidget, same_node: bool) -> None:
        """Put ``body`` in place of the form shown, scrolled as it was when it shows the same node again (after
        each analysis). The old form goes later: an edit committed as its field loses focus rebuilds the form
        from inside that field's own focus-out handler."""
        scrolled = self.verticalScrollBar().value()
        old = self.takeWidget()
        if old is not None:
            old.deleteLater()
        self.setWidget(body)
        if same_node:
            self.verticalScrollBar().setValue(scrolled)

    def show_analysis(self, analysis: Any) -> None:
        """The node's analysed output and parameter count, updated in place: an edit is analysed while
        its editor keeps the focus, and rebuilding the form then would take the editor from the user."""
        done = analysis is not None and bool(analysis.outputs)
        self.output.setText(analysis.shape_text() if done else "—")  # unconnected, or not analysed yet
        self.parameters.setText(f"{analysis.params:,}" if done else "—")

    def show_statistics(self, text: str) -> None:
        """The node's output statistics on the preview sample, in place like the analysis."""
        if self.node is not None:
            self.statistics.setText(text)

    def _commit(self, param: Any, value: Any) -> None:
        node = self.node
        if node is None:
            return
        params = dict(node.params)
        if value == param.default and not param.required:
            params.pop(param.name, None)
        else:
            params[param.name] = value
        if params != node.params:
            self.edited.emit(node.id, {"params": params})

    def _editor(self, node: Node, param: Any) -> QWidget:
        value = node.params.get(param.name, param.default)
        widget: QWidget
        if param.kind == "bool" and isinstance(value, bool):
            widget = QCheckBox()
            widget.setChecked(value)
            widget.toggled.connect(lambda on, p=param: self._commit(p, on))
        elif param.choices and (value in param.choices or isinstance(value, str) or value is None):
            widget = QComboBox()
            items = ["None" if c is None else str(c) for c in param.choices]
            if value is not None and str(value) not in items:
                items.append(str(value))
            widget.addItems(items)
            widget.setCurrentText("None" if value is None else str(value))
            widget.currentTextChanged.connect(lambda t, p=param: self._commit(p, None if t == "None" else t))
        elif param.kind == "int" and isinstance(value, int):
            widget = QSpinBox(minimum=-(2**31) + 1, maximum=2**31 - 1, value=value)
            widget.editingFinished.connect(lambda w=widget, p=param: self._commit(p, w.value()))
        elif param.kind == "float" and isinstance(value, float):
            widget = QDoubleSpinBox(minimum=-1e9, maximum=1e9, decimals=6, value=value, singleStep=0.01)
            widget.editingFinished.connect(lambda w=widget, p=param: self._commit(p, w.value()))
        else:
            text = "None" if value is None else (", ".join(map(str, value)) if param.kind in ("ints", "tuple")
                                                 and isinstance(value, list) else
                                                 value if isinstance(value, str) else json.dumps(value))
            line = QLineEdit(text)
            line.setToolTip(param.doc or param.kind)
            reason = QLabel(wordWrap=True, visible=False)  # why the text was refused, in red
            reason.setStyleSheet("color: #d32f2f;")
            line.editingFinished.connect(lambda w=line, r=reason, p=param: self._line_edited(w, r, p))
            self.editors[param.name] = line
            return _stacked(line, reason)
        widget.setToolTip(param.doc or param.kind)
        self.editors[param.name] = widget
        return widget

    def _line_edited(self, widget: QLineEdit, reason: QLabel, param: Any) -> None:
        try:
            value = parse_param(param, widget.text())
        except ValueError as exc:
            widget.setStyleSheet("QLineEdit { border: 2px solid #d32f2f; }")
            widget.setToolTip(f"Not applied: {exc}")
            reason.setText(f"Not applied: {exc}")
            reason.show()
            return
        widget.setStyleSheet("")
        widget.setToolTip(param.doc or param.kind)
        reason.hide()
        self._commit(param, value)


def _stacked(*widgets: QWidget) -> QWidget:
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    for widget in widgets:
        column.addWidget(widget)
    return box


# ---- analysis ---------------------------------------------------------------------------------


class _NumberItem(QTableWidgetItem):
    def __lt__(self, other: QTableWidgetItem) -> bool:
        return (self.data(Qt.ItemDataRole.UserRole) or 0) < (other.data(Qt.ItemDataRole.UserRole) or 0)


def _number(value: int | None) -> _NumberItem:
    """A right-aligned count that sorts by value; blank when the node has no result."""
    item = _NumberItem(f"{value:,}" if value is not None else "")
    item.setData(Qt.ItemDataRole.UserRole, value or 0)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class AnalysisPanel(QSplitter):
    """Sortable table of every layer, and the list of errors and warnings; clicks select nodes."""

    picked = Signal(str)

    def __init__(self) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Name", "Type", "Output shape", "Params", "MACs"])
        self.table.horizontalHeaderItem(4).setToolTip("Multiply-accumulates per sample (dense, convolution, "
                                                      "recurrent and attention products)")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # document order first
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.cellClicked.connect(
            lambda row, _: self.picked.emit(self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)))
        self.problems = QListWidget()
        self.problems.setWordWrap(True)
        self.problems.itemClicked.connect(lambda item: item.data(Qt.ItemDataRole.UserRole)
                                          and self.picked.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.addWidget(self.table)
        self.addWidget(self.problems)
        self.setSizes([700, 400])

    def show_analysis(self, doc: Any, analysis: Any, prefix: str) -> None:
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(doc))
        for row, node in enumerate(doc.nodes.values()):
            result = analysis.nodes.get(prefix + node.id) if analysis else None
            name = QTableWidgetItem(node.name)
            name.setData(Qt.ItemDataRole.UserRole, node.id)
            shape = result.shape_text() if result and result.outputs else ("error" if result and result.error else "")
            params = _number(result.params if result else None)
            macs = _number(result.cost.macs if result else None)
            if result:
                macs.setToolTip(f"{macs_text(result.cost.macs)} · weights {size_text(result.cost.param_bytes)} · "
                                f"output {size_text(result.cost.activation_bytes)} per sample")
            for col, item in enumerate((name, QTableWidgetItem(node.type), QTableWidgetItem(shape), params, macs)):
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        self.problems.clear()
        diagnostics = analysis.diagnostics if analysis else []
        for d in diagnostics:
            local = d.node[len(prefix):] if d.node and d.node.startswith(prefix) else None
            where = doc.node(local).name if local in doc else (d.node or "network")
            item = QListWidgetItem(f"{d.severity.upper()}  {where}: {d.message}")
            item.setForeground(QColor("#c62828") if d.severity == "error" else QColor("#ef6c00"))
            item.setData(Qt.ItemDataRole.UserRole, local)
            item.setToolTip(d.message)
            self.problems.addItem(item)
        if not diagnostics and analysis is not None:
            self.problems.addItem(QListWidgetItem("No problems found."))
