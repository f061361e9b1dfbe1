from __future__ import annotations

import networkx as nx
import pytest

from designer.graph.document import Edge, GraphError, NetworkDocument, PortRef
from designer.graph.layout import auto_layout, ranks


def test_nodes_have_stable_ids_and_keras_style_names():
    doc = NetworkDocument()
    a = doc.add_node("Conv2D")
    b = doc.add_node("Conv2D")
    c = doc.add_node("MaxPooling2D")
    assert (a.id, b.id) == ("n1", "n2")
    assert (a.name, b.name, c.name) == ("conv2d", "conv2d_1", "max_pooling2d")
    doc.remove_node(a.id)
    assert doc.add_node("Dense").id == "n4"  # ids are never reused


def test_ports_are_ordered_and_next_free_port_is_used():
    doc = NetworkDocument()
    x, y, add = doc.add_node("InputLayer"), doc.add_node("InputLayer"), doc.add_node("Add")
    doc.connect(y.id, add.id, dst_port=1)
    doc.connect(x.id, add.id)
    assert [e.src for e in doc.in_edges(add.id)] == [x.id, y.id]
    with pytest.raises(GraphError, match="already connected"):
        doc.connect(x.id, add.id, dst_port=1)
    with pytest.raises(GraphError, match="no node"):
        doc.connect("nope", add.id)


def test_outputs_default_to_unconsumed_nodes_and_can_be_explicit():
    doc = NetworkDocument()
    inp = doc.add_node("InputLayer")
    a = doc.add_node("Dense", params={"units": 2})
    b = doc.add_node("Dense", params={"units": 3})
    doc.connect(inp.id, a.id)
    doc.connect(a.id, b.id)
    assert doc.effective_outputs() == [PortRef(b.id)]
    doc.outputs = [PortRef(a.id), PortRef(b.id)]
    assert doc.effective_outputs() == [PortRef(a.id), PortRef(b.id)]
    doc.remove_node(a.id)
    assert doc.outputs == [PortRef(b.id)] and doc.edges == []


def test_topological_order_follows_insertion_among_equals():
    doc = NetworkDocument()
    ids = [doc.add_node("InputLayer").id for _ in range(3)]
    merge = doc.add_node("Concatenate")
    for i in reversed(ids):
        doc.connect(i, merge.id)
    assert doc.topological_order() == [*ids, merge.id]
    doc.connect(merge.id, ids[0])
    with pytest.raises(nx.NetworkXUnfeasible):
        doc.topological_order()


def test_nested_blocks_walk_with_path_ids():
    inner = NetworkDocument("block")
    i = inner.add_node("InputLayer")
    d = inner.add_node("Dense", params={"units": 4})
    inner.connect(i.id, d.id)
    doc = NetworkDocument()
    blk = doc.add_node("Block", "blk", block=inner)
    assert [p for p, _ in doc.walk()] == [blk.id, f"{blk.id}/{i.id}", f"{blk.id}/{d.id}"]
    with pytest.raises(GraphError):
        doc.add_node("Block")  # a block needs its inner graph


def test_disconnect():
    doc = NetworkDocument()
    a, b = doc.add_node("InputLayer"), doc.add_node("Dense")
    edge = doc.connect(a.id, b.id)
    assert edge == Edge(a.id, 0, b.id, 0)
    doc.disconnect(edge)
    assert doc.edges == []
    with pytest.raises(GraphError):
        doc.disconnect(edge)


def test_layout_keeps_main_path_straight_and_rows_ordered():
    doc = NetworkDocument()
    prev = doc.add_node("InputLayer").id
    for _ in range(5):
        conv = doc.add_node("Conv2D").id
        add = doc.add_node("Add").id
        doc.connect(prev, conv)
        doc.connect(prev, add)
        doc.connect(conv, add)
        prev = add
    auto_layout(doc)
    rank = ranks(doc)
    for edge in doc.edges:
        assert rank[edge.dst] > rank[edge.src]
        assert doc.node(edge.dst).position[1] > doc.node(edge.src).position[1]
    adds = [n for n in doc.nodes.values() if n.type == "Add"]
    assert all(n.position[0] == 0 for n in adds)  # single-node rows sit on the spine


def test_augmentations_go_in_after_the_input_and_come_out_cleanly():
    from designer.graph.augmentation import augmentations, set_augmentation
    from designer.graph.serialize import document_to_dict

    doc = NetworkDocument("aug")
    x = doc.add_node("InputLayer", "image", {"shape": [8, 8, 1]})
    conv = doc.add_node("Conv2D", "conv", {"filters": 4, "kernel_size": [3, 3]})
    doc.connect(x.id, conv.id)
    before = document_to_dict(doc)
    set_augmentation(doc, "flip", True)
    set_augmentation(doc, "rotation", True)
    assert augmentations(doc) == {"flip", "rotation"}
    order = [doc.node(n).name for n in doc.topological_order()]
    assert order == ["image", "augment_flip", "augment_rotation", "conv"]
    set_augmentation(doc, "flip", False)
    assert [doc.node(n).name for n in doc.topological_order()] == ["image", "augment_rotation", "conv"]
    set_augmentation(doc, "rotation", False)
    assert document_to_dict(doc)["edges"] == before["edges"] and augmentations(doc) == set()
