"""Handlers for element-wise operators, activations and the operators that move axes
(Reshape, Flatten, Transpose, Squeeze, Concat, Split, Slice, Pad, reductions)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from onnx import helper

from designer.keras_bridge.onnx_import.converter import Converter, OnnxNode, Value
from designer.keras_bridge.onnx_import.layout import BATCH, after_transpose, channels_last, constant_for
from designer.keras_bridge.onnx_import.registry import AcrossBatch, Unsupported, handles

_ACTIVATIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus", "Softsign": "softsign",
                "HardSwish": "hard_silu", "Mish": "mish"}
_UNARY_OPS = {"Exp": keras.ops.exp, "Log": keras.ops.log, "Sqrt": keras.ops.sqrt, "Abs": keras.ops.abs,
              "Neg": keras.ops.negative, "Erf": keras.ops.erf, "Reciprocal": keras.ops.reciprocal,
              "Floor": keras.ops.floor, "Ceil": keras.ops.ceil, "Sin": keras.ops.sin, "Cos": keras.ops.cos,
              "Sign": keras.ops.sign, "Round": keras.ops.round}
_MERGE = {"Add": keras.layers.Add, "Sum": keras.layers.Add, "Sub": keras.layers.Subtract,
          "Mul": keras.layers.Multiply, "Max": keras.layers.Maximum, "Min": keras.layers.Minimum,
          "Mean": keras.layers.Average}
_BINARY_OPS = {"Div": keras.ops.divide, "Pow": keras.ops.power, "Max": keras.ops.maximum,
               "Min": keras.ops.minimum}


def _same(x: Value, tensor: Any) -> list[Value]:
    return [Value(tensor, x.perm)]


# ---- activations ------------------------------------------------------------------------------
@handles(*_ACTIVATIONS)
def activation(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    return _same(x, cv.layer(keras.layers.Activation, x.tensor, activation=_ACTIVATIONS[node.op_type]))


@handles(*_UNARY_OPS)
def unary(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    return _same(x, cv.op(_UNARY_OPS[node.op_type], x.tensor))


@handles("Identity")
def identity_op(cv: Converter, node: OnnxNode) -> list[Any]:
    return [cv.value(node.inputs[0])]


@handles("Relu")
def relu(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    return _same(x, cv.layer(keras.layers.ReLU, x.tensor))


@handles("LeakyRelu")
def leaky_relu(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    return _same(x, cv.layer(keras.layers.LeakyReLU, x.tensor, negative_slope=node.attr("alpha", 0.01)))


@handles("Elu")
def elu(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    return _same(x, cv.layer(keras.layers.ELU, x.tensor, alpha=node.attr("alpha", 1.0)))


@handles("Selu")
def selu(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    if not (np.isclose(node.attr("alpha", 1.67326), 1.67326) and np.isclose(node.attr("gamma", 1.0507), 1.0507)):
        raise Unsupported("SELU with non-standard alpha/gamma")
    return _same(x, cv.layer(keras.layers.Activation, x.tensor, activation="selu"))


@handles("HardSigmoid")
def hard_sigmoid(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    if not (np.isclose(node.attr("alpha", 0.2), 1 / 6) and np.isclose(node.attr("beta", 0.5), 0.5)):
        raise Unsupported("HardSigmoid with alpha other than 1/6 (Keras's hard_sigmoid)")
    return _same(x, cv.layer(keras.layers.Activation, x.tensor, activation="hard_sigmoid"))


@handles("Gelu")
def gelu(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    if node.attr("approximate", "none") == "tanh":
        return _same(x, cv.op(keras.ops.gelu, x.tensor, approximate=True))
    return _same(x, cv.layer(keras.layers.Activation, x.tensor, activation="gelu"))


@handles("Clip")
def clip(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    low, high = node.attr("min"), node.attr("max")
    if len(node.inputs) > 1 and node.inputs[1]:
        low = float(cv.const(node.inputs[1], "Clip's minimum"))
    if len(node.inputs) > 2 and node.inputs[2]:
        high = float(cv.const(node.inputs[2], "Clip's maximum"))
    if low == 0 and (high is None or high == 6 or high >= np.finfo(np.float32).max):
        return _same(x, cv.layer(keras.layers.ReLU, x.tensor, max_value=6.0 if high == 6 else None))
    low = float(np.finfo(np.float32).min) if low is None else float(low)
    high = float(np.finfo(np.float32).max) if high is None else float(high)
    return _same(x, cv.op(keras.ops.clip, x.tensor, low, high))


@handles("PRelu")
def prelu(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    slope = cv.const(node.inputs[1], "PRelu's slope")
    if slope.ndim == 1 and x.rank > 2 and slope.size > 1:  # opset < 7: one slope per channel
        slope = slope.reshape(-1, *([1] * (x.rank - 2)))
    alpha = constant_for(slope, x.rank, x.perm)
    if alpha is None:
        raise AcrossBatch("PRelu slope varies along the batch")
    shape = x.tensor.shape[1:]
    alpha = alpha.reshape((1,) * (len(shape) - alpha.ndim) + alpha.shape)
    shared = [i + 1 for i, size in enumerate(alpha.shape) if size == 1 and shape[i] != 1]
    return _same(x, cv.layer(keras.layers.PReLU, x.tensor, weights=[alpha], shared_axes=shared or None))


@handles("Softmax", "LogSoftmax")
def softmax(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    axis = node.attr("axis", -1 if cv.opset >= 13 else 1) % x.rank
    if cv.opset < 13 and any(d != 1 for d in cv.onnx_shape(x)[axis + 1:]):
        raise Unsupported("before opset 13 Softmax works on all axes from 'axis' on; only the last is supported")
    k = x.keras_axis(axis)
    if k == 0:
        raise AcrossBatch(f"{node.op_type} across the batch axis")
    if node.op_type == "LogSoftmax":
        return _same(x, cv.op(keras.ops.log_softmax, x.tensor, axis=k))
    return _same(x, cv.layer(keras.layers.Softmax, x.tensor, axis=k))


# ---- element-wise arithmetic ------------------------------------------------------------------
@handles("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean")
def elementwise(cv: Converter, node: OnnxNode) -> list[Any]:
    gelu_out = _erf_gelu(cv, node) if node.op_type == "Div" else None
    if gelu_out is not None:
        return [gelu_out]
    names = [n for n in node.inputs if n]
    constants = [n for n in names if cv.is_const(n)]
    if not constants:
        legacy_axis = node.attr("axis") if node.attr("broadcast", 0) else None  # opset < 7 broadcasting
        return [merge(cv, node.op_type, [cv.value(n) for n in names], legacy_axis)]
    if len(names) != 2:
        raise Unsupported("more than two operands with a constant among them")
    x_first = not cv.is_const(names[0])
    x = cv.value(names[0] if x_first else names[1])
    c = cv.const(names[1] if x_first else names[0]).astype(np.float64)
    if node.attr("broadcast", 0) and node.attr("axis") is not None:  # opset < 7 broadcasting
        c = c.reshape(c.shape + (1,) * (x.rank - node.attr("axis") - c.ndim))
    if c.ndim > x.rank:
        raise Unsupported("a constant operand with more axes than the tensor")
    keras_c = constant_for(c, x.rank, x.perm)
    if keras_c is None:
        raise AcrossBatch("a constant operand that varies along the batch")
    scalar = float(keras_c.reshape(-1)[0]) if keras_c.size == 1 else None
    return _same(x, with_constant(cv, node.op_type, x.tensor, keras_c, scalar, x_first))


def _erf_gelu(cv: Converter, div: OnnxNode) -> Value | None:
    """PyTorch's exact GELU, ``x * 0.5 * (1 + erf(x / sqrt(2)))`` written out as Div → Erf → Add →
    Mul → Mul, as one ``Activation("gelu")``; None when the chain is not exactly that."""
    def scalar(name: str) -> float | None:
        c = cv.constants.get(name)
        return float(c.reshape(-1)[0]) if c is not None and c.size == 1 else None

    def other(proto: Any, name: str) -> str:
        return proto.input[1] if proto.input[0] == name else proto.input[0]

    x_name = div.inputs[0]
    if x_name not in cv.values or not np.isclose(scalar(div.inputs[1]) or 0, np.sqrt(2)):
        return None
    chain, name = [], div.outputs[0]
    for op in ("Erf", "Add", "Mul", "Mul"):
        proto = cv.sole_consumer(name, op)
        if proto is None:
            return None
        chain.append(proto)
        name = proto.output[0]
    erf, add, mul_x, mul_half = chain
    if (scalar(other(add, erf.output[0])) != 1.0 or other(mul_x, add.output[0]) != x_name
            or scalar(other(mul_half, mul_x.output[0])) != 0.5):
        return None
    x = cv.value(x_name)
    result = Value(cv.layer(keras.layers.Activation, x.tensor, activation="gelu"), x.perm)
    for proto in chain:
        cv.absorb(proto)
    cv.values[mul_half.output[0]] = result
    return result


def with_constant(cv: Converter, op: str, x: Any, c: np.ndarray, scalar: float | None, x_first: bool) -> Any:
    """``x op c`` (or ``c op x``): Rescaling where it is an affine map, else a keras.ops call. A constant
    array stays an array (its config holds it as Keras's ``__numpy__`` object): as a nested list Keras's
    attribute tracking walked every element each time the layer was made, half of analysing DenseNet."""
    value = scalar if scalar is not None else c.astype(cv.float_dtype)
    if op == "Add":
        return cv.layer(keras.layers.Rescaling, x, scale=1.0, offset=value)
    if op == "Sub":
        negated = -scalar if scalar is not None else (-c).astype(cv.float_dtype)
        if x_first:
            return cv.layer(keras.layers.Rescaling, x, scale=1.0, offset=negated)
        return cv.layer(keras.layers.Rescaling, x, scale=-1.0, offset=value)
    if op == "Mul":
        return cv.layer(keras.layers.Rescaling, x, scale=value)
    if scalar is None:
        raise Unsupported(f"{op} with a non-scalar constant operand")
    if op == "Pow" and x_first:
        return cv.op(keras.ops.square, x) if scalar == 2 else cv.op(keras.ops.power, x, scalar)
    if op in _BINARY_OPS:
        return cv.op(_BINARY_OPS[op], *((x, scalar) if x_first else (scalar, x)))
    raise Unsupported(f"{op} with a constant operand")


def merge(cv: Converter, op: str, values: list[Value], legacy_axis: int | None = None) -> Value:
    """``op`` (Add, Mul, ...) of run-time tensors, broadcast as ONNX broadcasts: a Keras merge layer
    where one exists. ``legacy_axis``: where opset < 7 aligns the second operand in the first."""
    rank = max(v.rank for v in values)
    values = [v if v.rank == rank else _to_rank(cv, v, rank, legacy_axis if i else None)
              for i, v in enumerate(values)]
    first = values[0]
    tensors = [cv.arrange(v, first.perm).tensor for v in values]
    if len(tensors) == 1:
        return first
    if op in _MERGE:
        return Value(cv.layer(_MERGE[op], tensors), first.perm)
    if len(tensors) != 2:
        raise Unsupported(f"{op} of more than two tensors")
    return Value(cv.op(_BINARY_OPS[op], *tensors), first.perm)


def _to_rank(cv: Converter, x: Value, rank: int, axis: int | None) -> Value:
    """``x`` with unit axes added to broadcast against a tensor of ONNX ``rank``: in front (numpy's
    rule), or around it so that its first axis lands on ``axis`` (opset < 7)."""
    lead = rank - x.rank if axis is None else axis % rank
    if BATCH not in x.perm and lead:
        raise AcrossBatch("an operand of lower rank: its axes, Keras's batch axis among them, move behind others")
    perm, shape = [a if a == BATCH else a + lead for a in x.perm], list(x.tensor.shape)
    for unit in (a for a in range(rank) if not lead <= a < lead + x.rank):  # where ONNX order puts it
        at = next((i for i, a in enumerate(perm) if a > unit), len(perm))
        perm.insert(at, unit)
        shape.insert(at, 1)
    return _reshaped(cv, x, tuple(perm), shape)


# ---- axes and shapes ---------------------------------------------------------------------------
@handles("Shape")
def shape(cv: Converter, node: OnnxNode) -> list[Any]:
    dims = cv.onnx_shape(cv.value(node.inputs[0]))
    if None in dims:
        raise Unsupported("Shape of a tensor whose size is only known at run time")
    start, end = node.attr("start", 0), node.attr("end", len(dims))
    return [np.array(dims[start:end], dtype=np.int64)]


@handles("Size")
def size(cv: Converter, node: OnnxNode) -> list[Any]:
    dims = cv.onnx_shape(cv.value(node.inputs[0]))
    if None in dims:
        raise Unsupported("Size of a tensor whose size is only known at run time")
    return [np.array(np.prod(dims), dtype=np.int64)]


@handles("Transpose")
def transpose(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    order = node.attr("perm", list(reversed(range(x.rank))))
    return [Value(x.tensor, after_transpose(x.perm, order))]  # only the bookkeeping changes


@handles("Flatten")
def flatten(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    axis = node.attr("axis", 1) % max(x.rank, 1)
    if cv.fixed_batch:
        dims = cv.onnx_shape(x)
        target = (int(np.prod(dims[:axis])), int(np.prod(dims[axis:])))
        return [Value(cv.layer(keras.layers.Reshape, cv.in_onnx_order(x), target_shape=target), cv.onnx_order(2))]
    if axis != 1 and x.rank > 1:
        raise AcrossBatch("Flatten at an axis other than 1 would merge the batch axis")
    tensor = cv.in_onnx_order(x)
    if x.rank == 2:
        return [Value(tensor, cv.onnx_order(2))]
    return [Value(cv.layer(keras.layers.Flatten, tensor), cv.onnx_order(2))]


@handles("Reshape")
def reshape(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    target = node.attr("shape") if len(node.inputs) < 2 else cv.const(node.inputs[1], "Reshape's shape")
    source = cv.onnx_shape(x)
    target = [int(source[i]) if d == 0 and not node.attr("allowzero", 0) else int(d) for i, d in enumerate(target)]
    kept = target if cv.fixed_batch else target[1:]  # the sizes of Keras's axes after its batch axis
    if target.count(-1) > 1:
        raise Unsupported("Reshape with two unknown sizes")
    if not cv.fixed_batch and (target[0] not in (cv.batch, -1) or (
            target[0] == -1 and np.prod(target[1:]) * cv.batch != np.prod(source))):
        raise AcrossBatch("Reshape that changes the batch axis")
    tensor = cv.in_onnx_order(x)
    if list(tensor.shape[1:]) == kept and x.perm == cv.onnx_order(x.rank):
        return [x]
    return [Value(cv.layer(keras.layers.Reshape, tensor, target_shape=tuple(kept)), cv.onnx_order(len(target)))]


def _axes(cv: Converter, node: OnnxNode, index: int) -> list[int] | None:
    """An axes list given as an attribute (older opsets) or as input ``index`` (newer ones)."""
    if len(node.inputs) > index and node.inputs[index]:
        return [int(a) for a in cv.const(node.inputs[index], "the axes")]
    axes = node.attr("axes")
    return None if axes is None else list(axes)


def _reshaped(cv: Converter, x: Value, perm: tuple[int, ...], keras_shape: list[int | None]) -> Value:
    """``x`` with unit axes added or removed: a Reshape that keeps the element order."""
    dims = [-1 if d is None else d for d in keras_shape[1:]]
    return Value(cv.layer(keras.layers.Reshape, x.tensor, target_shape=tuple(dims)), perm)


@handles("Squeeze")
def squeeze(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    dims = cv.onnx_shape(x)
    axes = _axes(cv, node, 1)
    axes = [a % x.rank for a in axes] if axes is not None else [a for a in range(x.rank) if dims[a] == 1]
    if x.perm[0] in axes:
        raise AcrossBatch("Squeeze of the batch axis")
    kept = [a for a in x.perm if a not in axes]
    perm = tuple(a - sum(r < a for r in axes) for a in kept)
    return [_reshaped(cv, x, perm, [x.tensor.shape[x.perm.index(a)] for a in kept])]


@handles("Unsqueeze")
def unsqueeze(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    axes = sorted(a % (x.rank + len(_axes(cv, node, 1))) for a in _axes(cv, node, 1))
    old = [a for a in range(x.rank + len(axes)) if a not in axes]  # new numbering of the old axes
    perm = tuple(a if a == BATCH else old[a] for a in x.perm) + tuple(axes)  # new unit axes go last in Keras order
    return [_reshaped(cv, x, perm, [*x.tensor.shape, *([1] * len(axes))])]


@handles("Concat")
def concat(cv: Converter, node: OnnxNode) -> list[Any]:
    values = [cv.value(n) for n in node.inputs if n]
    first = values[0]
    tensors = [cv.arrange(v, first.perm).tensor for v in values]
    axis = first.keras_axis(node.attr("axis", 1))
    if axis == 0:
        raise AcrossBatch("Concat along the batch axis")
    if len(tensors) == 1:
        return [first]
    return _same(first, cv.layer(keras.layers.Concatenate, tensors, axis=axis))


@handles("Split")
def split(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    axis = node.attr("axis", 0) % x.rank
    k = x.keras_axis(axis)
    if k == 0:
        raise AcrossBatch("Split along the batch axis")
    sizes = node.attr("split")
    if len(node.inputs) > 1 and node.inputs[1]:
        sizes = cv.const(node.inputs[1], "Split's sizes").tolist()
    if sizes is None:
        parts = len(node.outputs)
        outputs = cv.op(keras.ops.split, x.tensor, parts, axis=k)
    else:
        outputs = cv.op(keras.ops.split, x.tensor, np.cumsum(sizes)[:-1].tolist(), axis=k)
    return [Value(t, x.perm) for t in outputs]


@handles("Slice")
def slice_op(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    dims = cv.onnx_shape(x)
    if len(node.inputs) > 1:
        starts, ends = cv.const(node.inputs[1]), cv.const(node.inputs[2])
        axes = _axes(cv, node, 3) or list(range(len(starts)))
        steps = cv.const(node.inputs[4]) if len(node.inputs) > 4 and node.inputs[4] else [1] * len(starts)
    else:
        starts, ends = node.attr("starts"), node.attr("ends")
        axes, steps = node.attr("axes", list(range(len(starts)))), [1] * len(starts)
    tensor = x.tensor
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = int(axis) % x.rank
        index = list(range(dims[axis]))[slice(int(start), int(end), int(step))]
        if index == list(range(dims[axis])):
            continue
        if x.keras_axis(axis) == 0:
            raise AcrossBatch("Slice of the batch axis")
        tensor = cv.op(keras.ops.take, tensor, index, axis=x.keras_axis(axis), suffix=f"axis{axis}")
    return _same(x, tensor)


@handles("Pad")
def pad(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    pads = node.attr("pads") if len(node.inputs) < 2 else cv.const(node.inputs[1], "the pads").tolist()
    value = node.attr("value", 0.0)
    if len(node.inputs) > 2 and node.inputs[2]:
        value = float(cv.const(node.inputs[2], "the padding value"))
    mode = node.attr("mode", "constant")
    widths = list(zip(pads[:x.rank], pads[x.rank:], strict=True))
    keras_widths = [(0, 0) if a == BATCH else tuple(int(p) for p in widths[a]) for a in x.perm]
    if any(p < 0 for w in keras_widths for p in w):
        raise Unsupported("negative padding")
    if keras_widths[0] != (0, 0):
        raise AcrossBatch("padding of the batch axis")
    spatial = x.rank - 2
    if (mode == "constant" and value == 0 and 1 <= spatial <= 3 and x.perm == channels_last(x.rank)
            and keras_widths[-1] == (0, 0)):
        inner = keras_widths[1:-1]
        padding = inner[0] if spatial == 1 else tuple(inner)
        return _same(x, cv.layer(getattr(keras.layers, f"ZeroPadding{spatial}D"), x.tensor, padding=padding))
    if mode == "edge":  # repeat the border: gather with clamped indices, which every backend has
        tensor, dims = x.tensor, x.tensor.shape
        for k, (before, after) in enumerate(keras_widths):
            if before or after:
                index = np.clip(np.arange(-before, dims[k] + after), 0, dims[k] - 1).tolist()
                tensor = cv.op(keras.ops.take, tensor, index, axis=k, suffix=f"axis{k}")
        return _same(x, tensor)
    if mode not in ("constant", "reflect"):
        raise Unsupported(f"padding mode {mode!r}")
    extra = {"constant_values": float(value)} if mode == "constant" else {}
    return _same(x, cv.op(keras.ops.pad, x.tensor, keras_widths, mode=mode, **extra))


@handles("Tile")
def tile(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    repeats = cv.const(node.inputs[1], "Tile's repeats").tolist()
    keras_repeats = [1 if a == BATCH else int(repeats[a]) for a in x.perm]
    if keras_repeats[0] != 1:
        raise AcrossBatch("Tile along the batch axis")
    return _same(x, cv.op(keras.ops.tile, x.tensor, keras_repeats))


_REDUCE = {"ReduceMean": keras.ops.mean, "ReduceSum": keras.ops.sum, "ReduceMax": keras.ops.max,
           "ReduceMin": keras.ops.min, "ReduceProd": keras.ops.prod}


@handles(*_REDUCE)
def reduce(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    axes = _axes(cv, node, 1)
    axes = sorted(a % x.rank for a in axes) if axes else list(range(x.rank))
    keep = bool(node.attr("keepdims", 1))
    keras_axes = [x.keras_axis(a) for a in axes]
    if 0 in keras_axes:
        raise AcrossBatch("reduction over the batch axis")
    out = cv.op(_REDUCE[node.op_type], x.tensor, axis=keras_axes, keepdims=keep)
    if keep:
        return _same(x, out)
    return [Value(out, tuple(a - sum(r < a for r in axes) for a in x.perm if a not in axes))]


@handles("Cast")
def cast(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    return _same(x, cv.op(keras.ops.cast, x.tensor, str(helper.tensor_dtype_to_np_dtype(node.attr("to")))))
