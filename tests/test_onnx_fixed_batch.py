"""Graphs that compute across ONNX axis 0 (a reduction, softmax or concat over it, torch.mm's second
operand) import with ONNX axis 0 as an ordinary data axis behind a Keras batch axis of its own: asked for
(``--fixed-batch``) or on their own, and the report says which and how to feed the model."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import helper, numpy_helper
from test_onnx_import import _float, _init, _model, bn_cnn

from designer.cli import main
from designer.graph.project import load_project
from designer.keras_bridge.build import build_model
from designer.keras_bridge.onnx_import import OnnxImportError, import_onnx
from designer.keras_bridge.weights import apply_weights


def set_statistics() -> onnx.ModelProto:
    """Rows of a (4, 6) matrix centred on their column means, a softmax down each column, the result
    stacked on the input (8, 6) and multiplied by a weight matrix: every step but the last mixes rows."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("ReduceMean", ["x"], ["mean"], "/mean", axes=[0], keepdims=1),
             helper.make_node("Sub", ["x", "mean"], ["centred"], "/sub"),
             helper.make_node("Softmax", ["centred"], ["weights"], "/softmax", axis=0),
             helper.make_node("Concat", ["weights", "x"], ["stacked"], "/concat", axis=0),
             helper.make_node("Gemm", ["stacked", "fc.w", "fc.b"], ["y"], "/fc/Gemm", transB=1)]
    return _model(nodes, [_float("x", 4, 6)], [_float("y", 8, 3)], [_init(rng, "fc.w", 3, 6), _init(rng, "fc.b", 3)])


def _onnxruntime(path, x: np.ndarray) -> np.ndarray:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.fixture
def statistics(tmp_path):
    path = tmp_path / "statistics.onnx"
    onnx.save(set_statistics(), str(path))
    return path


def test_a_graph_that_mixes_rows_falls_back_to_a_fixed_batch(statistics):
    imported = import_onnx(statistics)
    report = imported.report
    assert report.fixed_batch and report.parity is not None and report.parity.ok, report.text()
    assert imported.model.input_shape == (None, 4, 6) and imported.model.output_shape == (None, 8, 3)
    assert any(note.startswith("fixed batch (because the graph computes across ONNX axis 0)")
               and "model(x[None])[0]" in note for note in report.notes), report.notes
    assert "a batch axis of Keras's own in front" in report.text()
    assert report.to_dict()["fixed_batch"] and report.to_dict()["layout_changed"]
    kinds = {type(layer).__name__ for layer in imported.model.layers}
    assert {"Softmax", "Concatenate", "Dense", "Subtract"} <= kinds and "Lambda" not in kinds


def test_each_sample_of_a_keras_batch_is_one_whole_onnx_tensor(statistics):
    """Batch 1 runs the ONNX graph once; a batch of B runs it B times, independently (so it can train)."""
    model = import_onnx(statistics, check=False).model
    xs = np.random.default_rng(1).normal(size=(3, 4, 6)).astype(np.float32)
    batched = np.asarray(model([xs]))
    for x, y in zip(xs, batched, strict=True):
        np.testing.assert_allclose(y, _onnxruntime(statistics, x), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(model([x[None]]))[0], y, rtol=1e-6, atol=1e-7)


def test_a_plain_graph_imports_with_a_fixed_batch_when_asked(tmp_path):
    """--fixed-batch on a graph that needs none: same numbers, the whole ONNX shape as one sample."""
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], "/fc1", transB=1),
             helper.make_node("Relu", ["h"], ["y"], "/relu")]
    path = tmp_path / "mlp.onnx"
    onnx.save(_model(nodes, [_float("x", 2, 5)], [_float("y", 2, 4)], [_init(rng, "w", 4, 5), _init(rng, "b", 4)]),
              str(path))
    plain, fixed = import_onnx(path), import_onnx(path, fixed_batch=True)
    assert not plain.report.fixed_batch and plain.model.input_shape == (None, 5)
    assert fixed.report.fixed_batch and fixed.model.input_shape == (None, 2, 5)
    assert fixed.report.parity.ok and any("as asked (--fixed-batch)" in note for note in fixed.report.notes)
    x = rng.normal(size=(2, 5)).astype(np.float32)
    np.testing.assert_allclose(fixed.predict([x])[0], plain.predict([x])[0], rtol=1e-6)


def test_a_convolution_needs_the_batch_axis_so_a_fixed_batch_import_refuses_it(tmp_path):
    path = tmp_path / "cnn.onnx"
    onnx.save(bn_cnn(np.random.default_rng(0)), str(path))
    with pytest.raises(OnnxImportError, match=r"conv_Conv \(Conv: needs ONNX axis 0 as Keras's batch axis.*"
                                              r"import without --fixed-batch"):
        import_onnx(path, fixed_batch=True)


