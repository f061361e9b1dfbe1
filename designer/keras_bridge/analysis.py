"""Live analysis: output shapes, parameter counts and Keras's own errors, per node.

Layers are created under ``keras.StatelessScope`` so their weights are declared but never
allocated or initialised: a 100-million-parameter model analyses as fast as a small one.
Each node also carries its cost (``cost.py``: MACs, parameter and activation bytes).
Results are cached by what determines them (layer type, parameters, trainable flag and
input shapes), so after an edit only the edited node and whatever its output shape
changed are recomputed.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import keras

from designer.graph.document import NetworkDocument, Node
from designer.graph.serialize import document_to_dict
from designer.graph.validation import Diagnostic, validate
from designer.keras_bridge.build import UnknownLayerType, error_text, invoke, make_layer
from designer.keras_bridge.cost import Cost, layer_cost
from designer.keras_bridge.internals import forget_deferred_variables
from designer.layers.catalog import Catalog, load_catalog

TensorSpec = tuple[tuple[int | None, ...], str]  # (shape with batch axis, dtype)
HUGE_LAYER = 2**31  # parameters beyond which a layer will not fit in memory as float32


@dataclass
class NodeAnalysis:
    outputs: list[TensorSpec] = field(default_factory=list)
    trainable_params: int = 0
    non_trainable_params: int = 0
    error: str | None = None
    children: Analysis | None = None  # for blocks: the analysis of the inner graph
    cost: Cost = field(default_factory=Cost)

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    def shape_text(self) -> str:
        shapes = [_shape_str(shape) for shape, _ in self.outputs]
        return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


@dataclass
class Analysis:
    nodes: dict[str, NodeAnalysis]
    diagnostics: list[Diagnostic]
    recomputed: int = 0  # how many nodes were analysed afresh (the rest came from the cache)

    def top_level(self) -> list[NodeAnalysis]:
        """Results of the document's own nodes (a block's total already holds its children)."""
        return [n for path, n in self.nodes.items() if "/" not in path]

    @property
    def trainable_params(self) -> int:
        return sum(n.trainable_params for n in self.top_level())

    @property
    def non_trainable_params(self) -> int:
        return sum(n.non_trainable_params for n in self.top_level())

    @property
    def total_params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @cached_property
    def cost(self) -> Cost:
        """Totals of the document's own nodes; read once analysis is complete (the canvas asks per node)."""
        return sum((n.cost for n in self.top_level()), Cost())

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    def to_dict(self, doc: NetworkDocument) -> dict[str, Any]:
        nodes = []
        for node in doc.nodes.values():
            result = self.nodes.get(node.id, NodeAnalysis())
            nodes.append({"id": node.id, "name": node.name, "type": node.type,
                          "output_shape": [list(s) for s, _ in result.outputs] if len(result.outputs) > 1
                          else (list(result.outputs[0][0]) if result.outputs else None),
                          "params": result.params, "trainable": node.trainable,
                          "macs": result.cost.macs, "param_bytes": result.cost.param_bytes,
                          "activation_bytes": result.cost.activation_bytes,
                          "inputs": [doc.node(e.src).name for e in doc.in_edges(node.id)]})
        return {"nodes": nodes, "total_params": self.total_params,
                "trainable_params": self.trainable_params,
                "non_trainable_params": self.non_trainable_params,
                "total_macs": self.cost.macs, "param_bytes": self.cost.param_bytes,
                "activation_bytes": self.cost.activation_bytes,
                "diagnostics": [d.to_dict() for d in self.diagnostics]}


