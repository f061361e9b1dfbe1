"""Group nodes into a block and ungroup a block: pure document surgery, no Keras.

Grouping needs the shape of every tensor entering the selection (the block's Input layers
declare it); the caller passes them from analysis.
"""

from __future__ import annotations

from designer.graph.document import BLOCK_TYPE, INPUT_TYPE, GraphError, NetworkDocument, Node, PortRef


def group(doc: NetworkDocument, node_ids: list[str], name: str,
          shapes: dict[tuple[str, int], list[int | None]]) -> Node:
    """Move ``node_ids`` into a new Block node; ``shapes[(src, port)]`` is each incoming tensor's
    shape without the batch axis."""
    chosen = [n for n in doc.nodes if n in set(node_ids)]
    if not chosen or any(doc.node(n).is_input for n in chosen):
        raise GraphError("select the layers to group (Input layers stay outside blocks)")
    inner = NetworkDocument(name)
    incoming: dict[tuple[str, int], str] = {}  # outside tensor → inner Input node
    for edge in (e for n in chosen for e in doc.in_edges(n) if e.src not in chosen):
        key = (edge.src, edge.src_port)
        if key not in incoming:
            if key not in shapes:
                raise GraphError(f"the shape entering from {doc.node(edge.src).name!r} is not known yet; "
                                 "fix the errors above the selection first")
            incoming[key] = inner.add_node(INPUT_TYPE, inner.unique_name(f"{doc.node(edge.src).name}_in"),
                                           {"shape": shapes[key][1:]}).id
    for node_id in chosen:
        node = doc.node(node_id)
        inner.add_node(node.type, node.name, node.params, id=node.id, position=node.position, note=node.note,
                       trainable=node.trainable, block=node.block, module=node.module, share=node.share,
                       call=node.call)
    for node_id in chosen:
        for edge in doc.in_edges(node_id):
            src, port = (edge.src, edge.src_port) if edge.src in chosen else (incoming[(edge.src, edge.src_port)], 0)
            inner.connect(src, node_id, src_port=port, dst_port=edge.dst_port)
    leaving = sorted({(e.src, e.src_port) for n in chosen for e in doc.out_edges(n) if e.dst not in chosen}
                     | {(o.node, o.port) for o in doc.effective_outputs() if o.node in chosen},
                     key=lambda k: (chosen.index(k[0]), k[1]))
    inner.outputs = [PortRef(n, p) for n, p in leaving]
    xs = [doc.node(n).position[0] for n in chosen]
    ys = [doc.node(n).position[1] for n in chosen]
    outside_out = [(e, leaving.index((e.src, e.src_port))) for n in chosen for e in doc.out_edges(n)
                   if e.dst not in chosen]
    outputs = list(doc.outputs)
    block = doc.add_node(BLOCK_TYPE, doc.unique_name(name), block=inner,
                         position=(sum(xs) / len(xs), sum(ys) / len(ys)))
    for node_id in chosen:
        doc.remove_node(node_id)
    for index, key in enumerate(incoming):
        doc.connect(key[0], block.id, src_port=key[1], dst_port=index)
    for edge, port in outside_out:
        doc.connect(block.id, edge.dst, src_port=port, dst_port=edge.dst_port)
    doc.outputs = [PortRef(block.id, leaving.index((o.node, o.port))) if o.node in chosen else o for o in outputs]
    return block


def ungroup(doc: NetworkDocument, block_id: str) -> list[str]:
    """Put a block's layers back into ``doc``; returns their ids there."""
    block = doc.node(block_id)
    if block.block is None:
        raise GraphError(f"{block.name!r} is not a block")
    inner = block.block
    feeds = {i.id: doc.in_edges(block_id)[k] for k, i in enumerate(inner.input_nodes())
             if k < len(doc.in_edges(block_id))}
    ids: dict[str, str] = {}
    bx, by = block.position
    for node in inner.nodes.values():
        if node.is_input:
            continue
        new_id = node.id if node.id not in doc else doc.new_id()
        ids[node.id] = new_id
        doc.add_node(node.type, doc.unique_name(node.name), node.params, id=new_id,
                     position=(bx + node.position[0], by + node.position[1]), note=node.note,
                     trainable=node.trainable and block.trainable, block=node.block, module=node.module,
                     share=ids.get(node.share, node.share) if node.share else None, call=node.call)
    for edge in inner.edges:
        dst = ids[edge.dst]
        if edge.src in feeds:
            outer = feeds[edge.src]
            doc.connect(outer.src, dst, src_port=outer.src_port, dst_port=edge.dst_port)
        elif edge.src in ids:
            doc.connect(ids[edge.src], dst, src_port=edge.src_port, dst_port=edge.dst_port)
    inner_outputs = inner.effective_outputs()
    for edge in doc.out_edges(block_id):
        ref = inner_outputs[edge.src_port]
        doc.disconnect(edge)
        doc.connect(ids[ref.node], edge.dst, src_port=ref.port, dst_port=edge.dst_port)
    doc.outputs = [PortRef(ids[inner_outputs[o.port].node], inner_outputs[o.port].port) if o.node == block_id else o
                   for o in doc.outputs]
    doc.remove_node(block_id)
    return list(ids.values())
