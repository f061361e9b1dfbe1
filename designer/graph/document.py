"""The network document: layers as nodes, tensors as edges, nested blocks as sub-documents.

This module imports neither Keras nor Qt, so documents load, validate and diff in
milliseconds. A networkx ``MultiDiGraph`` holds the structure; ``Node`` holds what a
user edits. Node ids are stable strings, never derived from ``id()``.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx


def networkx() -> ModuleType:
    """networkx, imported on first use: ~0.3 s that the window should not wait for. A plain import, not
    a ``LazyLoader``: should two threads get here first at once, the import system's lock makes one wait."""
    import networkx as nx

    return nx

INPUT_TYPE = "InputLayer"
BLOCK_TYPE = "Block"


@dataclass(frozen=True)
class PortRef:
    """One output port of one node (layers such as LSTM with ``return_state`` have several)."""

    node: str
    port: int = 0


@dataclass(frozen=True)
class Edge:
    """A tensor flowing from an output port of ``src`` into input port ``dst_port`` of ``dst``."""

    src: str
    src_port: int
    dst: str
    dst_port: int


@dataclass
class Node:
    """One layer (or one nested block) on the canvas.

    ``type`` is the Keras class name (``"Conv2D"``), ``"InputLayer"`` for model inputs,
    or ``"Block"`` for a group of nodes kept in ``block``. ``params`` are the layer's
    constructor arguments as JSON values, exactly what ``from_config`` accepts.
    ``module`` names where a class outside ``keras.layers`` lives (``keras.src.ops.numpy``
    for a ``keras.ops.add`` call). ``share`` is the id of the node whose layer (and weights)
    this node calls again, as Keras shared layers do. ``call`` keeps the arguments of an
    imported call that are not one tensor per port: ``{"args": [...], "kwargs": {...}}``
    with ``{"port": i}`` where input ``i`` goes.
    """

    id: str
    type: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)
    note: str = ""
    trainable: bool = True
    block: NetworkDocument | None = None
    module: str = ""
    share: str | None = None
    call: dict[str, Any] | None = None

    @property
    def is_input(self) -> bool:
        return self.type == INPUT_TYPE

    @property
    def is_block(self) -> bool:
        return self.type == BLOCK_TYPE


class GraphError(ValueError):
    """An edit that would make the document structurally meaningless (unknown node, taken port)."""


