"""Import an ONNX network (a PyTorch export, a model-zoo file) as a functional Keras model made
of ordinary layers with their weights, plus a report that checks it against onnxruntime.

``import_model`` then turns the model into a document like any Keras model, so codegen,
training and export need nothing ONNX-specific.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

from designer.keras_bridge.onnx_import import ops_nn, ops_rnn, ops_tensor  # noqa: F401  (fill the handler table)
from designer.keras_bridge.onnx_import.converter import Converter, OnnxImportError
from designer.keras_bridge.onnx_import.layout import Perm, to_keras, to_onnx
from designer.keras_bridge.onnx_import.report import ImportReport, Parity, TensorLayout, shape_text
from designer.keras_bridge.onnx_import.saved_model import saved_model_proto
from designer.keras_bridge.onnx_import.torch_source import is_torch_source, torch_proto

__all__ = ["ImportReport", "OnnxImport", "OnnxImportError", "import_onnx", "is_onnx_source"]


def is_onnx_source(source: str | Path) -> bool:
    """Whether ``source`` imports through ONNX: an ``.onnx`` file, a folder (a TensorFlow SavedModel) or a
    PyTorch file."""
    path = Path(source)
    return path.suffix.lower() == ".onnx" or path.is_dir() or is_torch_source(path)


@dataclass
class OnnxImport:
    model: keras.Model
    report: ImportReport
    input_axes: list[Perm]
    output_axes: list[Perm]

    def predict(self, onnx_inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the Keras model on inputs laid out as ONNX wants them; outputs in ONNX layout too
        (a fixed-batch import runs them as one sample)."""
        feeds = [to_keras(x, axes) for x, axes in zip(onnx_inputs, self.input_axes, strict=True)]
        outputs = self.model(feeds, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return [to_onnx(keras.ops.convert_to_numpy(y), axes) for y, axes in zip(outputs, self.output_axes, strict=True)]


def import_onnx(path: str | Path, channels_last: bool = True, check: bool = True, placeholders: bool = False,
                trust_code: bool = False, input_shape: list[int] | None = None,
                fixed_batch: bool = False) -> OnnxImport:
    """Convert the ONNX file (or TensorFlow SavedModel folder, through tf2onnx, or PyTorch file, through
    torch.onnx.export: only with ``trust_code``) at ``path``; ``check`` compares the result with onnxruntime;
    ``placeholders`` puts marked stand-ins where operators have no Keras equivalent instead of refusing.
    ``fixed_batch`` keeps ONNX axis 0 as data behind a Keras batch axis of its own; without it, a graph that
    computes across ONNX axis 0 falls back to that on its own (the report says so)."""
    source = Path(path)
    if source.is_dir():
        proto = saved_model_proto(source)
    elif is_torch_source(source):
        proto = torch_proto(source, trust_code, input_shape)
    elif not source.is_file():
        raise OnnxImportError(f"{path}: no such file")
    else:
        try:
            proto = onnx.load(str(source))
        except Exception as exc:  # protobuf's DecodeError and friends
            raise OnnxImportError(f"{path}: not a readable ONNX model ({str(exc).splitlines()[0][:200]})") from None
    converter, (model, input_names, output_names) = _convert(proto, channels_last, placeholders, fixed_batch)
    values = converter.values
    result = OnnxImport(model, _report(source.name, proto, converter, model, input_names, output_names),
                        [values[n].perm for n in input_names], [values[n].perm for n in output_names])
    if converter.fixed_batch:
        result.report.notes.append(_fixed_batch_note(result.report, fixed_batch))
    if converter.float_dtype == "float64":
        result.report.notes.append("the graph computes in float64, and so do its Keras layers (dtype policy "
                                   "float64; Keras's default is float32)")
    if is_torch_source(source):
        result.report.notes.append("converted from PyTorch by torch.onnx.export (opset 17) in a separate process")
    if converter.placed:
        result.report.notes.append("no parity check: placeholders compute nothing until replaced")
    elif check:
        try:
            result.report.parity = parity(result, proto, converter.batch, converter.index_bounds)
        except Exception as exc:  # onnxruntime's own refusal (e.g. an opset it dropped) is the news
            result.report.notes.append(f"no parity check: neither onnxruntime nor onnx's reference evaluator "
                                       f"could run the source "
                                       f"({str(exc).splitlines()[0][:200]})")
    return result


Converted = tuple[keras.Model, list[str], list[str]]


def _convert(proto: onnx.ModelProto, channels_last: bool, placeholders: bool,
             fixed_batch: bool) -> tuple[Converter, Converted]:
    """The conversion, or a fixed-batch one where the plain one stopped at nodes that compute across ONNX
    axis 0 (refused, or placeholders) and the fixed-batch one does better."""
    converter = Converter(proto, channels_last, placeholders, fixed_batch)
    try:
        converted: Converted | None = converter.convert()
        error = None
    except OnnxImportError as exc:
        converted, error = None, exc
    if converter.across_batch and not fixed_batch:
        fallback = Converter(proto, channels_last, placeholders, fixed_batch=True)
        try:
            fixed = fallback.convert()
        except OnnxImportError as exc:
            if error is not None:
                raise OnnxImportError(f"{error}; a fixed-batch import, which keeps ONNX axis 0 as data, "
                                      f"failed too: {exc}") from None
        else:
            if converted is None or len(fallback.placed) < len(converter.placed):
                return fallback, fixed
    if converted is None:
        assert error is not None
        raise error
    return converter, converted


def _fixed_batch_note(report: ImportReport, asked: bool) -> str:
    why = "as asked (--fixed-batch)" if asked else "because the graph computes across ONNX axis 0"
    first = report.inputs[0] if report.inputs else None
    example = f": ONNX {shape_text(first.onnx_shape)} is Keras {shape_text(first.keras_shape)}" if first else ""
    return (f"fixed batch ({why}): ONNX axis 0 is an ordinary data axis and Keras has a batch axis of its own, "
            f"one whole ONNX tensor per sample{example}. Run the graph on x as model(x[None])[0]; a batch of B "
            "such tensors computes B independent results, so training and export work on those samples")


def _report(source: str, proto: onnx.ModelProto, cv: Converter, model: keras.Model, input_names: list[str],
            output_names: list[str]) -> ImportReport:
    declared = {info.name: info.type.tensor_type.shape.dim for info in [*proto.graph.input, *proto.graph.output]}

    def layout_of(name: str) -> TensorLayout:
        value = cv.values[name]
        dims = declared.get(name)  # None for a dynamic axis, as the file declares it
        shape = ([d.dim_value if d.HasField("dim_value") else None for d in dims] if dims
                 else list(cv.onnx_shape(value)))
        return TensorLayout(name, shape, list(value.tensor.shape), list(value.perm))

    weights = sum(cv.constants[n].size for n in cv.read_constants if cv.constants[n].dtype.kind == "f")
    return ImportReport(
        source=source, producer=f"{proto.producer_name} {proto.producer_version}".strip(), opset=cv.opset,
        operators=cv.operator_counts(), became=cv.became, folded=cv.folded,
        inputs=[layout_of(n) for n in input_names], outputs=[layout_of(n) for n in output_names],
        permutes=cv.permutes, parameters_onnx=int(weights), parameters_keras=int(model.count_params()),
        placeholders=cv.placed)


def probe_inputs(proto: onnx.ModelProto, batch: int, bounds: dict[str, int]) -> dict[str, np.ndarray]:
    """Random inputs of the shapes and types the graph declares (indices within an embedding's size)."""
    rng = np.random.default_rng(0)
    initializers = {t.name for t in proto.graph.initializer}
    feeds = {}
    for info in proto.graph.input:
        if info.name in initializers:
            continue
        tensor_type = info.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (batch if i == 0 else 1)
                for i, d in enumerate(tensor_type.shape.dim)]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
        if np.issubdtype(dtype, np.integer):
            feeds[info.name] = rng.integers(0, bounds.get(info.name, 2), dims).astype(dtype)
        else:
            feeds[info.name] = rng.standard_normal(dims).astype(dtype)
    return feeds


