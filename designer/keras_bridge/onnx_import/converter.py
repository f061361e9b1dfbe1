"""Walk an ONNX graph in order and build the same network from Keras layers.

Constant sub-graphs (weights made by ConstantOfShape, shape arithmetic) are evaluated with
onnx's reference evaluator; ``Shape`` reads the static shapes of the Keras tensors. Every
other node goes to its handler in ``registry.HANDLERS``, which calls Keras layers (or
``keras.ops`` where no layer exists) through the helpers here, so names, weights and the
record of what became what are kept in one place.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from designer.keras_bridge.importer import ModelImportError
from designer.keras_bridge.internals import call_with_initial_values, rename_operation
from designer.keras_bridge.onnx_import import layout
from designer.keras_bridge.onnx_import.layout import Perm
from designer.keras_bridge.onnx_import.registry import HANDLERS, AcrossBatch, Unsupported
from designer.keras_bridge.placeholder import Placeholder

# Ops whose first input is laid out (N, C, spatial...): an input feeding one becomes channels last.
CHANNEL_OPS = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
               "BatchNormalization", "InstanceNormalization", "LRN", "Resize", "Upsample", "LpPool"}
# Ops that keep their input's layout: look through them for a channel op.
_LAYOUT_NEUTRAL = {"Relu", "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Clip", "Add", "Sub", "Mul", "Div",
                   "Dropout", "Identity", "Cast", "Abs", "Neg", "Exp", "PRelu", "HardSigmoid", "HardSwish"}
_RECURRENT = {"LSTM", "GRU", "RNN"}
_RANDOM = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}


@dataclass(frozen=True)
class Value:
    """A converted tensor: the Keras tensor and where each ONNX axis sits in it."""

    tensor: Any
    perm: Perm

    @property
    def rank(self) -> int:
        """The ONNX rank (the Keras rank, less a batch axis of Keras's own)."""
        return len(self.perm) - (layout.BATCH in self.perm)

    def keras_axis(self, onnx_axis: int) -> int:
        return self.perm.index(onnx_axis % self.rank)


@dataclass
class OnnxNode:
    proto: onnx.NodeProto
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def op_type(self) -> str:
        return self.proto.op_type

    @property
    def inputs(self) -> list[str]:
        return list(self.proto.input)

    @property
    def outputs(self) -> list[str]:
        return list(self.proto.output)

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


class OnnxImportError(ModelImportError):
    """An ONNX file that cannot be imported; the message names the problem and the fix."""


def valid_name(text: str) -> str:
    """A Keras-acceptable layer name (no '/', starts with a letter) made from an ONNX name."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.-")
    return name if name[:1].isalpha() else f"n_{name}" if name else "node"


class Converter:
    """One conversion: ONNX model in, functional ``keras.Model`` and its record out.

    ``fixed_batch`` keeps ONNX axis 0 as data: Keras gets a batch axis of its own (``layout.BATCH``),
    so a graph that computes across ONNX axis 0 imports, one ONNX tensor per Keras sample."""

    def __init__(self, model: onnx.ModelProto, channels_last: bool = True, placeholders: bool = False,
                 fixed_batch: bool = False) -> None:
        self.model, self.graph = model, model.graph
        self.placeholders = placeholders  # stand-ins for unsupported nodes, instead of refusing
        self.fixed_batch = fixed_batch
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.channels_last = channels_last
        self.constants: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        self.values: dict[str, Value] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for proto in self.graph.node:
            for name in proto.input:
                self.consumers[name].append(proto)
        self.absorbed: set[tuple[str, ...]] = set()  # by outputs: protobuf wrappers have no stable id
        self.taken: set[str] = set()
        self.became: list[tuple[str, str, list[str]]] = []  # (node name, op type, Keras classes made)
        self.unsupported: list[tuple[str, str, str]] = []  # (node name, op type, reason)
        self.placed: list[tuple[str, str, str]] = []  # the same, for nodes a placeholder stands in for
        self.across_batch: list[str] = []  # nodes refused (or placeholders) for computing across ONNX axis 0
        self.float_dtype = _float_dtype(model.graph)  # the layers' dtype policy: float64 for a float64 graph
        self.read_constants: set[str] = set()
        self.permutes = 0
        self.folded = 0
        self.index_bounds: dict[str, int] = {}  # integer input → its valid range (an Embedding's size)
        self.batch = 1
        self._node: OnnxNode | None = None
        self._made: list[str] = []
        self._arranged: dict[tuple[int, Perm], Value] = {}
        self._inferred: dict[str, Any] | None = None  # ONNX's shape inference, by tensor name

    # ---- the walk --------------------------------------------------------------------------
    def convert(self) -> tuple[keras.Model, list[str], list[str]]:
        """The model, and the names of its ONNX inputs and outputs in order."""
        inputs = self._make_inputs()
        for proto in self.graph.node:  # first, so handlers that look ahead (GELU) see every constant
            if proto.op_type == "Constant":
                self.constants[proto.output[0]] = self._fold(self._wrap(proto))[0]
                self.absorbed.add(tuple(proto.output))
                self.folded += 1
        for proto in self.graph.node:
            if tuple(proto.output) in self.absorbed:
                continue
            if any(n and n not in self.values and n not in self.constants for n in proto.input):
                continue  # downstream of an unsupported node: that one is reported
            node = self._wrap(proto)
            try:
                if self._foldable(node):
                    self.folded += 1
                    results = self._fold(node)
                else:
                    results = self._handle(node)
            except Unsupported as exc:
                if isinstance(exc, AcrossBatch):
                    self.across_batch.append(node.name)
                results = self._placeholder(node, str(exc)) if self.placeholders else None
                if results is None:
                    self.unsupported.append((node.name, node.op_type, str(exc)))
                    continue
            for name, result in zip(node.outputs, results, strict=False):
                if name and result is not None:
                    self._store(name, result)
        if self.unsupported:
            listed = "; ".join(f"{name} ({op}: {why})" for name, op, why in self.unsupported[:12])
            more = f" and {len(self.unsupported) - 12} more" if len(self.unsupported) > 12 else ""
            hint = "" if self.placeholders else ("; import with placeholders (netdesigner import --placeholders) to "
                                                 "bring the rest and replace them on the canvas")
            raise OnnxImportError(f"{len(self.unsupported)} node(s) have no Keras equivalent: {listed}{more}{hint}")
        output_names = [o.name for o in self.graph.output]
        for name in output_names:
            if name not in self.values:
                raise OnnxImportError(f"output {name!r} is a constant, not computed from the inputs; "
                                      "a Keras model cannot return it")
        model = keras.Model([inputs[n].tensor for n in inputs], [self.values[n].tensor for n in output_names],
                            name=valid_name(self.graph.name or "onnx_model"))
        return model, list(inputs), output_names

    def _make_inputs(self) -> dict[str, Value]:
        made: dict[str, Value] = {}
        for info in self.graph.input:
            if info.name in self.constants:
                continue
            tensor_type = info.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
            if self.fixed_batch:
                perm = layout.identity(len(dims), fixed_batch=True)
            elif not dims:
                self.across_batch.append(info.name)  # a fixed batch gives it one
                raise OnnxImportError(f"input {info.name!r} is a scalar; Keras inputs need a batch axis")
            else:
                perm = self._input_perm(info.name, len(dims))
                if not made and dims[perm[0]]:
                    self.batch = dims[perm[0]]
            dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
            name = self._unique(valid_name(info.name))
            tensor = keras.Input(shape=tuple(dims[a] for a in perm[1:]), dtype=str(dtype), name=name)
            made[info.name] = self.values[info.name] = Value(tensor, perm)
        return made

    def _input_perm(self, name: str, rank: int) -> Perm:
        """Channels last for an input that feeds convolutions; batch first for the (T, N, F)
        sequence a recurrent layer reads; ONNX's own order otherwise."""
        for proto in self.consumers.get(name, []):
            if self.channels_last and proto.op_type in CHANNEL_OPS and proto.input[0] == name:
                return layout.channels_last(rank)
            if proto.op_type in _RECURRENT and proto.input[0] == name and rank == 3 and not any(
                    a.name == "layout" and a.i == 1 for a in proto.attribute):
                return (1, 0, 2)
            if proto.op_type in _LAYOUT_NEUTRAL:
                perms = {self._input_perm(o, rank) for o in proto.output} - {layout.identity(rank)}
                if len(perms) == 1:
                    return perms.pop()
        return layout.identity(rank)

    def _wrap(self, proto: onnx.NodeProto) -> OnnxNode:
        attrs = {a.name: helper.get_attribute_value(a) for a in proto.attribute}
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
        return OnnxNode(proto, valid_name(proto.name or f"{proto.op_type.lower()}_{proto.output[0]}"), attrs)

    def _foldable(self, node: OnnxNode) -> bool:
        return node.op_type not in _RANDOM and all(not n or n in self.constants for n in node.inputs)

    def _fold(self, node: OnnxNode) -> list[np.ndarray]:
        feeds = {n: self.constants[n] for n in node.inputs if n}
        graph = helper.make_graph([node.proto], "fold", [helper.make_empty_tensor_value_info(n) for n in feeds],
                                  [helper.make_empty_tensor_value_info(n) for n in node.outputs if n])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        try:
            return list(ReferenceEvaluator(model).run(None, feeds))
        except Exception as exc:  # the evaluator's own error says which operator and why
            raise Unsupported(f"could not evaluate this constant: {str(exc).splitlines()[0][:160]}") from None

    def _handle(self, node: OnnxNode) -> list[Any]:
        handler = HANDLERS.get(node.op_type)
        if handler is None:
            raise Unsupported("no Keras layer or keras.ops call is mapped to this operator")
        self._node, self._made = node, []
        results = handler(self, node)
        if not self._made:
            computed = any(isinstance(r, Value) for r in results)
            self._made = ["(axes relabelled, no layer)" if computed else "(constant: static shape)"]
        self.became.append((node.name, node.op_type, self._made))
        return results

    def _placeholder(self, node: OnnxNode, reason: str) -> list[Value] | None:
        """A marked stand-in for ``node`` with its outputs' shapes (ONNX's shape inference, else its first
        input's), laid out as that input is; None when no input is a computed tensor."""
        tensors = [self.values[n] for n in node.inputs if n in self.values]
        if not tensors:
            return None
        first = tensors[0]
        if self._inferred is None:  # once, and only for a file that needs placeholders
            inferred = onnx.shape_inference.infer_shapes(self.model).graph.value_info
            self._inferred = {info.name: info.type.tensor_type.shape.dim for info in inferred
                              if info.type.tensor_type.HasField("shape")}
        shapes, perms = [], []
        for name in node.outputs:
            dims = self._inferred.get(name)
            shape = ([d.dim_value if d.HasField("dim_value") else None for d in dims] if dims
                     else list(self.onnx_shape(first)))
            perm = first.perm if len(shape) == first.rank else self.onnx_order(len(shape))
            shapes.append([shape[a] for a in perm[1:]])
            perms.append(perm)
        self._node, self._made = node, []
        made = self.layer(Placeholder, [t.tensor for t in tensors] if len(tensors) > 1 else first.tensor,
                          op_type=node.op_type, source_node=node.proto.name or node.name, reason=reason,
                          output_shapes=shapes)
        self.became.append((node.name, node.op_type, self._made))
        self.placed.append((node.name, node.op_type, reason))
        outputs = made if isinstance(made, (list, tuple)) else [made]
        return [Value(t, p) for t, p in zip(outputs, perms, strict=True)]

    def _store(self, name: str, result: Any) -> None:
        if isinstance(result, Value):
            self.values[name] = result
        else:
            self.constants[name] = np.asarray(result)

    # ---- helpers for handlers ---------------------------------------------------------------
    def const(self, name: str, what: str = "this input") -> np.ndarray:
        """A constant input; refuses when it is computed from the network's inputs."""
        if not name or name not in self.constants:
            raise Unsupported(f"{what} must be a constant (weights), but it is computed at run time")
        self.read_constants.add(name)
        return self.constants[name]

    def optional_const(self, node: OnnxNode, index: int) -> np.ndarray | None:
        return self.const(node.inputs[index]) if len(node.inputs) > index and node.inputs[index] else None

    def is_const(self, name: str) -> bool:
        return name in self.constants

    def value(self, name: str) -> Value:
        if name not in self.values:
            raise Unsupported("expected a tensor computed from the inputs, got a constant")
        return self.values[name]

    def onnx_order(self, rank: int) -> Perm:
        """The perm of a tensor in ONNX's own order, as this import lays tensors out."""
        return layout.identity(rank, self.fixed_batch)

    def onnx_shape(self, value: Value) -> tuple[int | None, ...]:
        """The ONNX shape of ``value``, with the batch size the graph was exported with."""
        keras_shape = (self.batch, *value.tensor.shape[1:])
        return tuple(keras_shape[value.perm.index(a)] for a in range(value.rank))

    def layer(self, cls: type, inputs: Any, suffix: str = "", weights: Sequence[np.ndarray] = (),
              **config: Any) -> Any:
        """Make a Keras layer named after the current node, call it, give it ``weights``."""
        if self.float_dtype != "float32":
            config.setdefault("dtype", self.float_dtype)
        made = cls(name=self._layer_name(suffix), **config)
        tensor, done = call_with_initial_values(made, inputs, list(weights))
        if weights and not done:
            made.set_weights([np.asarray(w, dtype=made.weights[i].dtype) for i, w in enumerate(weights)])
        self._made.append(cls.__name__)
        return tensor

    def op(self, fn: Any, *args: Any, suffix: str = "", **kwargs: Any) -> Any:
        """Call a ``keras.ops`` function (where Keras has no layer); its node gets this node's name."""
        result = fn(*args, **kwargs)
        rename_operation(result[0] if isinstance(result, (list, tuple)) else result, self._layer_name(suffix))
        self._made.append(f"keras.ops.{fn.__name__}")
        return result

    def absorb(self, proto: onnx.NodeProto) -> None:
        """Mark a following node as done by the current handler (a bias Add folded into Dense)."""
        self.absorbed.add(tuple(proto.output))
        self.became.append((self._wrap(proto).name, proto.op_type, ["(folded into the layer before)"]))

    def sole_consumer(self, name: str, op_type: str) -> onnx.NodeProto | None:
        users = self.consumers.get(name, [])
        graph_outputs = {o.name for o in self.graph.output}
        if len(users) == 1 and users[0].op_type == op_type and name not in graph_outputs:
            return users[0]
        return None

    def arrange(self, value: Value, perm: Perm) -> Value:
        """``value`` with its axes in ``perm`` order, a Permute layer inserted if needed (once)."""
        if value.perm == perm:
            return value
        key = (id(value.tensor), perm)
        if key not in self._arranged:
            dims = layout.permute_dims(value.perm, perm)
            if dims is None and self.fixed_batch:
                raise Unsupported("needs ONNX axis 0 as Keras's batch axis, which a fixed-batch import keeps as "
                                  "data: import without --fixed-batch")
            if dims is None:
                raise AcrossBatch("needs the batch axis moved, which a Keras layer cannot do")
            self.permutes += 1
            self._arranged[key] = Value(self.layer(keras.layers.Permute, value.tensor, "permute", dims=dims), perm)
        return self._arranged[key]

    def in_onnx_order(self, value: Value) -> Any:
        """A Keras tensor whose elements are laid out as ONNX lays them out (for Reshape, Flatten)."""
        ordered = self.onnx_order(value.rank)
        if layout.same_memory_order(self.onnx_shape(value), value.perm, ordered):
            return value.tensor
        return self.arrange(value, ordered).tensor

    def _layer_name(self, suffix: str) -> str:
        assert self._node is not None
        return self._unique(self._node.name + (f"_{suffix}" if suffix else ""))

    def _unique(self, base: str) -> str:
        name, i = base, 1
        while name in self.taken:
            i += 1
            name = f"{base}_{i}"
        self.taken.add(name)
        return name

    def operator_counts(self) -> dict[str, int]:
        return dict(Counter(p.op_type for p in self.graph.node).most_common())


def _float_dtype(graph: onnx.GraphProto) -> str:
    """float64 when an input of the graph is float64 (Keras layers would compute it in float32)."""
    types = {info.type.tensor_type.elem_type for info in graph.input}
    return "float64" if onnx.TensorProto.DOUBLE in types else "float32"