def _shape_str(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class Analyzer:
    """Analyses documents, remembering per-node results across calls (one per open document)."""

    def __init__(self, catalog: Catalog | None = None, cache_size: int = 20_000) -> None:
        self.catalog = catalog or load_catalog()
        self._cache: OrderedDict[str, NodeAnalysis] = OrderedDict()
        self._cache_size = cache_size

    def analyze(self, doc: NetworkDocument) -> Analysis:
        result = Analysis({}, validate(doc, self.catalog.ports))
        cyclic = {d.node for d in result.diagnostics if d.code == "cycle" and d.node}
        self._analyze_into(doc, result, "", cyclic)
        return result

    def _analyze_into(self, doc: NetworkDocument, result: Analysis, prefix: str, cyclic: set[str],
                      seeds: dict[str, NodeAnalysis] | None = None) -> None:
        skip = {p[len(prefix):] for p in cyclic if p.startswith(prefix) and "/" not in p[len(prefix):]}
        for node_id in doc.topological_order(skip):
            node = doc.node(node_id)
            if seeds and node_id in seeds:
                result.nodes[prefix + node_id] = seeds[node_id]
                continue
            edges = doc.in_edges(node_id)
            inputs: list[TensorSpec] = []
            for edge in edges:
                up = result.nodes.get(prefix + edge.src)
                if up is None or up.error is not None or edge.src_port >= len(up.outputs):
                    break
                inputs.append(up.outputs[edge.src_port])
            if len(inputs) != len(edges) or (not node.is_input and not edges):
                continue  # an input is missing or failed: already reported there; no cascade
            analysis = self._node(doc.node(node.share) if node.share else node, node.call, inputs, result)
            if node.share:  # the weights belong to the node that owns the layer; the compute is this call's
                analysis = replace(analysis, trainable_params=0, non_trainable_params=0,
                                   cost=replace(analysis.cost, param_bytes=0))
            path = prefix + node_id
            result.nodes[path] = analysis
            if analysis.children is not None:
                for child_id, child in analysis.children.nodes.items():
                    result.nodes[f"{path}/{child_id}"] = child
                result.diagnostics += [Diagnostic(d.severity, f"{path}/{d.node}", d.message, d.code)
                                       for d in analysis.children.diagnostics]
            elif analysis.error is not None:
                result.diagnostics.append(Diagnostic("error", path, analysis.error, "keras"))
            if analysis.params > HUGE_LAYER:
                result.diagnostics.append(Diagnostic(
                    "warning", path, f"{analysis.params:,} parameters will not fit in memory "
                    "as float32; make this layer smaller", "huge-layer"))

    def _node(self, node: Node, call: dict[str, Any] | None, inputs: list[TensorSpec],
              result: Analysis) -> NodeAnalysis:
        block = document_to_dict(node.block) if node.block is not None else None
        key = json.dumps([node.type, node.module, node.params, node.trainable, call, inputs, block],
                         sort_keys=True, default=str)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        result.recomputed += 1
        analysis = self._block(node, inputs, result) if node.block is not None else self._layer(node, call, inputs)
        self._cache[key] = analysis
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return analysis

    def _layer(self, node: Node, call: dict[str, Any] | None, inputs: list[TensorSpec]) -> NodeAnalysis:
        symbolic = [keras.KerasTensor(shape, dtype=dtype) for shape, dtype in inputs]
        try:
            with keras.StatelessScope(initialize_variables=False):
                layer = make_layer(node, self.catalog)
                if node.is_input:
                    outputs = [layer.output]
                else:
                    outputs = invoke(layer, replace(node, call=call), symbolic, self.catalog)
                counts = (_count(getattr(layer, "trainable_weights", [])),
                          _count(getattr(layer, "non_trainable_weights", [])))
                specs = [_spec(t) for t in outputs]
                cost = layer_cost(layer, inputs, specs)
        except UnknownLayerType as exc:
            return NodeAnalysis(error=str(exc))
        except Exception as exc:  # Keras's message is the diagnostic
            return NodeAnalysis(error=error_text(exc))
        finally:
            forget_deferred_variables()
        return NodeAnalysis(specs, *counts, cost=cost)

    def _block(self, node: Node, inputs: list[TensorSpec], outer: Analysis) -> NodeAnalysis:
        """A block is analysed as its inner graph, its Input nodes fed the outer shapes."""
        assert node.block is not None
        inner = Analysis({}, [])
        seeds = {i.id: NodeAnalysis([spec]) for i, spec in zip(node.block.input_nodes(), inputs, strict=False)}
        self._analyze_into(node.block, inner, "", set(), seeds)
        outer.recomputed += inner.recomputed
        missing = [o for o in node.block.effective_outputs() if o.node not in inner.nodes
                   or o.port >= len(inner.nodes[o.node].outputs)]
        if inner.diagnostics or missing:
            first = inner.diagnostics[0].message if inner.diagnostics else "an output has no shape"
            return NodeAnalysis(error=f"inside block {node.name!r}: {first}", children=inner)
        specs = [inner.nodes[o.node].outputs[o.port] for o in node.block.effective_outputs()]
        trainable = inner.trainable_params if node.trainable else 0
        return NodeAnalysis(specs, trainable, inner.total_params - trainable, children=inner, cost=inner.cost)


def _spec(tensor: Any) -> TensorSpec:
    return tuple(tensor.shape), str(tensor.dtype)


def _count(weights: list[Any]) -> int:
    return sum(math.prod(w.shape) for w in weights)
