"""What a layer costs to run: multiply-accumulates, parameter memory and activation memory.

Convention: MACs count the products of inputs with weights (dense, convolution, einsum and
recurrent kernels) and attention's two batched products, per sample. Biases, normalisation,
activations, pooling, element-wise merges and embedding lookups count zero: that is how the
published conv+fc figures are counted (ResNet50 3.86 G, MobileNetV2 300 M at 224×224), and those
cheap operations depend more on the runtime than on the network. Every figure is read from the
layer Keras built (its weights, dtypes and configuration) and the shapes analysis found; a
dimension Keras does not know (a variable sequence length or image size) counts as 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import keras

from designer.keras_bridge.internals import dtype_bits

TensorSpec = tuple[tuple[int | None, ...], str]  # (shape with batch axis, dtype)
_TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)


@dataclass(frozen=True)
class Cost:
    macs: int = 0  # multiply-accumulates per sample
    param_bytes: int = 0  # the weights, at their own dtypes
    activation_bytes: int = 0  # the output tensors of one sample

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.macs + other.macs, self.param_bytes + other.param_bytes,
                    self.activation_bytes + other.activation_bytes)


def layer_cost(layer: Any, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> Cost:
    """The cost of one call of ``layer`` on ``inputs`` giving ``outputs`` (shapes with the batch axis)."""
    params = sum(_bytes(w.shape, w.dtype) for w in getattr(layer, "weights", []))
    activations = sum(_bytes(shape[1:], dtype) for shape, dtype in outputs)
    return Cost(macs(layer, inputs, outputs) if outputs else 0, params, activations)


def macs(layer: Any, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> int:
    """Multiply-accumulates per sample (see the module's convention)."""
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return _attention(layer, inputs)
    if isinstance(layer, keras.layers.Bidirectional):
        return macs(layer.forward_layer, inputs, outputs) + macs(layer.backward_layer, inputs, outputs)
    if isinstance(layer, keras.layers.RNN):
        return _recurrent(layer, inputs, outputs)
    if isinstance(layer, keras.layers.EinsumDense):
        return _einsum(layer, outputs[0][0])
    kernels = _kernel_size(layer)
    if isinstance(layer, _TRANSPOSED):  # every input position is spread over the kernel
        return _positions(layer, inputs[0][0]) * kernels
    return _positions(layer, outputs[0][0]) * kernels  # Dense, Conv, DepthwiseConv, SeparableConv


def _kernel_size(layer: Any) -> int:
    """Weights multiplied per output position: ``kernel``, ``depthwise_kernel`` + ``pointwise_kernel``, …"""
    return sum(math.prod(w.shape) for w in getattr(layer, "weights", []) if w.name.endswith("kernel"))


def _positions(layer: Any, shape: tuple[int | None, ...]) -> int:
    """Sample elements per channel: where a kernel is applied (tokens, pixels, time steps)."""
    dims = [d or 1 for d in shape[1:]]
    if not dims:
        return 1
    channels = dims[0] if getattr(layer, "data_format", None) == "channels_first" else dims[-1]
    return math.prod(dims) // channels


def _recurrent(layer: Any, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> int:
    """Each time step multiplies the input by ``kernel`` and the state by ``recurrent_kernel``."""
    steps = inputs[0][0][1] or 1
    shape = outputs[0][0]
    if layer.return_sequences:
        shape = shape[:1] + shape[2:]
    return steps * _positions(layer, shape) * _kernel_size(layer.cell)


def _einsum(layer: Any, output: tuple[int | None, ...]) -> int:
    """Every output element sums over the kernel axes the output does not keep."""
    operands, kept = layer.equation.split("->")
    kernel_axes = operands.split(",")[1]
    contracted = [size for axis, size in zip(kernel_axes, layer.kernel.shape, strict=True) if axis not in kept]
    return math.prod(d or 1 for d in output[1:]) * math.prod(contracted)


def _attention(layer: Any, inputs: list[TensorSpec]) -> int:
    """Four projections plus the score (query·key) and the weighted sum (score·value) per head."""
    query, value = inputs[0][0], inputs[1][0]
    key = inputs[2][0] if len(inputs) > 2 else value
    q_len, k_len, v_len = (math.prod(d or 1 for d in s[1:-1]) for s in (query, key, value))
    projections = (q_len * _kernel_size(layer.query_dense) + k_len * _kernel_size(layer.key_dense)
                   + v_len * _kernel_size(layer.value_dense) + q_len * _kernel_size(layer.output_dense))
    return projections + layer.num_heads * q_len * k_len * (layer.key_dim + layer.value_dim)


def _bytes(shape: Any, dtype: Any) -> int:
    return math.ceil(math.prod(d or 1 for d in shape) * dtype_bits(dtype) / 8)
