"""The results table: one row per trial with status, progress, hyperparameters, metrics, duration
and size; sortable, filterable, columns shown or hidden from the header's menu, stars and notes
kept with each trial's MLflow run."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import QAbstractItemView, QMenu, QTableView

SORT = Qt.ItemDataRole.UserRole  # the number behind a cell, so 10 sorts after 9
STATUS_COLORS = {"finished": "#2ca02c", "running": "#1f77b4", "failed": "#d62728", "pruned": "#ff7f0e",
                 "interrupted": "#7f7f7f", "waiting": "#7f7f7f", "compressing": "#1f77b4"}
Index = QModelIndex | QPersistentModelIndex


class TrialModel(QAbstractTableModel):
    note_edited = Signal(str, str, str)  # run id, tag, value

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.metrics: list[str] = []
        self.objective = ""

    @property
    def columns(self) -> list[str]:
        return ["★", "trial", "status", "progress", *self.keys, self.objective or "objective",
                *[m for m in self.metrics if m != self.objective], "duration (s)", "parameters", "note"]

    def set_rows(self, rows: list[dict[str, Any]], keys: list[str], objective: str) -> None:
        self.beginResetModel()
        self.rows, self.keys, self.objective = rows, keys, objective
        self.metrics = sorted({m for r in rows for m in r["metrics"]})
        self.endResetModel()

    def update_row(self, row: dict[str, Any]) -> None:
        """A live change to one trial (new, progressing, ended); columns grow as new metrics appear."""
        index = next((i for i, r in enumerate(self.rows) if r["trial"] == row["trial"]), None)
        if index is None or not set(row["metrics"]) <= set(self.metrics):
            rows = [r for r in self.rows if r["trial"] != row["trial"]] + [row]
            self.set_rows(sorted(rows, key=lambda r: r["trial"]), self.keys, self.objective)
            return
        self.rows[index] = row
        self.dataChanged.emit(self.index(index, 0), self.index(index, self.columnCount() - 1))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's names)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section]
        return None

    def value(self, row: dict[str, Any], column: str) -> Any:
        if column == "★":
            return row["star"]
        if column == "trial":
            return row["trial"]
        if column == "status":
            return row["status"] + (f" ({row['cause']})" if row.get("cause") else "")
        if column == "progress":
            if row["status"] == "finished":
                return 1.0
            return row["epochs_done"] / row["epochs"] if row.get("epochs") else None
        if column in self.keys:
            return row["params"].get(column)
        if column in (self.objective, "objective"):
            return row["objective"]
        if column == "duration (s)":
            return row["duration_s"]
        if column in ("parameters", "note"):
            return row[column]
        return row["metrics"].get(column)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row, column = self.rows[index.row()], self.columns[index.column()]
        value = self.value(row, column)
        if role == SORT:
            return value if isinstance(value, (int, float)) else ("" if value is None else str(value))
        if column == "★":
            if role == Qt.ItemDataRole.DisplayRole:
                return "★" if value else "☆"
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor("#e6a800") if value else QColor("#aaa")
            return None
        if role == Qt.ItemDataRole.DisplayRole or (role == Qt.ItemDataRole.EditRole and column == "note"):
            if column == "progress":
                return "" if value is None else f"{min(value, 1.0):.0%}"
            if isinstance(value, float):
                return f"{value:.4g}"
            if column == "parameters" and value:
                return f"{value:,}"
            return "" if value is None else str(value)
        if role == Qt.ItemDataRole.ForegroundRole and column == "status":
            return QColor(STATUS_COLORS.get(row["status"], "#333"))
        if role == Qt.ItemDataRole.ToolTipRole and column == "status" and row.get("message"):
            return row["message"]
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if self.columns[index.column()] == "note" and self.rows[index.row()]["run_id"]:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        row = self.rows[index.row()]
        if self.columns[index.column()] != "note" or role != Qt.ItemDataRole.EditRole:
            return False
        row["note"] = str(value)
        self.note_edited.emit(row["run_id"], "note", row["note"])
        self.dataChanged.emit(index, index)
        return True

    def toggle_star(self, source_row: int) -> None:
        row = self.rows[source_row]
        if not row["run_id"]:
            return
        row["star"] = not row["star"]
        self.note_edited.emit(row["run_id"], "star", "1" if row["star"] else "0")
        self.dataChanged.emit(self.index(source_row, 0), self.index(source_row, 0))


class TrialTable(QTableView):
    """The model behind a sort/filter proxy; the header's context menu shows and hides columns."""

    def __init__(self) -> None:
        super().__init__()
        self.trials = TrialModel()
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.trials)
        self.proxy.setSortRole(SORT)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.verticalHeader().hide()
        self.horizontalHeader().setStretchLastSection(True)
        self.horizontalHeader().setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.horizontalHeader().customContextMenuRequested.connect(self._column_menu)
        self.clicked.connect(self._clicked)
        self.hidden: set[str] = set()
        self.trials.modelReset.connect(self._restore_hidden)

    def filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)

    def selected_trials(self) -> list[dict[str, Any]]:
        """In the order the table shows them, so "the first selected" is the one on top."""
        shown = sorted(self.selectionModel().selectedRows(), key=lambda i: i.row())
        return [self.trials.rows[self.proxy.mapToSource(i).row()] for i in shown]

    def set_hidden(self, column: str, hidden: bool) -> None:
        (self.hidden.add if hidden else self.hidden.discard)(column)
        self._restore_hidden()

    def _restore_hidden(self) -> None:
        for i, name in enumerate(self.trials.columns):
            self.setColumnHidden(i, name in self.hidden)
        self.resizeColumnsToContents()

    def _column_menu(self, position: Any) -> None:
        menu = QMenu(self)
        for name in self.trials.columns:
            action = QAction(name, menu, checkable=True, checked=name not in self.hidden)
            action.toggled.connect(lambda on, n=name: self.set_hidden(n, not on))
            menu.addAction(action)
        menu.exec(self.horizontalHeader().mapToGlobal(position))

    def _clicked(self, index: QModelIndex) -> None:
        if self.trials.columns[index.column()] == "★":
            self.trials.toggle_star(self.proxy.mapToSource(index).row())
