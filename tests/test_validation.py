"""Every invalid-graph kind gets a diagnostic on the right node, and validation never raises."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from designer.graph.document import NetworkDocument
from designer.graph.validation import validate


def codes_at(diags):
    return {(d.code, d.node) for d in diags}


def test_valid_chain_has_no_diagnostics():
    doc = NetworkDocument()
    a, b = doc.add_node("InputLayer"), doc.add_node("Dense", params={"units": 2})
    doc.connect(a.id, b.id)
    assert validate(doc) == []


def test_cycle_is_pinned_to_each_node_on_it():
    doc = NetworkDocument()
    inp, a, b = doc.add_node("InputLayer"), doc.add_node("Dense", "a"), doc.add_node("Add", "b")
    doc.connect(inp.id, b.id)
    doc.connect(b.id, a.id)
    doc.connect(a.id, b.id)
    diags = validate(doc)
    assert {("cycle", a.id), ("cycle", b.id)} <= codes_at(diags)
    assert ("no-output", None) in codes_at(diags)


def test_unconnected_required_input_names_the_port(catalog):
    doc = NetworkDocument()
    q = doc.add_node("InputLayer")
    mha = doc.add_node("MultiHeadAttention", params={"num_heads": 2, "key_dim": 4})
    doc.connect(q.id, mha.id)
    diags = [d for d in validate(doc, catalog.ports) if d.code == "unconnected-input"]
    assert [(d.node, d.message) for d in diags] == [(mha.id, "input 'value' is not connected")]


def test_dangling_node_is_warned_and_duplicate_names_are_errors():
    doc = NetworkDocument()
    inp = doc.add_node("InputLayer", "x")
    out = doc.add_node("Dense", "x")
    doc.connect(inp.id, out.id)
    doc.outputs = []
    side = doc.add_node("Dense", "side")
    doc.connect(inp.id, side.id)
    from designer.graph.document import PortRef

    doc.outputs = [PortRef(out.id)]
    got = codes_at(validate(doc))
    assert ("unreachable", side.id) in got
    assert {("duplicate-name", inp.id), ("duplicate-name", out.id)} <= got


def test_no_input_and_no_output():
    doc = NetworkDocument()
    doc.add_node("Dense")
    assert ("no-input", None) in codes_at(validate(doc))
    doc2 = NetworkDocument()
    doc2.add_node("InputLayer")
    assert ("no-output", None) in codes_at(validate(doc2))


def test_input_with_incoming_edge_and_port_gap_and_too_many(catalog):
    doc = NetworkDocument()
    a, b = doc.add_node("InputLayer", "a"), doc.add_node("InputLayer", "b")
    doc.connect(a.id, b.id)
    add = doc.add_node("Add")
    for port in (0, 1, 3):
        doc.connect(a.id, add.id, dst_port=port)
    dense = doc.add_node("Dense", params={"units": 1})
    doc.connect(a.id, dense.id)
    doc.connect(add.id, dense.id)
    got = codes_at(validate(doc, catalog.ports))
    assert {("input-has-inputs", b.id), ("input-gap", add.id), ("too-many-inputs", dense.id)} <= got


def test_problems_inside_blocks_carry_the_block_path():
    inner = NetworkDocument("inner")
    inner.add_node("InputLayer")
    lonely = inner.add_node("Dense")
    doc = NetworkDocument()
    inp = doc.add_node("InputLayer")
    blk = doc.add_node("Block", "blk", block=inner)
    doc.connect(inp.id, blk.id)
    assert ("unconnected-input", f"{blk.id}/{lonely.id}") in codes_at(validate(doc))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["InputLayer", "Dense", "Add", "Concatenate", "Flatten"]), min_size=0, max_size=8),
       st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7), st.integers(0, 3)), max_size=16))
def test_validation_never_raises_on_any_graph(types, edges):
    doc = NetworkDocument()
    ids = [doc.add_node(t, f"l{i % 3}").id for i, t in enumerate(types)]
    for src, dst, port in edges:
        if src < len(ids) and dst < len(ids):
            with contextlib.suppress(ValueError):
                doc.connect(ids[src], ids[dst], dst_port=port)
    for d in validate(doc):
        assert d.severity in ("error", "warning")
        assert d.node is None or d.node in doc
