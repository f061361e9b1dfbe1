"""Import any Keras model onto the canvas, losslessly.

The model's own functional config is the source of truth (it is what Keras saves): each
layer call becomes a node, a layer called several times becomes one owner node and
sharing nodes, nested models become blocks, and ``keras.ops`` calls become nodes too.
Parameters equal to the layer's defaults are left out so the inspector shows what matters.
"""

from __future__ import annotations

import functools
import inspect
import json
import zipfile
from pathlib import Path
from typing import Any

import keras

from designer.graph.document import BLOCK_TYPE, INPUT_TYPE, NetworkDocument, PortRef
from designer.graph.layout import auto_layout
from designer.graph.project import open_regular_file
from designer.keras_bridge.build import SEQUENTIAL
from designer.keras_bridge.internals import functional_graph, is_functional
from designer.keras_bridge.libraries import install_hint, library_class
from designer.keras_bridge.preprocessing import with_adapted_state
from designer.layers.catalog import Catalog, load_catalog

MODEL_CLASSES = {"Functional", "Model", SEQUENTIAL}
_DROPPED = {"name", "trainable"}
MAX_CONFIG_BYTES = 64 * 2**20  # the largest keras.applications config (NASNetLarge) is 1 MB


APPLICATIONS = "keras.applications:"  # a source naming a built application: fresh weights, none to keep


def keeps_weights(source: str) -> bool:
    """Whether importing ``source`` brings weights worth keeping with the project (files do; a
    ``keras.applications`` model is built with fresh ones)."""
    return not source.startswith(APPLICATIONS)


class ModelImportError(ValueError):
    """A source that cannot be imported; the message names the problem and the fix."""