def test_when_the_fallback_fails_too_both_reasons_are_given(tmp_path):
    """Conv needs ONNX axis 0 as the batch, the softmax after it computes across it: neither import works."""
    model = bn_cnn(np.random.default_rng(0))
    softmax = helper.make_node("Softmax", ["logits"], ["probabilities"], "/softmax", axis=0)
    model.graph.node.append(softmax)
    model.graph.output[0].name = "probabilities"
    path = tmp_path / "cnn.onnx"
    onnx.save(model, str(path))
    with pytest.raises(OnnxImportError, match=r"Softmax across the batch axis.*a fixed-batch import, which keeps "
                                              r"ONNX axis 0 as data, failed too: .*conv_Conv"):
        import_onnx(path)


def test_torch_mm_of_two_inputs_becomes_a_matmul_node(tmp_path):
    """torch.mm(a, b) sums over b's axis 0: refused as a batch axis, imported with a fixed batch."""
    nodes = [helper.make_node("Gemm", ["a", "b"], ["ab"], "/mm", transA=1, alpha=0.5)]
    path = tmp_path / "mm.onnx"
    onnx.save(_model(nodes, [_float("a", 3, 2), _float("b", 3, 4)], [_float("ab", 2, 4)], []), str(path))
    imported = import_onnx(path)
    assert imported.report.fixed_batch and imported.report.parity.ok, imported.report.text()
    assert imported.report.mapping()["Gemm"] == {"Permute": 1, "keras.ops.matmul": 1, "Rescaling": 1}


def test_a_fixed_batch_project_rebuilds_and_exports_to_onnx(statistics, tmp_path, capsys):
    project = tmp_path / "statistics.kdn"
    assert main(["import", str(statistics), "-o", str(project), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["report"]
    assert report["fixed_batch"] and report["parity"]["ok"]
    loaded = load_project(project)
    rebuilt = build_model(loaded.document)
    assert apply_weights(rebuilt, dict(np.load(tmp_path / loaded.weights))) == []
    x = np.random.default_rng(3).normal(size=(4, 6)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(rebuilt([x[None]]))[0], _onnxruntime(statistics, x), rtol=1e-5, atol=1e-6)

    exported = tmp_path / "back.onnx"
    assert main(["export", str(project), "--format", "onnx", "-o", str(exported)]) == 0
    session = onnxruntime.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    again = session.run(None, {session.get_inputs()[0].name: x[None]})[0]
    np.testing.assert_allclose(again[0], _onnxruntime(statistics, x), rtol=1e-5, atol=1e-6)
    assert [d if isinstance(d, int) else None for d in session.get_inputs()[0].shape] == [None, 4, 6]


def test_a_float64_graph_computes_in_float64(tmp_path):
    """1e200 + 1 in float32 would be inf; the layers compute in the graph's float64."""
    nodes = [helper.make_node("Mul", ["x", "scale"], ["y"], "/mul"), helper.make_node("Abs", ["y"], ["a"], "/abs"),
             helper.make_node("Sqrt", ["a"], ["z"], "/sqrt")]
    scale = numpy_helper.from_array(np.array([1e150, 2.0, 3.0], np.float64), "scale")
    graph = _model(nodes, [helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, [2, 3])],
                   [helper.make_tensor_value_info("z", onnx.TensorProto.DOUBLE, [2, 3])], [scale])
    path = tmp_path / "f64.onnx"
    onnx.save(graph, str(path))
    imported = import_onnx(path)
    assert imported.report.parity.ok and any("float64" in note for note in imported.report.notes)
    x = np.array([[1e200, 1.0, 2.0], [4.0, 5.0, 6.0]])
    z = imported.predict([x])[0]
    assert z.dtype == np.float64
    np.testing.assert_allclose(z, np.sqrt(x * [1e150, 2.0, 3.0]), rtol=1e-12)


def test_a_scalar_input_gets_a_batch_axis_of_its_own(tmp_path):
    nodes = [helper.make_node("Mul", ["scale", "x"], ["y"], "/mul")]
    path = tmp_path / "scale.onnx"
    onnx.save(_model(nodes, [_float("scale"), _float("x", 3)], [_float("y", 3)], []), str(path))
    imported = import_onnx(path)
    assert imported.report.fixed_batch and imported.report.parity.ok, imported.report.text()
    assert imported.model.input_shape == [(None,), (None, 3)]
    np.testing.assert_allclose(imported.predict([np.float32(2), np.arange(3, dtype=np.float32)])[0], [0, 2, 4])