def parity(imported: OnnxImport, proto: onnx.ModelProto, batch: int, bounds: dict[str, int]) -> Parity:
    """The imported model against onnxruntime on a random input, or, for a graph onnxruntime has no
    kernels for (the oldest opsets), against onnx's own reference evaluator."""
    import onnxruntime

    feeds = probe_inputs(proto, batch, bounds)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # its warnings about old opsets are not the user's business
    against, refusal = "onnxruntime", ""
    try:
        session = onnxruntime.InferenceSession(proto.SerializeToString(), options,
                                               providers=["CPUExecutionProvider"])
        expected = session.run(None, feeds)
    except Exception as exc:  # its refusal (an opset it dropped) names the operator
        expected = ReferenceEvaluator(proto).run(None, feeds)
        against = "onnx's reference evaluator"
        refusal = f"; onnxruntime refused the graph: {str(exc).splitlines()[0].rsplit(' : ', 1)[-1][:120]}"
    actual = imported.predict(list(feeds.values()))
    max_abs = max(_max_difference(a, e) for a, e in zip(actual, expected, strict=True))
    scale = max(float(np.nanmax(np.abs(e), initial=0.0)) for e in expected)
    shapes = ", ".join(str(tuple(x.shape)) for x in feeds.values())
    return Parity(max_abs, max_abs / scale if scale else max_abs, f"random input {shapes}{refusal}", against)


def _max_difference(actual: np.ndarray, expected: np.ndarray) -> float:
    """The largest absolute difference; NaN where the source gives NaN too (sqrt of a negative probe) is
    equal, NaN anywhere else infinitely wrong."""
    both = np.isnan(actual) & np.isnan(expected)
    difference = np.where(both, 0.0, np.abs(actual.astype(np.float64) - expected))
    return float("inf") if np.isnan(difference).any() else float(np.max(difference, initial=0.0))
