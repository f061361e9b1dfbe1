"""Layered auto-layout: data flows top to bottom, the main path stays straight.

Layers are longest-path ranks; the order inside each rank comes from a few barycenter
sweeps (the classic Sugiyama heuristic), which keeps crossings few and runs in
milliseconds for a thousand nodes.
"""

from __future__ import annotations

from designer.graph.document import NetworkDocument

ROW_HEIGHT = 110.0
COLUMN_WIDTH = 240.0


def ranks(doc: NetworkDocument) -> dict[str, int]:
    """Longest-path layering: every node one row below its lowest input."""
    rank: dict[str, int] = {}
    for node_id in doc.topological_order():
        preds = [e.src for e in doc.in_edges(node_id)]
        rank[node_id] = max((rank[p] + 1 for p in preds), default=0)
    return rank


def auto_layout(doc: NetworkDocument, sweeps: int = 4) -> None:
    """Give every node a position (nested blocks get their own layout)."""
    if not len(doc):
        return
    rank = ranks(doc)
    rows: list[list[str]] = [[] for _ in range(max(rank.values()) + 1)]
    for node_id in doc.nodes:  # insertion order seeds the ordering
        rows[rank[node_id]].append(node_id)
    index = {n: i for row in rows for i, n in enumerate(row)}
    preds = {n: [e.src for e in doc.in_edges(n)] for n in doc.nodes}
    succs = {n: [e.dst for e in doc.out_edges(n)] for n in doc.nodes}
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        for row in (rows[1:] if down else rows[-2::-1]):
            neighbours = preds if down else succs

            def barycenter(n: str, neighbours: dict[str, list[str]] = neighbours) -> float:
                near = neighbours[n]
                return sum(index[m] for m in near) / len(near) if near else index[n]

            row.sort(key=barycenter)
            index.update({n: i for i, n in enumerate(row)})
    nodes = doc.nodes
    for r, row in enumerate(rows):
        offset = (len(row) - 1) / 2
        for i, node_id in enumerate(row):
            nodes[node_id].position = ((i - offset) * COLUMN_WIDTH, r * ROW_HEIGHT)
    for node in nodes.values():
        if node.block is not None:
            auto_layout(node.block, sweeps)


def free_offset(doc: NetworkDocument, positions: list[tuple[float, float]], step: float) -> float:
    """The smallest multiple of ``step`` that moves nodes at ``positions`` onto no node of ``doc``: pasting
    the same layers again lands beside the last copy instead of on top of it."""
    taken = {(round(x), round(y)) for x, y in (n.position for n in doc.nodes.values())}
    shift = step
    while any((round(x + shift), round(y + shift)) in taken for x, y in positions):
        shift += step
    return shift
