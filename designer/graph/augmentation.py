"""Data augmentation as layers right after the model's input, so it is visible in the graph, saved
with it and active only while training (Keras's random layers pass inputs through at inference)."""

from __future__ import annotations

from typing import Any

from designer.graph.document import GraphError, NetworkDocument, Node

PREFIX = "augment_"
AUGMENTATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "flip": ("RandomFlip", {"mode": "horizontal"}),
    "rotation": ("RandomRotation", {"factor": 0.05}),
    "zoom": ("RandomZoom", {"height_factor": 0.1}),
    "translation": ("RandomTranslation", {"height_factor": 0.1, "width_factor": 0.1}),
    "contrast": ("RandomContrast", {"factor": 0.2}),
    "noise": ("GaussianNoise", {"stddev": 0.05}),
}


def augmentations(doc: NetworkDocument) -> set[str]:
    """Which augmentations the document has, recognised by their node names."""
    names = {node.name for node in doc.nodes.values()}
    return {kind for kind in AUGMENTATIONS if PREFIX + kind in names}


def _named(doc: NetworkDocument, name: str) -> Node | None:
    return next((node for node in doc.nodes.values() if node.name == name), None)


def set_augmentation(doc: NetworkDocument, kind: str, on: bool) -> None:
    """Insert the augmentation after the input (after any augmentations already there), or take it out
    and join its neighbours again."""
    existing = _named(doc, PREFIX + kind)
    if on and existing is None:
        inputs = doc.input_nodes()
        if len(inputs) != 1:
            raise GraphError("augmentation needs a network with exactly one Input")
        anchor = inputs[0]
        while (follow := [e for e in doc.out_edges(anchor.id) if doc.node(e.dst).name.startswith(PREFIX)]):
            anchor = doc.node(follow[0].dst)
        type_, params = AUGMENTATIONS[kind]
        x, y = anchor.position
        node = doc.add_node(type_, PREFIX + kind, params, position=(x + 170.0, y + 40.0))
        for edge in doc.out_edges(anchor.id):
            doc.disconnect(edge)
            doc.connect(node.id, edge.dst, dst_port=edge.dst_port)
        doc.connect(anchor.id, node.id)
    elif not on and existing is not None:
        [source] = doc.in_edges(existing.id)
        for edge in doc.out_edges(existing.id):
            doc.disconnect(edge)
            doc.connect(source.src, edge.dst, src_port=source.src_port, dst_port=edge.dst_port)
        doc.remove_node(existing.id)
