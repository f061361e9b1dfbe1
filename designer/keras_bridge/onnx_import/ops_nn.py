"""Handlers for the operators that carry weights or work on (N, C, spatial...) tensors:
convolutions, poolings, normalizations, dense products, embeddings and recurrent layers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from designer.keras_bridge.onnx_import.converter import Converter, OnnxNode, Value
from designer.keras_bridge.onnx_import.layout import after_transpose, channels_last, constant_for
from designer.keras_bridge.onnx_import.ops_tensor import merge, with_constant
from designer.keras_bridge.onnx_import.registry import AcrossBatch, Unsupported, handles

_LOWEST = float(np.finfo(np.float32).min)  # max-pool padding: never the maximum


def _spatial_layer(kind: str, spatial: int) -> type:
    if spatial not in (1, 2, 3):
        raise Unsupported(f"{spatial}-D {kind} has no Keras layer")
    return getattr(keras.layers, f"{kind}{spatial}D")


def _explicit_pads(node: OnnxNode, sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                   dilations: Sequence[int]) -> list[tuple[int, int]]:
    """(begin, end) padding per spatial axis, from ``pads`` or ``auto_pad``."""
    auto = node.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        result = []
        for size, k, s, d in zip(sizes, kernel, strides, dilations, strict=True):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small = total // 2
            result.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
        return result
    pads = list(node.attr("pads", [0] * 2 * len(kernel))) if auto != "VALID" else [0] * 2 * len(kernel)
    return list(zip(pads[:len(kernel)], pads[len(kernel):], strict=True))


def _keras_same(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
                pads: Sequence[tuple[int, int]]) -> bool:
    """True when Keras's ``padding="same"`` pads exactly like ``pads`` on these input sizes."""
    for size, k, s, d, pad in zip(sizes, kernel, strides, dilations, pads, strict=True):
        if size is None:
            return False
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        floor_size = (size + sum(pad) - (k - 1) * d - 1) // s + 1
        if pad != (total // 2, total - total // 2) or math.ceil(size / s) != floor_size:
            return False
    return True


Window = tuple[Any, str, dict[str, Any], list[tuple[int, int]] | None]


def _window(cv: Converter, node: OnnxNode, x: Value, kernel: Sequence[int]) -> Window:
    """The channels-last input (padded if Keras's own padding cannot match), Keras's ``padding``,
    strides, and the padding added by a layer here (None when Keras pads, or nothing does)."""
    n = len(kernel)
    strides = list(node.attr("strides", [1] * n))
    dilations = list(node.attr("dilations", [1] * n))
    sizes = cv.onnx_shape(x)[2:]
    pads = _explicit_pads(node, sizes, kernel, strides, dilations)
    if node.attr("ceil_mode", 0):
        pads = [_ceil_pad(*args) for args in zip(sizes, kernel, strides, dilations, pads, strict=True)]
    x = cv.arrange(x, channels_last(x.rank))
    options = {"strides": tuple(strides)}
    if not any(b or e for b, e in pads):
        return x.tensor, "valid", options, None
    if _keras_same(sizes, kernel, strides, dilations, pads):
        return x.tensor, "same", options, None
    if node.op_type == "MaxPool":
        widths = [(0, 0), *pads, (0, 0)]
        padded = cv.op(keras.ops.pad, x.tensor, widths, constant_values=_LOWEST, suffix="pad")
        return padded, "valid", options, pads
    padding = pads[0] if n == 1 else tuple(pads)
    return cv.layer(_spatial_layer("ZeroPadding", n), x.tensor, "pad", padding=padding), "valid", options, pads


def _mean_correction(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                     pads: Sequence[tuple[int, int]]) -> np.ndarray:
    """Per output position, window size / real (unpadded) elements in it: turns the mean over a
    zero-padded window into ONNX's mean that leaves the padding out."""
    factor = np.ones(())
    for size, k, s, (before, after) in zip(sizes, kernel, strides, pads, strict=True):
        starts = np.arange((size + before + after - k) // s + 1) * s - before
        counts = np.minimum(starts + k, size) - np.maximum(starts, 0)
        factor = np.multiply.outer(factor, k / counts)
    return factor[..., None].astype(np.float32)  # one value for every channel


def _ceil_pad(size: int | None, k: int, s: int, d: int, pad: tuple[int, int]) -> tuple[int, int]:
    """Extra end padding that makes Keras's floor division give ONNX's ceil_mode output size."""
    if size is None:
        raise Unsupported("ceil_mode needs a known input size")
    span = size + sum(pad) - (k - 1) * d - 1
    last_start = math.ceil(span / s) * s
    if last_start >= size + pad[0]:  # ONNX drops a last window that would start in the end padding
        return pad
    return pad[0], pad[1] + last_start - span


@handles("Conv")
def conv(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    w = cv.const(node.inputs[1], "the Conv weights")
    bias = cv.optional_const(node, 2)
    spatial, kernel = w.ndim - 2, tuple(w.shape[2:])
    group, out_channels = node.attr("group", 1), w.shape[0]
    in_channels = w.shape[1] * group
    tensor, padding, options, _ = _window(cv, node, x, kernel)
    dilations = tuple(node.attr("dilations", [1] * spatial))
    strides = options["strides"]
    subsample = any(s > 1 for s in strides) and any(d > 1 for d in dilations)
    if subsample:  # Keras refuses strides with dilation: convolve densely, then keep every s-th output
        if padding == "same":
            raise Unsupported("strided, dilated convolution with 'same' padding")
        options["strides"] = (1,) * spatial
    options.update(padding=padding, dilation_rate=dilations, use_bias=bias is not None)
    to_keras = (*range(2, 2 + spatial), 1, 0)
    if group == in_channels and group > 1 and spatial <= 2:
        multiplier = out_channels // in_channels
        kernel_w = w.reshape(in_channels, multiplier, *kernel).transpose(*range(2, 2 + spatial), 0, 1)
        weights = [kernel_w] + ([bias] if bias is not None else [])
        out = cv.layer(_spatial_layer("DepthwiseConv", spatial), tensor, weights=weights, kernel_size=kernel,
                       depth_multiplier=multiplier, **options)
    else:
        if group > 1:
            options["groups"] = group
        weights = [w.transpose(to_keras)] + ([bias] if bias is not None else [])
        out = cv.layer(_spatial_layer("Conv", spatial), tensor, weights=weights, filters=out_channels,
                       kernel_size=kernel, **options)
    if subsample:
        out = cv.layer(_spatial_layer("MaxPooling", spatial), out, "stride", pool_size=1, strides=strides)
    return [Value(out, channels_last(spatial + 2))]


@handles("ConvTranspose")
def conv_transpose(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    w = cv.const(node.inputs[1], "the ConvTranspose weights")
    bias = cv.optional_const(node, 2)
    spatial, kernel = w.ndim - 2, tuple(w.shape[2:])
    if node.attr("group", 1) != 1:
        raise Unsupported("grouped transposed convolution has no Keras layer")
    if any(d != 1 for d in node.attr("dilations", [1] * spatial)):
        raise Unsupported("dilated transposed convolution is not supported")
    if node.attr("output_shape") is not None or node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Unsupported("output_shape/auto_pad on ConvTranspose: give explicit pads instead")
    strides = tuple(node.attr("strides", [1] * spatial))
    pads = list(node.attr("pads", [0] * 2 * spatial))
    extra = list(node.attr("output_padding", [0] * spatial))
    x = cv.arrange(x, channels_last(x.rank))
    weights = [w.transpose(*range(2, 2 + spatial), 1, 0)] + ([bias] if bias is not None else [])
    cls = getattr(keras.layers, _spatial_layer("Conv", spatial).__name__ + "Transpose")
    out = cv.layer(cls, x.tensor, weights=weights, filters=w.shape[1], kernel_size=kernel, strides=strides,
                   padding="valid", output_padding=tuple(extra) if any(extra) else None, use_bias=bias is not None)
    crops = list(zip(pads[:spatial], pads[spatial:], strict=True))
    if any(b or e for b, e in crops):
        out = cv.layer(_spatial_layer("Cropping", spatial), out, "crop",
                       cropping=crops[0] if spatial == 1 else tuple(crops))
    return [Value(out, channels_last(spatial + 2))]


@handles("MaxPool", "AveragePool")
def pool(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    kernel = tuple(node.attr("kernel_shape"))
    if any(d != 1 for d in node.attr("dilations", [1] * len(kernel))):
        raise Unsupported("dilated pooling has no Keras layer")
    if len(node.outputs) > 1 and node.outputs[1]:
        raise Unsupported("the indices output of MaxPool has no Keras equivalent")
    tensor, padding, options, pads = _window(cv, node, x, kernel)
    kind = "MaxPooling" if node.op_type == "MaxPool" else "AveragePooling"
    out = cv.layer(_spatial_layer(kind, len(kernel)), tensor, pool_size=kernel, padding=padding, **options)
    if kind == "AveragePooling" and pads is not None and not node.attr("count_include_pad", 0):
        factor = _mean_correction(cv.onnx_shape(x)[2:], kernel, options["strides"], pads)
        out = cv.layer(keras.layers.Rescaling, out, "count", scale=factor.tolist())
    return [Value(out, channels_last(x.rank))]


@handles("GlobalAveragePool", "GlobalMaxPool")
def global_pool(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.arrange(cv.value(node.inputs[0]), channels_last(cv.value(node.inputs[0]).rank))
    kind = "GlobalAveragePooling" if node.op_type == "GlobalAveragePool" else "GlobalMaxPooling"
    return [Value(cv.layer(_spatial_layer(kind, x.rank - 2), x.tensor, keepdims=True), x.perm)]


@handles("BatchNormalization")
def batch_norm(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    scale, offset, mean, var = (cv.const(n, "the BatchNormalization statistics") for n in node.inputs[1:5])
    out = cv.layer(keras.layers.BatchNormalization, x.tensor, weights=[scale, offset, mean, var],
                   axis=x.keras_axis(1), epsilon=node.attr("epsilon", 1e-5), momentum=node.attr("momentum", 0.9))
    return [Value(out, x.perm)]


@handles("InstanceNormalization")
def instance_norm(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    if cv.fixed_batch:
        raise Unsupported("normalizing each ONNX sample needs ONNX axis 0 as Keras's batch axis, which a "
                          "fixed-batch import keeps as data: import without --fixed-batch")
    scale, offset = cv.const(node.inputs[1]), cv.const(node.inputs[2])
    out = cv.layer(keras.layers.GroupNormalization, x.tensor, weights=[scale, offset], groups=scale.shape[0],
                   axis=x.keras_axis(1), epsilon=node.attr("epsilon", 1e-5))
    return [Value(out, x.perm)]


@handles("LayerNormalization")
def layer_norm(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    first = node.attr("axis", -1) % x.rank
    axes = [x.keras_axis(a) for a in range(first, x.rank)]
    if 0 in axes:
        raise AcrossBatch("normalizing over the batch axis")
    scale = cv.const(node.inputs[1])
    bias = cv.optional_const(node, 2)
    normalized = cv.onnx_shape(x)[first:]
    gamma = constant_for(np.broadcast_to(scale, normalized), x.rank, x.perm)
    beta = constant_for(np.broadcast_to(0.0 if bias is None else bias, normalized), x.rank, x.perm)
    squeeze = tuple(i - 1 for i in range(1, len(x.perm)) if i not in axes)
    out = cv.layer(keras.layers.LayerNormalization, x.tensor, axis=axes[0] if len(axes) == 1 else sorted(axes),
                   epsilon=node.attr("epsilon", 1e-5), center=bias is not None,
                   weights=[gamma.squeeze(squeeze)] + ([beta.squeeze(squeeze)] if bias is not None else []))
    return [Value(out, x.perm)]


@handles("Gemm")
def gemm(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    if x.rank != 2:
        raise Unsupported("Gemm with a non-2-D first input")
    if node.attr("transA", 0):
        x = Value(x.tensor, after_transpose(x.perm, (1, 0)))
    if not cv.is_const(node.inputs[1]):
        return [_gemm_of_tensors(cv, node, x)]
    x = cv.arrange(x, cv.onnx_order(2))
    w = cv.const(node.inputs[1], "Gemm's second input")
    w = (w.T if node.attr("transB", 0) else w) * node.attr("alpha", 1.0)
    bias = cv.optional_const(node, 2)
    weights = [w]
    if bias is not None:
        weights.append(np.broadcast_to(bias * node.attr("beta", 1.0), (w.shape[1],)).astype(w.dtype))
    out = cv.layer(keras.layers.Dense, x.tensor, weights=weights, units=w.shape[1], use_bias=bias is not None)
    return [Value(out, x.perm)]


def _gemm_of_tensors(cv: Converter, node: OnnxNode, a: Value) -> Value:
    """alpha·A·B + beta·C where B is computed at run time (torch.mm, torch.addmm): no weights, so no Dense."""
    b = cv.value(node.inputs[1])
    if node.attr("transB", 0):
        b = Value(b.tensor, after_transpose(b.perm, (1, 0)))
    out = _product(cv, a, b)
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    if alpha != 1:
        out = Value(cv.layer(keras.layers.Rescaling, out.tensor, "alpha", scale=alpha), out.perm)
    c_name = node.inputs[2] if len(node.inputs) > 2 else ""
    if not c_name or beta == 0:
        return out
    if cv.is_const(c_name):
        c = constant_for(cv.const(c_name, "Gemm's C") * beta, out.rank, out.perm)
        if c is None:
            raise AcrossBatch("a constant C that varies along the batch")
        return Value(with_constant(cv, "Add", out.tensor, c, float(c.reshape(-1)[0]) if c.size == 1 else None,
                                   x_first=True), out.perm)
    c = cv.value(c_name)
    if beta != 1:
        c = Value(cv.layer(keras.layers.Rescaling, c.tensor, "beta", scale=beta), c.perm)
    return merge(cv, "Add", [out, c])


def _product(cv: Converter, a: Value, b: Value) -> Value:
    """``a @ b`` of two run-time tensors (attention scores, torch.mm) as ``keras.ops.matmul``."""
    if a.rank != b.rank or a.rank < 2:
        raise Unsupported("MatMul of two tensors of different rank, or of vectors")
    a, b = cv.arrange(a, cv.onnx_order(a.rank)), cv.arrange(b, cv.onnx_order(b.rank))
    if b.keras_axis(b.rank - 2) == 0:
        raise AcrossBatch("a product that sums over the batch axis of its second operand (a 2-D tensor)")
    return Value(cv.op(keras.ops.matmul, a.tensor, b.tensor), a.perm)


@handles("MatMul")
def matmul(cv: Converter, node: OnnxNode) -> list[Any]:
    if not cv.is_const(node.inputs[1]):
        return [_product(cv, cv.value(node.inputs[0]), cv.value(node.inputs[1]))]
    x = cv.value(node.inputs[0])
    w = cv.const(node.inputs[1], "MatMul's weights")
    if w.ndim != 2:
        raise Unsupported("MatMul by a constant of rank other than 2")
    if x.perm[-1] != x.rank - 1:
        x = cv.arrange(x, cv.onnx_order(x.rank))
    weights, add = [w], cv.sole_consumer(node.outputs[0], "Add")
    if add is not None:
        other = add.input[1] if add.input[0] == node.outputs[0] else add.input[0]
        bias = cv.constants.get(other)
        if bias is not None and bias.size == w.shape[1] and bias.ndim >= 1 and bias.shape[-1] == w.shape[1]:
            cv.read_constants.add(other)
            weights.append(bias.reshape(-1))
            cv.absorb(add)
            out = Value(cv.layer(keras.layers.Dense, x.tensor, weights=weights, units=w.shape[1]), x.perm)
            cv.values[add.output[0]] = out
            return [out]
    out = cv.layer(keras.layers.Dense, x.tensor, weights=weights, units=w.shape[1], use_bias=False)
    return [Value(out, x.perm)]


@handles("Gather")
def gather(cv: Converter, node: OnnxNode) -> list[Any]:
    if cv.is_const(node.inputs[0]):  # a table looked up by the inputs: an embedding
        table = cv.const(node.inputs[0])
        if node.attr("axis", 0) != 0 or table.ndim != 2:
            raise Unsupported("Gather from a constant that is not a 2-D table along axis 0")
        indices = cv.value(node.inputs[1])
        if node.inputs[1] in {i.name for i in cv.graph.input}:
            cv.index_bounds[node.inputs[1]] = table.shape[0]
        out = cv.layer(keras.layers.Embedding, indices.tensor, weights=[table], input_dim=table.shape[0],
                       output_dim=table.shape[1])
        return [Value(out, (*indices.perm, indices.rank))]
    x = cv.value(node.inputs[0])
    index = cv.const(node.inputs[1], "Gather's indices")
    axis = node.attr("axis", 0) % x.rank
    k = x.keras_axis(axis)
    if k == 0:
        raise AcrossBatch("Gather along the batch axis")
    if index.ndim > 1:
        raise Unsupported("Gather with multi-dimensional indices")
    size = cv.onnx_shape(x)[axis]
    index = np.where(index < 0, index + size, index)
    out = cv.op(keras.ops.take, x.tensor, index.tolist(), axis=k)
    if index.ndim == 1:
        return [Value(out, x.perm)]
    return [Value(out, tuple(a - (a > axis) for a in x.perm if a != axis))]


@handles("Dropout")
def dropout(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    if len(node.outputs) > 1 and node.outputs[1] and cv.consumers.get(node.outputs[1]):
        raise Unsupported("the mask output of Dropout has no Keras equivalent")
    ratio = node.attr("ratio", 0.5)
    if len(node.inputs) > 1 and node.inputs[1]:
        ratio = float(cv.const(node.inputs[1]))
    return [Value(cv.layer(keras.layers.Dropout, x.tensor, rate=float(ratio)), x.perm)]


_REPLICATING = {("asymmetric", "floor"), ("half_pixel", "round_prefer_floor"), ("half_pixel", "round_prefer_ceil"),
                ("pytorch_half_pixel", "round_prefer_floor"), ("pytorch_half_pixel", "round_prefer_ceil")}


@handles("Resize", "Upsample")
def resize(cv: Converter, node: OnnxNode) -> list[Any]:
    x = cv.value(node.inputs[0])
    dims = cv.onnx_shape(x)
    scales = _resize_scales(cv, node, dims)
    if scales[0] != 1 or scales[1] != 1 or node.attr("antialias", 0) or node.attr("axes") is not None:
        raise Unsupported("resizing the batch or channel axis, or antialiasing")
    mode = node.attr("mode", "nearest")
    legacy = node.op_type == "Upsample" or cv.opset < 11
    coords = "asymmetric" if legacy else node.attr("coordinate_transformation_mode", "half_pixel")
    rounding = "floor" if legacy else node.attr("nearest_mode", "round_prefer_floor")
    spatial, integral = len(dims) - 2, all(float(s).is_integer() for s in scales)
    x = cv.arrange(x, channels_last(x.rank))
    if mode == "nearest" and integral and (coords, rounding) in _REPLICATING:
        size = tuple(int(s) for s in scales[2:])
        options = {"interpolation": "nearest"} if spatial == 2 else {}
        out = cv.layer(_spatial_layer("UpSampling", spatial), x.tensor, size=size[0] if spatial == 1 else size,
                       **options)
    elif mode == "linear" and spatial == 2 and coords in ("half_pixel", "pytorch_half_pixel"):
        height, width = (round(d * s) for d, s in zip(dims[2:], scales[2:], strict=True))
        out = cv.layer(keras.layers.Resizing, x.tensor, height=height, width=width, interpolation="bilinear")
    else:
        raise Unsupported(f"{mode} resizing with coordinate mode {coords!r} (Keras matches integer-scale nearest "
                          "and half-pixel bilinear)")
    return [Value(out, x.perm)]


def _resize_scales(cv: Converter, node: OnnxNode, dims: Sequence[int | None]) -> list[float]:
    if node.attr("scales") is not None:  # Upsample before opset 9
        return list(node.attr("scales"))
    names = node.inputs
    if node.op_type == "Upsample" or cv.opset < 11:
        return cv.const(names[1], "the scales").tolist()
    if len(names) > 3 and names[3]:
        sizes = cv.const(names[3], "the output sizes").tolist()
        return [s / d for s, d in zip(sizes, dims, strict=True)]
    return cv.const(names[2], "the scales").tolist()


@handles("LRN")
def local_response_norm(cv: Converter, node: OnnxNode) -> list[Any]:
    """x / (bias + alpha/size · Σ x² over neighbouring channels)^beta, written with Keras's own pieces:
    the channel-window sum is a Dense layer with a fixed 0/1 band matrix (not trainable)."""
    x = cv.arrange(cv.value(node.inputs[0]), channels_last(cv.value(node.inputs[0]).rank))
    size, channels = node.attr("size"), x.tensor.shape[-1]
    low, high = (size - 1) // 2, (size - 1) - (size - 1) // 2
    band = np.array([[1.0 if -low <= j - i <= high else 0.0 for j in range(channels)] for i in range(channels)],
                    dtype=np.float32)  # band[i, j]: channel i counts towards output channel j
    squared = cv.op(keras.ops.square, x.tensor, suffix="square")
    summed = cv.layer(keras.layers.Dense, squared, "window", weights=[band], units=channels, use_bias=False,
                      trainable=False)
    base = cv.layer(keras.layers.Rescaling, summed, "scale", scale=node.attr("alpha", 1e-4) / size,
                    offset=node.attr("bias", 1.0))
    divisor = cv.op(keras.ops.power, base, node.attr("beta", 0.75), suffix="power")
    return [Value(cv.op(keras.ops.divide, x.tensor, divisor), x.perm)]