class NetworkDocument:
    """A layer graph: the single source of truth that the canvas, analysis and training read."""

    def __init__(self, name: str = "model") -> None:
        self.name = name
        self.outputs: list[PortRef] = []
        self._graph = networkx().MultiDiGraph()
        self._ids = itertools.count(1)

    # ---- nodes -------------------------------------------------------------------------
    @property
    def nodes(self) -> dict[str, Node]:
        """Nodes by id, in insertion order."""
        return {n: data["node"] for n, data in self._graph.nodes(data=True)}

    def node(self, node_id: str) -> Node:
        try:
            return self._graph.nodes[node_id]["node"]
        except KeyError:
            raise GraphError(f"no node with id {node_id!r}") from None

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._graph

    def __len__(self) -> int:
        return self._graph.number_of_nodes()

    def new_id(self) -> str:
        while True:
            candidate = f"n{next(self._ids)}"
            if candidate not in self._graph:
                return candidate

    def unique_name(self, base: str) -> str:
        """``base`` if free, else ``base_1``, ``base_2``… (Keras's own naming habit)."""
        taken = {n.name for n in self.nodes.values()}
        if base not in taken:
            return base
        return next(f"{base}_{i}" for i in itertools.count(1) if f"{base}_{i}" not in taken)

    def add_node(self, type: str, name: str | None = None, params: dict[str, Any] | None = None,
                 *, id: str | None = None, position: tuple[float, float] = (0.0, 0.0),
                 note: str = "", trainable: bool = True, block: NetworkDocument | None = None,
                 module: str = "", share: str | None = None, call: dict[str, Any] | None = None) -> Node:
        node_id = id or self.new_id()
        if node_id in self._graph:
            raise GraphError(f"node id {node_id!r} is already used")
        if (type == BLOCK_TYPE) != (block is not None):
            raise GraphError("a Block node needs a sub-document, and only a Block node may have one")
        node = Node(node_id, type, name or self.unique_name(_snake(type)), dict(params or {}),
                    (float(position[0]), float(position[1])), note, trainable, block, module, share, call)
        self._graph.add_node(node_id, node=node)
        return node

    def remove_node(self, node_id: str) -> None:
        self.node(node_id)
        self._graph.remove_node(node_id)
        self.outputs = [o for o in self.outputs if o.node != node_id]

    # ---- edges -------------------------------------------------------------------------
    @property
    def edges(self) -> list[Edge]:
        return [data["edge"] for _, _, data in self._graph.edges(data=True)]

    def connect(self, src: str, dst: str, *, src_port: int = 0, dst_port: int | None = None) -> Edge:
        """Connect ``src``'s output port to ``dst``'s input port (the next free one if omitted)."""
        self.node(src)
        self.node(dst)
        taken = {e.dst_port for e in self.in_edges(dst)}
        if dst_port is None:
            dst_port = next(i for i in itertools.count() if i not in taken)
        if dst_port in taken:
            raise GraphError(f"input {dst_port} of {self.node(dst).name!r} is already connected")
        if src_port < 0 or dst_port < 0:
            raise GraphError("port numbers are never negative")
        edge = Edge(src, src_port, dst, dst_port)
        self._graph.add_edge(src, dst, key=(src_port, dst_port), edge=edge)
        return edge

    def disconnect(self, edge: Edge) -> None:
        try:
            self._graph.remove_edge(edge.src, edge.dst, key=(edge.src_port, edge.dst_port))
        except networkx().NetworkXError:
            raise GraphError(f"no such edge: {edge}") from None

    def in_edges(self, node_id: str) -> list[Edge]:
        """Edges into ``node_id`` ordered by input port: the argument order of the layer call."""
        edges = [d["edge"] for _, _, d in self._graph.in_edges(node_id, data=True)]
        return sorted(edges, key=lambda e: e.dst_port)

    def out_edges(self, node_id: str) -> list[Edge]:
        return [d["edge"] for _, _, d in self._graph.out_edges(node_id, data=True)]

    # ---- structure ---------------------------------------------------------------------
    @property
    def graph(self) -> nx.MultiDiGraph:
        """The underlying networkx graph (read it; edit through the document's methods)."""
        return self._graph

    def input_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.is_input]

    def effective_outputs(self) -> list[PortRef]:
        """The model outputs: the explicit list if set, else every non-input node nothing consumes."""
        if self.outputs:
            return list(self.outputs)
        return [PortRef(n.id) for n in self.nodes.values()
                if not n.is_input and self._graph.out_degree(n.id) == 0]

    def topological_order(self, exclude: frozenset[str] | set[str] = frozenset()) -> list[str]:
        """Node ids so that every node follows its inputs; insertion order breaks ties.

        Nodes in ``exclude`` (e.g. those on a cycle) are left out; a remaining cycle raises
        ``networkx.NetworkXUnfeasible`` (validation reports cycles first).
        """
        rank = {n: i for i, n in enumerate(self._graph.nodes)}
        graph = self._graph.subgraph(n for n in self._graph if n not in exclude) if exclude else self._graph
        return list(networkx().lexicographical_topological_sort(graph, key=rank.__getitem__))

    def upstream(self, node_id: str) -> set[str]:
        return networkx().ancestors(self._graph, node_id)

    def downstream(self, node_id: str) -> set[str]:
        return networkx().descendants(self._graph, node_id)

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Node]]:
        """Every node, nested blocks included, with a path id such as ``block3/n2``."""
        for node in self.nodes.values():
            path = f"{prefix}{node.id}"
            yield path, node
            if node.block is not None:
                yield from node.block.walk(path + "/")

    def copy(self) -> NetworkDocument:
        return copy.deepcopy(self)


def _snake(type_name: str) -> str:
    """``Conv2D`` → ``conv2d``, ``MaxPooling2D`` → ``max_pooling2d`` (Keras's default layer names)."""
    out = []
    for i, ch in enumerate(type_name):
        if ch.isupper() and i and (type_name[i - 1].islower() or
                                   (i + 1 < len(type_name) and type_name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    name = "".join(out)
    return "input" if type_name == INPUT_TYPE else name
