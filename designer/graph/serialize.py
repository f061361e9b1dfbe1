"""The document's JSON form, read strictly: every problem names its place in the file.

Reading never executes anything and never trusts a type: a file made by hand, by a newer
version or by an attacker gets a ``DocumentFormatError`` such as
``graph.nodes[3].params.units: expected a finite number, got Infinity``.
"""

from __future__ import annotations

import math
from typing import Any

from designer.graph.document import BLOCK_TYPE, GraphError, NetworkDocument, PortRef

MAX_INT = 2**63 - 1
MAX_DEPTH = 64


class DocumentFormatError(ValueError):
    """A project or graph file that cannot be read; ``where`` is the place in the file."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}" if where else problem)


# ---- writing ------------------------------------------------------------------------------
def document_to_dict(doc: NetworkDocument) -> dict[str, Any]:
    nodes = []
    for node in doc.nodes.values():
        entry: dict[str, Any] = {"id": node.id, "type": node.type, "name": node.name,
                                 "params": node.params, "position": list(node.position)}
        if node.note:
            entry["note"] = node.note
        if not node.trainable:
            entry["trainable"] = False
        if node.block is not None:
            entry["block"] = document_to_dict(node.block)
        for key in ("module", "share", "call"):
            if getattr(node, key):
                entry[key] = getattr(node, key)
        nodes.append(entry)
    graph: dict[str, Any] = {
        "name": doc.name,
        "nodes": nodes,
        "edges": [{"from": [e.src, e.src_port], "to": [e.dst, e.dst_port]} for e in doc.edges],
    }
    if doc.outputs:
        graph["outputs"] = [[o.node, o.port] for o in doc.outputs]
    return graph


# ---- reading ------------------------------------------------------------------------------
_NODE_FIELDS = {"id", "type", "name", "params", "position", "note", "trainable", "block", "module", "share", "call"}
_GRAPH_FIELDS = {"name", "nodes", "edges", "outputs"}


def document_from_dict(data: Any, where: str = "graph", depth: int = 0) -> NetworkDocument:
    if depth > MAX_DEPTH:
        raise DocumentFormatError(where, f"blocks nested deeper than {MAX_DEPTH} levels")
    obj = expect_object(data, where, required={"nodes"}, allowed=_GRAPH_FIELDS)
    doc = NetworkDocument(expect_str(obj.get("name", "model"), f"{where}.name"))
    nodes = expect_list(obj["nodes"], f"{where}.nodes")
    for i, raw in enumerate(nodes):
        _read_node(doc, raw, f"{where}.nodes[{i}]", depth)
    for i, raw in enumerate(expect_list(obj.get("edges", []), f"{where}.edges")):
        place = f"{where}.edges[{i}]"
        edge = expect_object(raw, place, required={"from", "to"}, allowed={"from", "to"})
        src, src_port = _read_port(doc, edge["from"], f"{place}.from")
        dst, dst_port = _read_port(doc, edge["to"], f"{place}.to")
        try:
            doc.connect(src, dst, src_port=src_port, dst_port=dst_port)
        except GraphError as exc:
            raise DocumentFormatError(place, str(exc)) from None
    for i, raw in enumerate(expect_list(obj.get("outputs", []), f"{where}.outputs")):
        doc.outputs.append(PortRef(*_read_port(doc, raw, f"{where}.outputs[{i}]")))
    return doc


def _read_node(doc: NetworkDocument, raw: Any, where: str, depth: int) -> None:
    obj = expect_object(raw, where, required={"id", "type", "name"}, allowed=_NODE_FIELDS)
    node_id = expect_str(obj["id"], f"{where}.id", nonempty=True)
    if node_id in doc:
        raise DocumentFormatError(f"{where}.id", f"id {node_id!r} is used by another node")
    node_type = expect_str(obj["type"], f"{where}.type", nonempty=True)
    params = expect_object(obj.get("params", {}), f"{where}.params")
    for key, value in params.items():
        check_json_value(value, f"{where}.params.{key}")
    position = expect_list(obj.get("position", [0, 0]), f"{where}.position")
    if len(position) != 2:
        raise DocumentFormatError(f"{where}.position", "expected [x, y]")
    xy = tuple(expect_number(v, f"{where}.position[{i}]") for i, v in enumerate(position))
    block = None
    if node_type == BLOCK_TYPE:
        if "block" not in obj:
            raise DocumentFormatError(where, "a Block node needs a 'block' sub-graph")
        block = document_from_dict(obj["block"], f"{where}.block", depth + 1)
    elif "block" in obj:
        raise DocumentFormatError(f"{where}.block", f"only Block nodes have a sub-graph, not {node_type}")
    call = None
    if "call" in obj:
        call = expect_object(obj["call"], f"{where}.call", required={"args", "kwargs"}, allowed={"args", "kwargs"})
        check_json_value(call, f"{where}.call")
    share = obj.get("share")
    if share is not None and expect_str(share, f"{where}.share") not in doc:
        raise DocumentFormatError(f"{where}.share", f"no earlier node with id {share!r} to share a layer with")
    doc.add_node(node_type, expect_str(obj["name"], f"{where}.name", nonempty=True), params,
                 id=node_id, position=xy,  # type: ignore[arg-type]
                 note=expect_str(obj.get("note", ""), f"{where}.note"),
                 trainable=expect_bool(obj.get("trainable", True), f"{where}.trainable"),
                 block=block, module=expect_str(obj.get("module", ""), f"{where}.module"),
                 share=share, call=call)


def _read_port(doc: NetworkDocument, raw: Any, where: str) -> tuple[str, int]:
    pair = expect_list(raw, where)
    if len(pair) != 2:
        raise DocumentFormatError(where, "expected [node_id, port]")
    node_id = expect_str(pair[0], f"{where}[0]")
    if node_id not in doc:
        raise DocumentFormatError(f"{where}[0]", f"no node with id {node_id!r}")
    port = expect_int(pair[1], f"{where}[1]")
    if not 0 <= port < 1024:
        raise DocumentFormatError(f"{where}[1]", f"port {port} is out of range (0–1023)")
    return node_id, port


# ---- typed accessors shared by every reader of project files ---------------------------
def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null"}.get(type(value), "a number")


def expect_object(value: Any, where: str, *, required: set[str] = frozenset(),  # type: ignore[assignment]
                  allowed: set[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DocumentFormatError(where, f"expected an object, got {_kind(value)}")
    missing = sorted(required - value.keys())
    if missing:
        raise DocumentFormatError(where, f"missing field {missing[0]!r}")
    if allowed is not None:
        unknown = sorted(value.keys() - allowed)
        if unknown:
            raise DocumentFormatError(
                f"{where}.{unknown[0]}",
                f"unknown field (expected one of: {', '.join(sorted(allowed))})")
    return value


def expect_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise DocumentFormatError(where, f"expected a list, got {_kind(value)}")
    return value


def expect_str(value: Any, where: str, *, nonempty: bool = False) -> str:
    if not isinstance(value, str):
        raise DocumentFormatError(where, f"expected a string, got {_kind(value)}")
    if nonempty and not value.strip():
        raise DocumentFormatError(where, "must not be empty")
    return value


def expect_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise DocumentFormatError(where, f"expected true or false, got {_kind(value)}")
    return value


def expect_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DocumentFormatError(where, f"expected a whole number, got {_kind(value)}")
    check_json_value(value, where)
    return value


def expect_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DocumentFormatError(where, f"expected a number, got {_kind(value)}")
    check_json_value(value, where)
    return float(value)


def check_json_value(value: Any, where: str, depth: int = 0) -> None:
    """Refuse what JSON allows but no layer parameter can mean: NaN, ±Infinity, 20-digit ints."""
    if depth > MAX_DEPTH:
        raise DocumentFormatError(where, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise DocumentFormatError(where, f"number {str(value)[:20]}… is too large")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise DocumentFormatError(where, f"expected a finite number, got {value}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_json_value(item, f"{where}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json_value(item, f"{where}.{key}", depth + 1)


def restore_document(doc: NetworkDocument, data: dict[str, Any]) -> None:
    """Make ``doc`` equal to the dict it was saved as, in place (undo of structural edits)."""
    doc.__dict__.update(document_from_dict(data).__dict__)