# ---- sources ------------------------------------------------------------------------------
def load_source(source: str, weights: str | None = None) -> keras.Model:
    """Load ``FILE.keras``, ``FILE.h5``, ``CONFIG.json``, ``FILE.onnx``, a SavedModel folder or
    ``keras.applications:NAME`` safely."""
    if not keeps_weights(source):
        return application(source.removeprefix(APPLICATIONS), weights)
    path = Path(source)
    from designer.keras_bridge.onnx_import import import_onnx, is_onnx_source

    if is_onnx_source(path):  # converted to Keras layers; its messages name the path
        return import_onnx(path, check=False).model  # the report is import_onnx's to give
    if not path.is_file():
        raise ModelImportError(f"{source}: no such file" if not path.exists() else
                               f"{source}: not a regular file; give a saved model file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".keras":
            if not zipfile.is_zipfile(path):
                raise ModelImportError("not a complete zip archive, so not a usable .keras file "
                                       "(truncated, or not saved with model.save('name.keras'))")
            _check_classes(_archive_config(path))  # before Keras reads the file: it trusts its size and classes
            return functional_graph(keras.saving.load_model(path, compile=False, safe_mode=True))
        if suffix in (".h5", ".hdf5"):
            return functional_graph(keras.saving.load_model(path, compile=False, safe_mode=True))
        if suffix == ".json":
            with open_regular_file(path) as fh:
                config = _parse_config(fh.read(MAX_CONFIG_BYTES + 1), "the file")
            _check_classes(config)
            return functional_graph(keras.saving.deserialize_keras_object(config, safe_mode=True))
    except ModelImportError as exc:
        raise ModelImportError(f"{source}: {exc}") from None
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ModelImportError(f"{source}: the file is damaged or truncated ({exc})") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelImportError(f"{source}: {_explain(exc)}") from None
    raise ModelImportError(f"{source}: unknown kind of file; give a .keras, .h5, .json or .onnx model, "
                           "or keras.applications:NAME")


def _archive_config(path: Path) -> Any:
    """The model config inside a ``.keras`` zip, refused before it is read if it claims to be huge: a few
    kilobytes that inflate to a gigabyte would otherwise take gigabytes of memory. (zipfile never
    returns more than the size a member declares, so checking that size bounds the read.)"""
    with zipfile.ZipFile(path) as archive:
        try:
            info = archive.getinfo("config.json")
        except KeyError:
            raise ModelImportError("the archive has no config.json, so it is not a saved Keras model") from None
        if info.file_size > MAX_CONFIG_BYTES:
            raise ModelImportError(f"its config.json inflates to {info.file_size:,} bytes, over the "
                                   f"{MAX_CONFIG_BYTES // 2**20} MiB a model's config can take; the file is "
                                   "damaged or made to exhaust memory")
        with archive.open(info) as fh:
            return _parse_config(fh.read(MAX_CONFIG_BYTES + 1), "its config.json")


def _parse_config(raw: bytes, what: str) -> Any:
    if len(raw) > MAX_CONFIG_BYTES:
        raise ModelImportError(f"{what} is over {MAX_CONFIG_BYTES // 2**20} MiB, more than a model's config "
                               "takes; is it really one?")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ModelImportError(f"{what} is not UTF-8 text (byte {exc.start}); Keras writes UTF-8 JSON, so the "
                               "file is damaged or not a Keras model") from None
    except json.JSONDecodeError as exc:
        raise ModelImportError(f"{what} is not valid JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise ModelImportError(f"{what} is nested too deeply to be a model's config") from None


def _check_classes(config: Any, layer: str = "") -> None:
    """Refuse the first class that is not Keras's own, naming it and its layer, before Keras tries to
    load it (Keras would only say that the enclosing Functional model failed)."""
    if isinstance(config, list):
        for item in config:
            _check_classes(item, layer)
    elif isinstance(config, dict):
        inner = config.get("config")
        if isinstance(inner, dict) and "trainable" in inner and isinstance(inner.get("name"), str):
            layer = inner["name"]  # a layer's config (an initializer's or dtype policy's has no 'trainable')
        if "class_name" in config and "module" in config and not _is_loadable(config):
            raise ModelImportError(_custom_class(layer, str(config["class_name"]), str(config["module"])))
        for value in config.values():
            _check_classes(value, layer)


def _is_keras_class(entry: dict[str, Any]) -> bool:
    module = entry.get("module") or ""
    return (module == "keras" or module.startswith("keras.")) and entry.get("registered_name") in (
        None, entry.get("class_name"))


def _is_loadable(entry: dict[str, Any]) -> bool:
    """Keras's own class, or a registered layer of an installed library (keras-hub)."""
    return _is_keras_class(entry) or library_class(
        str(entry.get("module") or ""), str(entry["class_name"]), entry.get("registered_name")) is not None


def _custom_class(layer: str, class_name: str, module: str) -> str:
    return (f"layer {layer!r} is a custom class {class_name!r} of {module!r} that is not registered with Keras "
            f"here; {install_hint(module)}. Only Keras's own layers and registered layers of installed "
            "libraries are imported (the file's own code never runs)")


def _explain(exc: Exception) -> str:
    text = str(exc)
    if "Lambda" in text or ("lambda" in text and "safe_mode" in text):
        return ("the model contains a Lambda layer, which runs Python code stored in the file; it is "
                "not loaded without consent. Replace the Lambda with a built-in layer or keras.ops call")
    if "Could not locate" in text or "Unknown layer" in text:
        name = text.split("'")[1] if "'" in text else "?"
        return (f"the model uses the class {name!r}, which this Keras does not have; install the "
                "package that defines it (custom layers are not imported)")
    return text.split("\n")[0][:300]


def application_names() -> list[str]:
    return sorted(n for n in dir(keras.applications) if n[:1].isupper()
                  and callable(getattr(keras.applications, n)))


def application(name: str, weights: str | None = None) -> keras.Model:
    """A ``keras.applications`` architecture, built without downloading anything."""
    if name not in application_names():
        raise ModelImportError(f"keras.applications has no {name!r}; choose one of: {', '.join(application_names())}")
    if weights is not None and not Path(weights).is_file():
        raise ModelImportError(f"{weights}: no such weights file")
    return getattr(keras.applications, name)(weights=weights)


# ---- model → document -----------------------------------------------------------------------
def import_model(model: keras.Model, catalog: Catalog | None = None, layout: bool = True) -> NetworkDocument:
    doc = import_config(graph_config(model), isinstance(model, keras.Sequential), catalog, layout)
    _keep_adapted_state(doc, model)
    return doc


def graph_config(model: keras.Model) -> dict[str, Any]:
    """The model's functional config, also where its class subclasses the functional model (every
    keras-hub backbone and task): such a class's config holds only its constructor arguments, so its
    graph is read from the loaded model itself, its layers keeping their own classes and configs."""
    config = functional_graph(model).get_config()
    if not is_functional(model):  # a Sequential: its entries are layers, no nested graphs to read
        return config
    layers = {layer.name: layer for layer in model.layers}
    for entry in config.get("layers", []):
        layer = layers.get(entry["name"])
        if entry["class_name"] != SEQUENTIAL and is_functional(layer):  # e.g. a backbone inside a task
            entry.update(class_name="Functional", module="keras", registered_name=None, config=graph_config(layer))
    return config


def _keep_adapted_state(doc: NetworkDocument, model: keras.Model) -> None:
    """Write adapted vocabularies into the lookups' params: the config has none (a ``.keras`` file
    keeps them as assets) and they are not weights, so only the live layer still knows them."""
    layers = {layer.name: layer for layer in model.layers}
    for node in doc.nodes.values():
        layer = layers.get(node.name)
        if layer is None or node.share:
            continue
        if node.block is not None:
            _keep_adapted_state(node.block, layer)
        else:
            node.params = with_adapted_state(layer, node.params)


def import_config(config: dict[str, Any], sequential: bool = False, catalog: Catalog | None = None,
                  layout: bool = True) -> NetworkDocument:
    """A document from a model's config (what a .keras file holds), without building the model."""
    catalog = catalog or load_catalog()
    if sequential:
        config = _sequential_as_functional(config)
    doc = _from_functional(config, config["name"], catalog)
    if layout:
        auto_layout(doc)
    return doc


def _sequential_as_functional(config: dict[str, Any]) -> dict[str, Any]:
    """A Sequential config rewritten as the functional config of the same chain."""
    entries = config["layers"]
    if not entries or entries[0]["class_name"] != INPUT_TYPE:
        raise ModelImportError("the Sequential model has no input shape; build it (e.g. model.build(shape)) "
                           "or give it a keras.Input first")
    layers, prev = [], None
    for entry in entries:
        name = entry["config"]["name"]
        history = [] if prev is None else [{"args": [_tensor_ref(prev)], "kwargs": {}}]
        layers.append({**entry, "name": name, "inbound_nodes": history})
        prev = name
    return {"name": config["name"], "layers": layers, "input_layers": [[entries[0]["config"]["name"], 0, 0]],
            "output_layers": [[prev, 0, 0]]}


def _tensor_ref(layer_name: str) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [layer_name, 0, 0]}}


