"""Every user action is one QUndoCommand; commands change only the document.

Structural edits (add, delete, connect, group, paste…) snapshot the whole document before
and after, so undo and redo restore it exactly, insertion order included. Frequent small
edits (moving nodes, changing a parameter) record just the values they change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QUndoCommand

from designer.graph.document import NetworkDocument
from designer.graph.serialize import document_to_dict, restore_document
from designer.wording import plural


class EditorState:
    """What commands need: the root document, the path of the block being viewed, and a callback
    that tells the window the document changed."""

    def __init__(self, root: NetworkDocument, on_change: Callable[[], None]) -> None:
        self.root = root
        self.view: list[str] = []  # node ids of the opened blocks, outermost first
        self.on_change = on_change

    @property
    def doc(self) -> NetworkDocument:
        doc = self.root
        for node_id in self.view:
            if node_id not in doc or doc.node(node_id).block is None:
                self.view = self.view[: self.view.index(node_id)]
                break
            doc = doc.node(node_id).block  # type: ignore[assignment]
        return doc

    @property
    def prefix(self) -> str:
        """What the shown nodes' ids follow in paths through the whole network (``b1/``, as analysis and
        previews key nested nodes)."""
        return "".join(f"{n}/" for n in self.view)


class StructuralEdit(QUndoCommand):
    """Run ``mutate`` on the viewed document; undo/redo swap whole snapshots."""

    def __init__(self, state: EditorState, text: str, mutate: Callable[[NetworkDocument], Any]) -> None:
        super().__init__(text)
        self.state = state
        self.mutate = mutate
        self.view = list(state.view)
        self.before: dict[str, Any] | None = None
        self.after: dict[str, Any] | None = None
        self.result: Any = None

    def redo(self) -> None:
        if self.after is None:
            self.before = document_to_dict(self.state.root)
            self.state.view = list(self.view)
            self.result = self.mutate(self.state.doc)
            self.after = document_to_dict(self.state.root)
        else:
            restore_document(self.state.root, self.after)
        self.state.on_change()

    def undo(self) -> None:
        assert self.before is not None
        restore_document(self.state.root, self.before)
        self.state.view = list(self.view)
        self.state.on_change()


class MoveNodes(QUndoCommand):
    def __init__(self, state: EditorState, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]]) -> None:
        super().__init__(f"Move {plural(len(moves), 'layer')}")
        self.state, self.moves, self.view = state, moves, list(state.view)

    def _apply(self, index: int) -> None:
        self.state.view = list(self.view)
        doc = self.state.doc
        for node_id, positions in self.moves.items():
            if node_id in doc:
                doc.node(node_id).position = positions[index]
        self.state.on_change()

    def redo(self) -> None:
        self._apply(1)

    def undo(self) -> None:
        self._apply(0)


class EditNode(QUndoCommand):
    """Change a node's name, parameters, trainable flag or note (any subset)."""

    FIELDS = ("name", "params", "trainable", "note")

    def __init__(self, state: EditorState, node_id: str, text: str, **changes: Any) -> None:
        super().__init__(text)
        self.state, self.node_id, self.view = state, node_id, list(state.view)
        node = state.doc.node(node_id)
        self.old = {k: copy.deepcopy(getattr(node, k)) for k in changes}
        self.new = changes

    def _apply(self, values: dict[str, Any]) -> None:
        self.state.view = list(self.view)
        node = self.state.doc.node(self.node_id)
        for key, value in values.items():
            setattr(node, key, copy.deepcopy(value))
        self.state.on_change()

    def redo(self) -> None:
        self._apply(self.new)

    def undo(self) -> None:
        self._apply(self.old)


class EditSections(QUndoCommand):
    """The data setup, training options and experiments are saved with the project, so changing them is
    an edit too: ``changes`` maps each section (``data``, ``training``, ``experiments``) to its new value."""

    def __init__(self, project: Any, changes: dict[str, dict[str, Any]], on_change: Callable[[], None],
                 text: str = "Change the training setup") -> None:
        super().__init__(text)
        self.project, self.on_change = project, on_change
        self.before = copy.deepcopy({key: getattr(project, key) for key in changes})
        self.after = copy.deepcopy(changes)

    def _apply(self, values: dict[str, dict[str, Any]]) -> None:
        for key, value in copy.deepcopy(values).items():
            setattr(self.project, key, value)
        self.on_change()

    def redo(self) -> None:
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)


class ReplaceNetwork(QUndoCommand):
    """The whole network and the weights file the project names, swapped together (structured pruning
    changes both: fewer filters, and the weights that fit them)."""

    def __init__(self, state: EditorState, project: Any, document: dict[str, Any], weights: str,
                 on_change: Callable[[], None], text: str) -> None:
        super().__init__(text)
        self.state, self.project, self.on_change = state, project, on_change
        self.before = (document_to_dict(state.root), project.weights)
        self.after = (copy.deepcopy(document), weights)

    def _apply(self, values: tuple[dict[str, Any], str]) -> None:
        restore_document(self.state.root, values[0])
        self.project.weights = values[1]
        self.state.view = []
        self.on_change()

    def redo(self) -> None:
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)
