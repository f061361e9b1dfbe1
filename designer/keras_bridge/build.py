"""Turn a network document into a real functional ``keras.Model``: same names, same
configs, same connections. This and ``analysis`` are the only places that call layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from designer.graph.document import NetworkDocument, Node
from designer.graph.validation import Diagnostic, validate
from designer.keras_bridge import placeholder  # noqa: F401  (registers the class imported documents may name)
from designer.keras_bridge.libraries import install_hint, library_class
from designer.layers.catalog import Catalog, load_catalog

SEQUENTIAL = "Sequential"


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


def make_layer(node: Node, catalog: Catalog) -> Any:
    """A fresh Keras layer (or operation) for ``node``, made by ``from_config`` as Keras loads one."""
    if node.module:  # a class outside keras.layers, e.g. the operation behind keras.ops.add
        registered = None
        if not node.module.startswith("keras."):  # a registered layer of an installed library (keras-hub)
            cls = library_class(node.module, node.type)
            if cls is None:
                raise UnknownLayerType(f"{node.module}.{node.type} is not a registered Keras layer here; "
                                       f"{install_hint(node.module)}")
            registered = keras.saving.get_registered_name(cls)
        operation = keras.saving.deserialize_keras_object(
            {"module": node.module, "class_name": node.type, "config": {**node.params, "name": node.name},
             "registered_name": registered}, safe_mode=True)
        if not node.trainable:
            operation.trainable = False
        return operation
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


def invoke(layer: Any, node: Node, inputs: list[Any], catalog: Catalog) -> list[Any]:
    """Call ``layer`` as the node says (its recorded call, or its signature's convention);
    always return a flat list of output tensors."""
    if node.call is not None:
        args = fill_ports(node.call["args"], inputs)
        kwargs = fill_ports(node.call["kwargs"], inputs)
        result = layer(*args, **kwargs)
    elif catalog.ports(node).as_list:
        result = layer(inputs)
    else:
        result = layer(*inputs)
    return keras.tree.flatten(result)


def fill_ports(template: Any, inputs: list[Any]) -> Any:
    """Put input tensors where a call template has ``{"port": i}``, and rebuild the objects Keras wrote as
    configs there (``x[:, 0]`` records its slices as ``__slice__`` objects), as Keras's own loading does."""
    if isinstance(template, dict):
        if template.keys() == {"port"}:
            return inputs[template["port"]]
        if template.keys() == {"class_name", "config"}:
            return keras.saving.deserialize_keras_object(template, safe_mode=True)
        return {k: fill_ports(v, inputs) for k, v in template.items()}
    if isinstance(template, list):
        return [fill_ports(v, inputs) for v in template]
    return template


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
    return _Builder(catalog).model(doc, "", doc.name)


class _Builder:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def model(self, doc: NetworkDocument, prefix: str, name: str, model_class: str = "") -> keras.Model:
        outputs = doc.effective_outputs()
        needed: set[str] = set()
        for ref in outputs:
            needed |= {ref.node} | doc.upstream(ref.node)
        layers: dict[str, Any] = {}  # node id → its layer, so shared nodes call the same one
        tensors: dict[str, list[Any]] = {}
        for node_id in doc.topological_order():
            node = doc.node(node_id)
            if node_id not in needed and not node.is_input:
                continue
            inputs = [tensors[e.src][e.src_port] for e in doc.in_edges(node_id)]
            try:
                tensors[node_id] = self.call(doc, node, inputs, layers, prefix)
            except BuildError:
                raise
            except Exception as exc:  # any Keras error becomes a diagnostic on its node
                raise BuildError([Diagnostic("error", prefix + node_id, error_text(exc), "keras")]) from exc
        if model_class == SEQUENTIAL:
            return keras.Sequential([layers[n] for n in doc.topological_order() if n in layers], name=name)
        model_inputs = [tensors[n.id][0] for n in doc.input_nodes()]
        model_outputs = [tensors[o.node][o.port] for o in outputs]
        return keras.Model(_single(model_inputs), _single(model_outputs), name=name)

    def layer(self, doc: NetworkDocument, node: Node, layers: dict[str, Any], prefix: str) -> Any:
        if node.id not in layers:
            if node.share:
                layers[node.id] = self.layer(doc, doc.node(node.share), layers, prefix)
            elif node.block is not None:
                inner = self.model(node.block, f"{prefix}{node.id}/", node.name,
                                   node.params.get("model_class", ""))
                if not node.trainable:
                    inner.trainable = False
                layers[node.id] = inner
            else:
                layers[node.id] = make_layer(node, self.catalog)
        return layers[node.id]

    def call(self, doc: NetworkDocument, node: Node, inputs: list[Any], layers: dict[str, Any],
             prefix: str) -> list[Any]:
        layer = self.layer(doc, node, layers, prefix)
        if node.is_input:
            return [layer.output]
        if node.block is not None and node.call is None:
            return keras.tree.flatten(layer(_single(inputs)))
        return invoke(layer, node, inputs, self.catalog)


def _single(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else items