def _from_functional(config: dict[str, Any], name: str, catalog: Catalog) -> NetworkDocument:
    doc = NetworkDocument(name)
    entries = {e["name"]: e for e in config["layers"]}
    calls: dict[tuple[str, int], str] = {}  # (layer name, call index) → node id
    order = [n for n, _, _ in _as_list(config["input_layers"])]
    order += [n for n in entries if n not in order]
    for layer_name in order:
        entry = entries[layer_name]
        kind, params, module, inner = _describe(entry, catalog)
        trainable = entry["config"].get("trainable", True)
        inbound = entry.get("inbound_nodes") or []
        for index, call in enumerate(inbound or [None]):
            owner = calls.get((layer_name, 0))
            template, sources = _template(call) if call is not None else (None, [])
            block = inner if owner is None else doc.node(owner).block  # a nested model called again
            node = doc.add_node(kind, layer_name, params if owner is None else {}, module=module,
                                trainable=trainable, block=block, share=owner)
            calls[(layer_name, index)] = node.id
            for port, (src_layer, src_index, src_port) in enumerate(sources):
                doc.connect(calls[(src_layer, src_index)], node.id, src_port=src_port, dst_port=port)
            if template is not None and not _is_default_call(template, len(sources), kind, catalog):
                node.call = template
    doc.outputs = [PortRef(calls[(n, i)], t) for n, i, t in _as_list(config["output_layers"])]
    return doc


def _as_list(refs: Any) -> list[list[Any]]:
    return [refs] if refs and isinstance(refs[0], str) else list(refs)


def _describe(entry: dict[str, Any], catalog: Catalog) -> tuple[str, dict[str, Any], str, Any]:
    """(node type, params, module, inner document) for one layer entry of a functional config."""
    class_name, config = entry["class_name"], entry["config"]
    if class_name in MODEL_CLASSES:
        if class_name == SEQUENTIAL:
            inner = _from_functional(_sequential_as_functional(config), config["name"], catalog)
            return BLOCK_TYPE, {"model_class": SEQUENTIAL}, "", inner
        return BLOCK_TYPE, {}, "", _from_functional(config, config["name"], catalog)
    module = entry.get("module") or ""
    if class_name == "Lambda":
        raise ModelImportError(f"layer {config['name']!r} is a Lambda layer, which runs Python code stored in the "
                           "file; replace it with a built-in layer or keras.ops call")
    if module == "keras.layers" and class_name in catalog:
        return class_name, _non_default(class_name, config, catalog), "", None
    if not _is_loadable(entry):
        raise ModelImportError(_custom_class(config["name"], class_name, module))
    params = {k: v for k, v in config.items() if k not in _DROPPED}
    if not module.startswith("keras."):
        params = constructor_params(library_class(module, class_name, entry.get("registered_name")), config, params)
    return class_name, params, module, None


