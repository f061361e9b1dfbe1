"""Transfer-learning edits of a document: freeze, unfreeze, replace the head, cut and extend.

They change only the document (frozen state is a node property that the build honours),
so each is one undoable edit in the window and one call headless.
"""

from __future__ import annotations

from collections.abc import Iterable

from designer.graph.document import GraphError, NetworkDocument, Node, PortRef


def set_trainable(doc: NetworkDocument, node_ids: Iterable[str], trainable: bool) -> None:
    """Freeze (``False``) or unfreeze nodes; a block's flag covers everything inside it."""
    for node_id in node_ids:
        doc.node(node_id).trainable = trainable


def freeze_up_to(doc: NetworkDocument, node_id: str) -> list[str]:
    """Freeze ``node_id`` and every layer feeding it: the usual frozen backbone."""
    ids = sorted(doc.upstream(node_id) | {node_id}, key=list(doc.nodes).index)
    set_trainable(doc, (i for i in ids if not doc.node(i).is_input), False)
    return ids


def freeze_all(doc: NetworkDocument, trainable: bool = False) -> None:
    set_trainable(doc, (n.id for n in doc.nodes.values() if not n.is_input), trainable)


def find(doc: NetworkDocument, name: str) -> Node:
    match = [n for n in doc.nodes.values() if n.name == name and not n.share]
    if not match:
        raise GraphError(f"no layer named {name!r}")
    return match[0]


def replace_head(doc: NetworkDocument, classes: int, activation: str = "softmax") -> Node:
    """Point the single output layer (a Dense) at a new number of classes, trainable again."""
    outputs = doc.effective_outputs()
    if len(outputs) != 1:
        raise GraphError(f"the network has {len(outputs)} outputs; cut at a layer and attach a new head instead")
    head = doc.node(outputs[0].node)
    if head.type != "Dense":
        raise GraphError(f"the output layer {head.name!r} is a {head.type}, not a Dense layer; cut at a layer "
                         "and attach a new head instead")
    head.params.update(units=classes, activation=activation)
    head.trainable = True
    return head


def cut_at(doc: NetworkDocument, node_id: str) -> list[str]:
    """Remove everything downstream of ``node_id``, which becomes the output."""
    removed = sorted(doc.downstream(node_id), key=list(doc.nodes).index)
    for other in removed:
        doc.remove_node(other)
    doc.outputs = [PortRef(node_id)]
    return removed


def attach(doc: NetworkDocument, after: str, layers: Iterable[tuple[str, str, dict]]) -> Node:
    """Append new layers after ``after``; the last one becomes the output."""
    prev = doc.node(after)
    x, y = prev.position
    for i, (type_, name, params) in enumerate(layers, start=1):
        node = doc.add_node(type_, doc.unique_name(name), params, position=(x, y + 110 * i))
        doc.connect(prev.id, node.id)
        prev = node
    doc.outputs = [PortRef(prev.id)]
    return prev
