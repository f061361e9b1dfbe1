"""One trial's project: the base project with the trial's values put into its network and options."""

from __future__ import annotations

import copy
from typing import Any

from designer.experiments.compression import KEY as COMPRESS
from designer.graph.document import NetworkDocument, Node, PortRef
from designer.graph.project import Project
from designer.graph.serialize import DocumentFormatError
from designer.training.recipes.latent import apply_latent_dim


def trial_project(project: Project, values: dict[str, Any]) -> tuple[Project, dict[str, Any]]:
    """A copy of ``project`` with the layer values applied, and the training options to override."""
    trial = copy.deepcopy(project)
    training: dict[str, Any] = {}
    for key, value in values.items():
        target, option = key.split(".", 1)
        if target == COMPRESS:  # done to the trained model, not to the network (experiments.compression)
            continue
        if target == "training":
            recipe, _, name = option.partition(".")
            if name:  # one option of a recipe's: merged into its options, the rest kept
                training[recipe] = {**trial.training.get(recipe, {}), **training.get(recipe, {}), name: value}
            else:
                training[option] = value
            continue
        doc, node = find_layer(trial.document, target)
        if option == "enabled":
            if not value:
                bypass(doc, node)
        else:
            node.params = {**node.params, option: list(value) if isinstance(value, tuple) else value}
    apply_latent_dim(trial.document, {**trial.training, **training})  # a recipe's latent size, everywhere it lives
    return trial, training


def find_layer(doc: NetworkDocument, name: str) -> tuple[NetworkDocument, Node]:
    """The layer of that name and the graph (the network or a nested block) that holds it."""
    for node in doc.nodes.values():
        if node.name == name:
            return doc, node
        if node.block is not None:
            try:
                return find_layer(node.block, name)
            except DocumentFormatError:
                pass
    raise DocumentFormatError(name, f"no layer named {name!r} in the network")


def bypass(doc: NetworkDocument, node: Node) -> None:
    """Take a one-input, one-output layer or block out and join its input straight to its consumers."""
    inbound = doc.in_edges(node.id)
    if len(inbound) != 1 or any(e.src_port != 0 for e in doc.out_edges(node.id)):
        raise DocumentFormatError(f"{node.name}.enabled", "only a layer or block with one input and one output "
                                  "can be switched off")
    source = inbound[0]
    for edge in doc.out_edges(node.id):
        doc.disconnect(edge)
        doc.connect(source.src, edge.dst, src_port=source.src_port, dst_port=edge.dst_port)
    doc.outputs = [PortRef(source.src, source.src_port) if o.node == node.id else o for o in doc.outputs]
    doc.remove_node(node.id)
