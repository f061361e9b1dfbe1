"""LSTM, GRU and RNN: ONNX's gate order and bias layout rewritten as Keras's."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from designer.keras_bridge.onnx_import.converter import Converter, OnnxNode, Value
from designer.keras_bridge.onnx_import.registry import Unsupported, handles

# ONNX stacks gate blocks as LSTM i,o,f,c and GRU z,r,h; Keras as LSTM i,f,c,o and GRU z,r,h.
_GATES = {"LSTM": (4, [0, 2, 3, 1]), "GRU": (3, [0, 1, 2]), "RNN": (1, [0])}
_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


def _reorder(matrix: np.ndarray, op: str) -> np.ndarray:
    """Rows of stacked gate blocks in Keras's order, transposed to Keras's (inputs, gates·units)."""
    blocks, order = _GATES[op]
    units = matrix.shape[0] // blocks
    return matrix.reshape(blocks, units, -1)[order].reshape(blocks * units, -1).T


def _unused_zero_state(cv: Converter, node: OnnxNode, index: int, what: str) -> None:
    name = node.inputs[index] if len(node.inputs) > index else ""
    if name and (not cv.is_const(name) or np.any(cv.const(name))):
        raise Unsupported(f"a non-zero {what} (only zero initial states are supported)")


@handles("LSTM", "GRU", "RNN")
def recurrent(cv: Converter, node: OnnxNode) -> list[Any]:
    op = node.op_type
    if node.attr("direction", "forward") != "forward":
        raise Unsupported("reverse and bidirectional recurrent layers are not supported yet")
    if [a.decode() if isinstance(a, bytes) else a for a in node.attr("activations", _DEFAULT_ACTIVATIONS[op])] \
            != _DEFAULT_ACTIVATIONS[op] or node.attr("clip") is not None or node.attr("input_forget", 0):
        raise Unsupported("custom activations, clip or input_forget")
    if len(node.inputs) > 7 and node.inputs[7]:
        raise Unsupported("peephole connections have no Keras equivalent")
    x = cv.value(node.inputs[0])
    batch_first = node.attr("layout", 0) == 1
    x = cv.arrange(x, (0, 1, 2) if batch_first else (1, 0, 2))
    if len(node.inputs) > 4 and node.inputs[4]:
        lengths = cv.const(node.inputs[4], "sequence_lens")
        if np.any(lengths != cv.onnx_shape(x)[1 if batch_first else 0]):
            raise Unsupported("sequences of different lengths (sequence_lens)")
    _unused_zero_state(cv, node, 5, "initial_h")
    _unused_zero_state(cv, node, 6, "initial_c")
    w, r = cv.const(node.inputs[1])[0], cv.const(node.inputs[2])[0]
    units = node.attr("hidden_size", r.shape[1])
    blocks = _GATES[op][0]
    bias = cv.optional_const(node, 3)
    bias = np.zeros(2 * blocks * units, w.dtype) if bias is None else bias[0]
    w_bias, r_bias = _reorder(bias[:blocks * units, None], op)[0], _reorder(bias[blocks * units:, None], op)[0]
    weights = [_reorder(w, op), _reorder(r, op)]
    config: dict[str, Any] = {}
    if op == "GRU":
        reset_after = bool(node.attr("linear_before_reset", 0))
        weights.append(np.stack([w_bias, r_bias]) if reset_after else w_bias + r_bias)
        config["reset_after"] = reset_after
    else:
        weights.append(w_bias + r_bias)
    want = [bool((name and cv.consumers.get(name)) or name in {o.name for o in cv.graph.output})
            for name in node.outputs]
    states = any(want[1:])
    cls = {"LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU, "RNN": keras.layers.SimpleRNN}[op]
    made = cv.layer(cls, x.tensor, weights=weights, units=units, return_sequences=want[0],
                    return_state=states, **config)
    sequence, states_out = (made[0], list(made[1:])) if states else (made, [])
    results: list[Value | None] = [None]
    if want[0]:  # Y: (T, 1, N, H) in ONNX, (N, T, 1, H) here
        results[0] = Value(cv.op(keras.ops.expand_dims, sequence, 2, suffix="y"),
                           (0, 1, 2, 3) if batch_first else (2, 0, 1, 3))
    for kind, state, wanted in zip(("h", "c"), states_out, want[1:], strict=False):  # Y_h, Y_c: (1, N, H) → (N, 1, H)
        results.append(Value(cv.op(keras.ops.expand_dims, state, 1, suffix=kind),
                             (0, 1, 2) if batch_first else (1, 0, 2)) if wanted else None)
    return results[:len(node.outputs)]