def constructor_params(cls: type, config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A library layer's params that its constructor takes. Some write values they derive into their config
    (keras-hub's ``ViTPatchingAndEmbedding`` adds ``num_patches``), so their own ``from_config`` fails on it;
    their library rebuilds the whole model from its arguments instead. Such values are left out when the
    layer rebuilt without them has the same config."""
    try:
        cls.from_config(config)
        return params
    except Exception as exc:
        failure = exc
    accepted = {*inspect.signature(cls.__init__).parameters, *inspect.signature(keras.layers.Layer.__init__).parameters}
    kept = {k: v for k, v in config.items() if k in accepted}
    try:
        same = _as_json(cls.from_config(kept).get_config()) == _as_json(config)
    except Exception:
        same = False
    if not same:
        raise ModelImportError(f"layer {config['name']!r} ({cls.__name__}) cannot be rebuilt from its own config: "
                               f"{_explain(failure)}")
    return {k: v for k, v in params.items() if k in accepted}


def _as_json(config: dict[str, Any]) -> str:
    """A config as JSON (tuples as lists), for comparing one with another."""
    return json.dumps(config, sort_keys=True, default=str)


def _non_default(class_name: str, config: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    if class_name == INPUT_TYPE:
        return _input_params(config)
    # Without the dropped keys (the name above all), the many alike layers of a big model share one check.
    kept = {k: v for k, v in config.items() if k not in _DROPPED}
    return json.loads(_pruned(class_name, json.dumps(kept, sort_keys=True), catalog))


@functools.lru_cache(maxsize=4096)
def _pruned(class_name: str, config_json: str, catalog: Catalog) -> str:
    """The config without values the layer would get anyway, checked by rebuilding it: some
    defaults depend on other arguments (pooling strides default to the pool size)."""
    spec, config = catalog[class_name], json.loads(config_json)
    required = {p.name: config[p.name] for p in spec.params if p.required and p.name in config}
    defaults = _default_config(class_name, json.dumps(required, sort_keys=True, default=str), catalog)
    params = {k: v for k, v in config.items() if k in required or k not in defaults or defaults[k] != v}
    try:
        rebuilt = json.loads(json.dumps(spec.cls.from_config(spec.config(params, "pruned")).get_config()))
    except Exception:  # keep everything when the short form does not even build
        rebuilt = {}
    params.update({k: v for k, v in config.items() if rebuilt.get(k) != v})
    return json.dumps(params)


@functools.lru_cache(maxsize=4096)
def _default_config(class_name: str, required_json: str, catalog: Catalog) -> dict[str, Any]:
    """What a layer's config holds when only its required arguments are given."""
    spec = catalog[class_name]
    try:
        config = spec.cls.from_config(spec.config(json.loads(required_json), "default")).get_config()
        return json.loads(json.dumps(config))  # tuples as lists, as in the config being pruned
    except Exception:  # a layer that cannot be made from required arguments alone keeps every value
        return {}


def _input_params(config: dict[str, Any]) -> dict[str, Any]:
    params = {k: v for k, v in config.items() if k not in _DROPPED and k != "batch_shape"}
    batch_shape = list(config["batch_shape"])
    if batch_shape[0] is None:
        params["shape"] = batch_shape[1:]
    else:
        params["batch_shape"] = batch_shape
    defaults = {"dtype": "float32", "sparse": False, "ragged": False, "optional": False}
    return {k: v for k, v in params.items() if defaults.get(k, object()) != v}


def _template(call: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, int, int]]]:
    """The call with each Keras tensor replaced by ``{"port": i}``, and where each port comes from."""
    sources: list[tuple[str, int, int]] = []

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                layer, node_index, tensor_index = value["config"]["keras_history"]
                sources.append((layer, node_index, tensor_index))
                return {"port": len(sources) - 1}
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return value

    return {"args": walk(call.get("args", [])), "kwargs": walk(call.get("kwargs", {}))}, sources


def _is_default_call(template: dict[str, Any], ports: int, kind: str, catalog: Catalog) -> bool:
    """True when the call is what the document does by default, so nothing needs recording."""
    kwargs = {k: v for k, v in template["kwargs"].items() if v is not None}
    placeholders = [{"port": i} for i in range(ports)]
    if kwargs:
        return False
    if kind in catalog and catalog[kind].ports.as_list:
        return template["args"] == [placeholders]
    if kind == BLOCK_TYPE:
        return template["args"] in ([placeholders[0]] if ports == 1 else [placeholders],)
    return template["args"] == placeholders
