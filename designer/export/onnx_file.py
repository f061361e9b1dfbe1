"""ONNX through ``tf2onnx.convert.from_keras`` with explicit, named input signatures.

An explicit signature freezes adapted ``Normalization`` constants into the graph (Keras's own
ONNX export leaves them as extra inputs) and keeps the batch dimension dynamic. tf2onnx turns
exact ``gelu`` into ``Erfc``, which ONNX lacks; a handler rewrites it as ``1 - Erf(x)``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras
import numpy as np

from designer.export.probes import Loaded
from designer.export.report import ExportError
from designer.export.savedmodel import input_signature

DEFAULT_OPSET = 17
SIZE_LIMIT = 2**31 - 2**24  # protobuf's 2 GB ceiling, less room for the graph itself


def _erfc(ctx: Any, node: Any, name: str, args: Any) -> None:
    from onnx import helper
    from tf2onnx import utils

    dtype = helper.tensor_dtype_to_np_dtype(ctx.get_dtype(node.input[0]))
    erf = ctx.make_node("Erf", [node.input[0]], op_name_scope=node.name)
    one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
    node.type = "Sub"
    ctx.replace_inputs(node, [one.output[0], erf.output[0]])


OP_HANDLERS = {"Erfc": (_erfc, [])}


@contextmanager
def _grouped_conv_traceable() -> Iterator[None]:
    """Keras runs grouped convolutions (ConvNeXt's depthwise Conv2D) in an XLA-compiled function,
    because TensorFlow's CPU kernel lacks them; tf2onnx cannot look inside such a function. The
    graph is only traced here, never run by TensorFlow, so the plain convolution is traced instead
    and becomes an ONNX Conv with ``group``."""
    from keras.src.backend.tensorflow import nn

    original = nn.conv

    def conv(inputs: Any, kernel: Any, strides: Any = 1, padding: str = "valid", data_format: Any = None,
             dilation_rate: Any = 1) -> Any:
        import tensorflow as tf

        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), dilations=dilation_rate,
                                 data_format=nn._convert_data_format(data_format, len(inputs.shape)))

    nn.conv = conv
    try:
        yield
    finally:
        nn.conv = original


def supported_opsets() -> range:
    from tf2onnx import constants

    return range(min(constants.OPSET_TO_IR_VERSION), max(constants.OPSET_TO_IR_VERSION) + 1)


def write(model: keras.Model, path: Path, opset: int = DEFAULT_OPSET, size_limit: int = SIZE_LIMIT) -> list[str]:
    import onnx
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.CRITICAL)  # unsupported ops are reported below, by layer
    try:
        with _grouped_conv_traceable():
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=input_signature(model), opset=opset,
                                                  custom_op_handlers=OP_HANDLERS)
    except Exception as exc:
        raise ExportError(f"tf2onnx cannot convert the model at opset {opset}: {str(exc).strip()[:400]}; "
                          "try another --opset or export to SavedModel") from None
    missing = [n for n in proto.graph.node if not onnx.defs.has(n.op_type, n.domain)]
    if missing:
        raise ExportError("; ".join(_explain(model, n.op_type, n.name, opset) for n in missing[:5]))
    weights = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    if weights < size_limit:
        path.write_bytes(proto.SerializeToString())
        return []
    data = path.name + ".data"
    onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=data)
    return [f"the weights ({weights / 2**30:.2f} GB) are in {data} beside the model: ONNX files stop at 2 GB"]


def _explain(model: keras.Model, op: str, node_name: str, opset: int) -> str:
    layers = {layer.name: layer for layer in model._flatten_layers(include_self=False)}
    parts = node_name.split("/")[::-1]  # the innermost layer first: a nested model's name says little
    found = next((layers[p] for p in parts if p in layers), None) or next(
        (layers[b] for b in (re.sub(r"_\d+$", "", p) for p in parts) if b in layers), None)
    where = f"layer {found.name!r} ({type(found).__name__})" if found else f"node {node_name!r}"
    return (f"{where} uses the TensorFlow op {op}, which has no ONNX conversion at opset {opset}: "
            "try a higher --opset, or replace that layer with one built from supported ops")


def load(path: Path) -> Loaded:
    """Runs on onnxruntime's CPU provider; batches of 1 and of several prove the batch is dynamic."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    return names, lambda feeds: dict(zip(outputs, session.run(outputs, {n: feeds[n] for n in names}), strict=True))
