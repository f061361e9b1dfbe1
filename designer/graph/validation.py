"""Structural checks of a document. They never raise: every problem becomes a ``Diagnostic``
tied to the node that causes it, so the canvas can pin it there.

How many inputs a layer takes is Keras knowledge; it comes in through ``ports`` (the layer
catalog provides it) so this module stays free of Keras.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from designer.graph.document import NetworkDocument, Node, networkx

Severity = Literal["error", "warning"]
PLACEHOLDER = "Placeholder"  # the node type an import puts where an operator had no Keras equivalent


@dataclass(frozen=True)
class PortSpec:
    """The tensor inputs a layer call takes: named ports, at least ``min_inputs``,
    at most ``max_inputs`` (``None``: any number, as for ``Add``)."""

    names: tuple[str, ...] = ("inputs",)
    min_inputs: int = 1
    max_inputs: int | None = 1
    as_list: bool = False  # the layer is called on one list of tensors (Add, Concatenate, Attention)

    def name(self, port: int) -> str:
        return self.names[port] if port < len(self.names) else f"inputs[{port}]"

    def to_dict(self) -> dict[str, object]:
        return {"names": list(self.names), "min": self.min_inputs, "max": self.max_inputs,
                "as_list": self.as_list}


NO_INPUTS = PortSpec((), 0, 0)
ONE_INPUT = PortSpec()


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    node: str | None  # path id ("n3", "block2/n1"); None for the whole graph
    message: str
    code: str

    def to_dict(self) -> dict[str, str | None]:
        return {"severity": self.severity, "node": self.node, "message": self.message, "code": self.code}


PortLookup = Callable[[Node], PortSpec]


def default_ports(node: Node) -> PortSpec:
    """Ports when no catalog is at hand: inputs take none, blocks one per inner input, others one."""
    if node.is_input:
        return NO_INPUTS
    if node.block is not None:
        count = len(node.block.input_nodes())
        return PortSpec(tuple(i.name for i in node.block.input_nodes()) or ("inputs",), count, count)
    return ONE_INPUT


def validate(doc: NetworkDocument, ports: PortLookup = default_ports, prefix: str = "") -> list[Diagnostic]:
    """All structural problems of ``doc`` and of its nested blocks."""
    out: list[Diagnostic] = []

    def add(severity: Severity, node: Node | None, message: str, code: str) -> None:
        out.append(Diagnostic(severity, None if node is None else prefix + node.id, message, code))

    nodes = doc.nodes
    if not doc.input_nodes():
        add("error", None, "the network has no Input layer: add one from the palette", "no-input")
    outputs = doc.effective_outputs()
    if not outputs and nodes:
        add("error", None, "the network has no output: no layer is left unconsumed "
            "and none is marked as an output", "no-output")

    for node in nodes.values():
        owner = nodes.get(node.share) if node.share else None
        if node.share and (owner is None or owner.share or owner.type != node.type):
            add("error", node, "shares the layer of a node that is missing, of another type, or itself "
                "shared: share with the original node", "bad-share")
    for name, count in Counter(n.name for n in nodes.values() if not n.share).items():
        if count > 1:
            for node in nodes.values():
                if node.name == name and not node.share:
                    add("error", node, f"the name {name!r} is used by {count} layers; "
                        "Keras needs unique names: rename this one", "duplicate-name")

    for node in nodes.values():
        if node.type == PLACEHOLDER and node.module:
            add("error", node, f"placeholder for {node.params.get('op_type', 'an')} node "
                f"{node.params.get('source_node', node.name)!r} of the imported network, which has no Keras "
                f"equivalent ({node.params.get('reason', 'unsupported')}): replace it with layers that compute "
                "the same", "placeholder")

    cyclic: set[str] = set()
    for component in networkx().strongly_connected_components(doc.graph):
        if len(component) > 1 or doc.graph.has_edge(*(next(iter(component)),) * 2):
            cyclic |= component
            loop = " → ".join(nodes[n].name for n in sorted(component, key=list(nodes).index))
            for node_id in component:
                add("error", nodes[node_id], f"part of a cycle ({loop}); a layer cannot feed its own "
                    "input: remove one of these connections", "cycle")

    for node in nodes.values():
        spec = ports(node)
        edges = doc.in_edges(node.id)
        connected = {e.dst_port for e in edges}
        if node.is_input and edges:
            add("error", node, "an Input layer takes no incoming connection", "input-has-inputs")
            continue
        for port in range(spec.min_inputs):
            if port not in connected:
                add("error", node, f"input {spec.name(port)!r} is not connected", "unconnected-input")
        if spec.max_inputs is not None and len(edges) > spec.max_inputs:
            add("error", node, f"{node.type} takes at most {spec.max_inputs} input(s), "
                f"{len(edges)} are connected", "too-many-inputs")
        gaps = sorted(set(range(max(connected, default=0))) - connected - set(range(spec.min_inputs)))
        if gaps:
            add("error", node, f"input {spec.name(gaps[0])!r} is not connected but a later one is",
                "input-gap")

    reaching: set[str] = set()
    for ref in outputs:
        if ref.node in nodes:
            reaching |= {ref.node} | doc.upstream(ref.node)
    for node in nodes.values():
        if node.id not in reaching and node.id not in cyclic and outputs:
            add("warning", node, "does not reach any output, so it is left out of the model; "
                "connect it or delete it", "unreachable")

    for node in nodes.values():
        if node.block is not None:
            out.extend(validate(node.block, ports, f"{prefix}{node.id}/"))
    return out
