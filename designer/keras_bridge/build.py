"""Turn a network document into a real functional ``keras.Model``: same names, same
configs, same connections. This and ``analysis`` are the only places that call layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from designer.graph.document import NetworkDocument, Node
from designer.graph.validation import Diagnostic, validate
from designer.layers.catalog import Catalog, load_catalog


class UnknownLayerType(ValueError):
    """A node whose type the installed Keras does not have (kept in the file, reported)."""


class BuildError(RuntimeError):
    """The document cannot become a model; ``diagnostics`` says where and why."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        first = self.diagnostics[0]
        where = f"{first.node}: " if first.node else ""
        more = f" (and {len(self.diagnostics) - 1} more problems)" if len(self.diagnostics) > 1 else ""
        super().__init__(f"{where}{first.message}{more}")


def make_layer(node: Node, catalog: Catalog) -> keras.layers.Layer:
    """A fresh Keras layer for ``node``, made by ``from_config`` exactly as Keras loads one."""
    if node.type not in catalog:
        reason = catalog.excluded.get(node.type)
        raise UnknownLayerType(
            f"layer type {node.type!r} cannot be built: {reason}" if reason else
            f"unknown layer type {node.type!r} (not in Keras {catalog.keras_version}); "
            "it is kept in the file: replace it or install the package that defines it")
    spec = catalog[node.type]
    layer = spec.cls.from_config(spec.config(node.params, node.name))
    if not node.trainable:
        layer.trainable = False
    return layer


def call_layer(layer: Any, node: Node, inputs: list[Any], catalog: Catalog) -> list[Any]:
    """Call ``layer`` the way its signature expects; always return a flat list of outputs."""
    result = layer(inputs) if node.type in catalog and catalog[node.type].ports.as_list else layer(*inputs)
    return keras.tree.flatten(result)


def error_text(exc: BaseException) -> str:
    """Keras's own message, without the call-site boilerplate it wraps around it."""
    text = str(exc).strip() or type(exc).__name__
    for marker in ("\n\nArguments received by", "\nArguments received by"):
        text = text.split(marker)[0]
    if text.startswith("Error when deserializing") and "Exception encountered: " in text:
        text = text.split("Exception encountered: ", 1)[1]
    if text.startswith("Exception encountered when calling"):
        text = text.split("\n", 1)[-1].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines)[:600]


def build_model(doc: NetworkDocument, catalog: Catalog | None = None) -> keras.Model:
    """The functional model that ``doc`` describes; ``BuildError`` names the node at fault."""
    catalog = catalog or load_catalog()
    errors = [d for d in validate(doc, catalog.ports) if d.severity == "error"]
    if errors:
        raise BuildError(errors)
    return _build(doc, catalog, "", doc.name)


def _build(doc: NetworkDocument, catalog: Catalog, prefix: str, name: str) -> keras.Model:
    outputs = doc.effective_outputs()
    needed: set[str] = set()
    for ref in outputs:
        needed |= {ref.node} | doc.upstream(ref.node)
    tensors: dict[str, list[Any]] = {}
    for node_id in doc.topological_order():
        node = doc.node(node_id)
        if node_id not in needed and not node.is_input:
            continue
        inputs = [tensors[e.src][e.src_port] for e in doc.in_edges(node_id)]
        try:
            tensors[node_id] = call_node(node, inputs, catalog, prefix)
        except BuildError:
            raise
        except Exception as exc:
            raise BuildError([Diagnostic("error", prefix + node_id, error_text(exc), "keras")]) from exc
    model_inputs = [tensors[n.id][0] for n in doc.input_nodes()]
    model_outputs = [tensors[o.node][o.port] for o in outputs]
    return keras.Model(_single(model_inputs), _single(model_outputs), name=name)


def call_node(node: Node, inputs: list[Any], catalog: Catalog, prefix: str = "") -> list[Any]:
    """Create ``node``'s layer (or its block's model) and call it on symbolic ``inputs``."""
    if node.is_input:
        return [make_layer(node, catalog).output]
    if node.block is not None:
        inner = _build(node.block, catalog, f"{prefix}{node.id}/", node.name)
        if not node.trainable:
            inner.trainable = False
        return keras.tree.flatten(inner(_single(inputs)))
    return call_layer(make_layer(node, catalog), node, inputs, catalog)


def _single(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else items
