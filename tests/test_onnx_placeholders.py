"""Operators with no Keras equivalent: listed by node and refused, or (``--placeholders``, and always in the
window) replaced by marked placeholders that analysis reports as errors pinned to them, as MATLAB's Deep
Network Designer does; the rest of the network imports with its weights and shapes."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import helper
from PySide6.QtWidgets import QFileDialog
from test_gui import settle, window  # noqa: F401  (the window fixture)
from test_onnx_import import _float, _init, _model

from designer.app.import_report import ImportReportDialog
from designer.cli import main
from designer.graph.project import load_project
from designer.keras_bridge.build import BuildError, build_model
from designer.keras_bridge.importer import import_model
from designer.keras_bridge.onnx_import import OnnxImportError, import_onnx


def dilated_pool_cnn() -> onnx.ModelProto:
    """Conv → a dilated MaxPool (no Keras pooling dilates) → Relu → Flatten → Linear."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["c"], "/conv/Conv", pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["c"], ["p"], "/pool/MaxPool", kernel_shape=[2, 2], dilations=[2, 2]),
             helper.make_node("Relu", ["p"], ["r"], "/relu/Relu"),
             helper.make_node("Flatten", ["r"], ["flat"], "/Flatten"),
             helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], "/fc/Gemm", transB=1)]
    weights = [_init(rng, "conv.w", 4, 3, 3, 3), _init(rng, "conv.b", 4), _init(rng, "fc.w", 5, 4 * 6 * 6),
               _init(rng, "fc.b", 5)]
    return _model(nodes, [_float("x", 1, 3, 8, 8)], [_float("logits", 1, 5)], weights)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "dilated.onnx"
    onnx.save(dilated_pool_cnn(), str(path))
    return path


def test_without_placeholders_the_import_refuses_naming_the_node_and_the_option(source):
    with pytest.raises(OnnxImportError, match=r"pool_MaxPool \(MaxPool: dilated pooling.*--placeholders"):
        import_onnx(source)


def test_a_placeholder_keeps_the_rest_and_analysis_pins_an_error_to_it(source, analyzer):
    imported = import_onnx(source, placeholders=True)
    report = imported.report
    assert [(node, op) for node, op, _ in report.placeholders] == [("pool_MaxPool", "MaxPool")]
    assert "PLACEHOLDERS: 1 node(s)" in report.text() and report.to_dict()["placeholders"][0]["op"] == "MaxPool"
    assert report.parity is None and any("placeholders" in note for note in report.notes)
    doc = import_model(imported.model)
    marked = [n for n in doc.nodes.values() if n.type == "Placeholder"]
    assert len(marked) == 1 and marked[0].params["op_type"] == "MaxPool"
    analysis = analyzer.analyze(doc)
    errors = [d for d in analysis.diagnostics if d.severity == "error"]
    assert [(d.node, d.code) for d in errors] == [(marked[0].id, "placeholder")]
    assert "replace it" in errors[0].message and "dilated pooling" in errors[0].message
    by_name = {n.name: analysis.nodes[n.id] for n in doc.nodes.values()}
    assert by_name["pool_MaxPool"].outputs[0][0] == (None, 6, 6, 4)  # ONNX's shape, channels last
    assert by_name["fc_Gemm"].outputs[0][0] == (None, 5)  # shapes go on past the placeholder
    conv = imported.model.get_layer("conv_Conv")  # the converted layers have the file's weights
    np.testing.assert_array_equal(conv.get_weights()[1], onnx.numpy_helper.to_array(
        next(t for t in dilated_pool_cnn().graph.initializer if t.name == "conv.b")))
    with pytest.raises(BuildError, match="placeholder for MaxPool"):
        build_model(doc)  # never trained or exported while it computes nothing


def test_cli_placeholders_write_the_project_and_analyze_fails_on_them(source, tmp_path, capsys):
    out = tmp_path / "p.kdn"
    assert main(["import", str(source), "-o", str(out), "--placeholders", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [p["node"] for p in result["report"]["placeholders"]] == ["pool_MaxPool"]
    assert any(n.type == "Placeholder" for n in load_project(out).document.nodes.values())
    assert main(["analyze", str(out), "--json"]) == 1
    diagnostics = json.loads(capsys.readouterr().out)["diagnostics"]
    assert [d["code"] for d in diagnostics if d["severity"] == "error"] == ["placeholder"]


def test_the_window_imports_with_placeholders_shown_red(qtbot, window, source, monkeypatch):  # noqa: F811
    win = window
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(source), ""))
    win.actions_by_name["Import model (Keras, ONNX)"].trigger()
    settle(qtbot, win)
    marked = next(n for n in win.state.doc.nodes.values() if n.type == "Placeholder")
    item = win.canvas.canvas_scene.nodes[marked.id]
    assert item.error and "replace it" in item.error
    others = [win.canvas.canvas_scene.nodes[n.id] for n in win.state.doc.nodes.values() if n.id != marked.id]
    assert not any(o.error for o in others)
    qtbot.waitUntil(lambda: win.findChild(ImportReportDialog) is not None, timeout=30_000)
    dialog = win.findChild(ImportReportDialog)
    assert "placeholders" in dialog.headline.text() and "pool_MaxPool (MaxPool)" in dialog.body.toPlainText()

