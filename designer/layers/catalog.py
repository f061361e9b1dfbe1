"""The layer catalog, read from Keras itself.

Every public ``keras.layers`` class becomes an entry whose parameters come from
``inspect.signature`` of its constructor, whose descriptions and choices come from its
docstring, and whose input ports come from the signature of its ``call``. Nothing here
is a hand-written table of layers, so a new Keras release brings its layers along.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any

import keras

from designer.graph.document import INPUT_TYPE, Node
from designer.graph.validation import NO_INPUTS, PortSpec, default_ports

# Classes that are public but cannot stand as a node of a saved, portable functional model.
EXCLUDED: dict[str, str] = {
    "Layer": "abstract base class for writing new layers in Python",
    "Wrapper": "abstract base class of Bidirectional and TimeDistributed",
    "GRUCell": "an RNN cell: used as the 'cell' of an RNN layer, not called on a sequence itself",
    "LSTMCell": "an RNN cell: used as the 'cell' of an RNN layer, not called on a sequence itself",
    "SimpleRNNCell": "an RNN cell: used as the 'cell' of an RNN layer, not called on a sequence itself",
    "StackedRNNCells": "an RNN cell: used as the 'cell' of an RNN layer, not called on a sequence itself",
    "Lambda": "runs arbitrary Python code; imported models keep it only with explicit consent",
    "TFSMLayer": "wraps an external TensorFlow SavedModel; not portable across backends",
    "JaxLayer": "wraps a Python JAX function; cannot be described in a project file",
    "FlaxLayer": "wraps a Python Flax module; cannot be described in a project file",
    "TorchModuleWrapper": "wraps a Python PyTorch module; cannot be described in a project file",
}

# The packages Keras imports by module path when loading (saving/serialization_lib.py), by pip name: their
# registered layers join the palette, each library in a category of its own.
KERAS_LIBRARIES = {"keras_hub": "keras-hub", "keras_cv": "keras-cv", "keras_nlp": "keras-nlp"}
LIBRARY_CATEGORY = "{} (library)"
_OWN_PACKAGE = "designer"  # the designer's own registered classes (import placeholders) are no palette entries

# Top-level folder of keras.src.layers → category shown in the palette.
_CATEGORY = {
    "activations": "Activation", "attention": "Attention", "convolutional": "Convolution",
    "core": "Core", "merging": "Merge", "normalization": "Normalization", "pooling": "Pooling",
    "preprocessing": "Preprocessing & Augmentation", "regularization": "Regularization",
    "reshaping": "Reshaping", "rnn": "Recurrent",
}
CATEGORY_ORDER = ["Input", "Core", "Convolution", "Pooling", "Normalization", "Activation",
                  "Regularization", "Recurrent", "Attention", "Merge", "Reshaping",
                  "Preprocessing & Augmentation", "Other"]

_SKIPPED_ARGS = {"self", "name", "kwargs", "args"}
_NOT_TENSORS = {"training", "mask", "self"}


@dataclass(frozen=True)
class ParamSpec:
    """One constructor argument. ``kind`` is one of: int, float, bool, str, choice, ints
    (an int or a tuple of ints), tuple (of ints), list, activation, initializer,
    regularizer, constraint, layer, layers, any."""

    name: str
    kind: str
    default: Any
    required: bool
    choices: tuple[Any, ...] = ()
    doc: str = ""
    literal: bool = True  # the default is a plain JSON value (not an object shown by its repr)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "default": self.default,
                "required": self.required, "choices": list(self.choices), "doc": self.doc}


@dataclass(frozen=True)
class LayerSpec:
    type: str
    category: str
    description: str
    params: tuple[ParamSpec, ...]
    ports: PortSpec
    cls: type = field(repr=False, compare=False)
    module: str = ""  # for a library's layer, the module a node names it by (empty for keras.layers)

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def config(self, params: dict[str, Any], name: str) -> dict[str, Any]:
        """A complete ``from_config`` dict: the signature's defaults under the user's values
        (some layers' ``from_config``, e.g. Rescaling's, insist on keys left at default)."""
        base = {p.name: p.default for p in self.params if not p.required and p.literal}
        return {**base, **params, "name": name}

    def defaults(self) -> dict[str, Any]:
        """Values for a freshly dropped node: the required parameters, with a sensible seed."""
        values = {p.name: _seed_value(p) for p in self.params if p.required}
        if self.type == INPUT_TYPE:  # its signature says shape=None, but Keras insists on one
            values["shape"] = [32]
        return values

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "category": self.category, "description": self.description,
                "params": [p.to_dict() for p in self.params], "inputs": self.ports.to_dict()}


class Catalog:
    """All usable layers by Keras class name, with the reasons for the ones left out."""

    def __init__(self, specs: list[LayerSpec], excluded: dict[str, str]) -> None:
        order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
        self.specs = {s.type: s for s in sorted(specs, key=lambda s: (order.get(s.category, len(order)),
                                                                       s.category, s.type))}
        self.excluded = excluded
        self.keras_version = keras.__version__

    def __contains__(self, layer_type: object) -> bool:
        return layer_type in self.specs

    def __getitem__(self, layer_type: str) -> LayerSpec:
        return self.specs[layer_type]

    def __len__(self) -> int:
        return len(self.specs)

    def ports(self, node: Node) -> PortSpec:
        """Input ports of ``node``: from a recorded call, from Keras for layers, from the inner
        graph for blocks; an operation outside ``keras.layers`` takes what it was given."""
        if node.call is not None:
            count = json.dumps(node.call).count('{"port": ')
            return PortSpec((), count, count)
        if node.module:
            return PortSpec((), 1, None)
        spec = self.specs.get(node.type)
        return spec.ports if spec is not None else default_ports(node)

    def categories(self) -> dict[str, list[LayerSpec]]:
        out: dict[str, list[LayerSpec]] = {}
        for spec in self.specs.values():
            out.setdefault(spec.category, []).append(spec)
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.specs.values()]


@functools.lru_cache(maxsize=2)
def load_catalog(libraries: bool = False) -> Catalog:
    """Build the catalog from the installed Keras (about 50 ms once Keras is imported).

    ``libraries``: import the installed Keras libraries first, so their layers join (the palette and
    ``netdesigner layers`` want them). Importing keras-hub takes seconds, which building, analysing, training
    or exporting a network does not need: a library node is made from its module path (``build.make_layer``),
    so those get only the library layers already registered in the process."""
    classes: dict[type, str] = {}
    for attr in dir(keras.layers):
        obj = getattr(keras.layers, attr)
        if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer):
            classes.setdefault(obj, obj.__name__)
    specs, excluded = [], {}
    for cls in classes:
        if cls.__name__ in EXCLUDED:
            excluded[cls.__name__] = EXCLUDED[cls.__name__]
        else:
            specs.append(_spec(cls))
    if libraries:
        import_libraries()
    return Catalog(specs + library_specs({s.type for s in specs}), excluded)


def import_libraries() -> None:
    """Import the installed Keras libraries: they register their classes when imported."""
    for package in KERAS_LIBRARIES:
        if importlib.util.find_spec(package) is not None:
            try:
                importlib.import_module(package)
            except Exception:  # a broken install leaves its own layers out, not the whole palette
                continue


def library_specs(taken: set[str]) -> list[LayerSpec]:
    """The layers Keras libraries registered with ``keras.saving`` (keras-hub's ``TransformerEncoder``, …), read
    like Keras's own, in a category per library; names Keras already has stay Keras's."""
    specs = []
    for registered, cls in keras.saving.get_custom_objects().items():
        package = registered.split(">", 1)[0] if ">" in registered else ""
        if (not package or package == _OWN_PACKAGE or not inspect.isclass(cls)
                or not issubclass(cls, keras.layers.Layer) or issubclass(cls, keras.Model) or cls.__name__ in taken):
            continue
        taken.add(cls.__name__)
        category = LIBRARY_CATEGORY.format(_library(cls, package))
        specs.append(replace(_spec(cls), category=category, module=cls.__module__))
    return specs


def _library(cls: type, package: str) -> str:
    """The library a registered class belongs to: the package it is imported from for Keras's own libraries
    (keras-hub registers many layers under its old name, ``keras_nlp``), else the package it registered."""
    top = cls.__module__.split(".", 1)[0]
    return top if top in KERAS_LIBRARIES else package.split(".")[0]


# ---- introspection --------------------------------------------------------------------------
def _category(cls: type) -> str:
    if cls.__name__ == INPUT_TYPE:
        return "Input"
    folder = cls.__module__.removeprefix("keras.src.layers.").split(".")[0]
    return _CATEGORY.get(folder, "Other")


def _doc(cls: type) -> str:
    """The layer's own docstring. InputLayer has none (``getdoc`` would give the base Layer's "the class from
    which all layers inherit"); the function beside it that makes it, ``keras.Input``, speaks for it."""
    own = cls.__dict__.get("__doc__")
    if own:
        return inspect.cleandoc(own)
    maker = getattr(sys.modules[cls.__module__], cls.__name__.removesuffix("Layer"), None)
    return (inspect.getdoc(maker) or "") if callable(maker) else ""


def _spec(cls: type) -> LayerSpec:
    doc = _doc(cls)
    args = docstring_args(doc)
    if cls.__name__ == INPUT_TYPE:  # InputLayer documents none of its arguments; keras.Input documents them all
        args = {**args, **docstring_args(inspect.getdoc(keras.Input) or "")}
    params = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in _SKIPPED_ARGS or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        params.append(_param(p, args.get(p.name, "")))
    return LayerSpec(cls.__name__, _category(cls), _summary(doc), tuple(params), _ports(cls, doc), cls)


def docstring_args(doc: str) -> dict[str, str]:
    """The ``Args:`` section of a Google-style docstring as {name: one-line text}."""
    out: dict[str, str] = {}
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() in ("Args:", "Arguments:"))
    except StopIteration:
        return out
    indent, current = None, None
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        if indent is None:
            indent = width
        if width < indent or (width == indent and line.rstrip().endswith(":") and " " in line.strip()):
            break
        match = re.match(r"\s*([A-Za-z_]\w*)\s*:\s*(.*)", line)
        if width == indent and match:
            current = match.group(1)
            out[current] = match.group(2).strip()
        elif current:
            out[current] += " " + line.strip()
    return out


def _summary(doc: str) -> str:
    first = doc.strip().split("\n\n")[0]
    return " ".join(first.split())


def _jsonable(value: Any) -> tuple[Any, bool]:
    """(value as JSON, True), or (its repr, False) for objects JSON cannot hold."""
    if isinstance(value, tuple):
        value = list(value)
    try:
        json.dumps(value, allow_nan=False)
        return value, True
    except (TypeError, ValueError):
        return repr(value), False


@functools.cache
def registered_names(module_name: str) -> tuple[str, ...]:
    """Names a Keras registry accepts as strings (``keras.activations.get("relu")``)."""
    module = getattr(keras, module_name)
    names = []
    for attr in dir(module):
        if attr.startswith("_") or not attr.islower() or attr in ("get", "serialize", "deserialize"):
            continue
        try:
            module.get(attr)
        except Exception:  # needs arguments (Constant) or is not registered
            continue
        names.append(attr)
    return tuple(names)


def _quoted_choices(text: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r'"([A-Za-z_][\w\-]*)"', text)))


def _param(p: inspect.Parameter, doc: str) -> ParamSpec:
    required = p.default is inspect.Parameter.empty
    default, literal = (None, True) if required else _jsonable(p.default)
    name, text = p.name, doc.lower()
    choices: tuple[Any, ...] = ()
    for suffix, registry in (("activation", "activations"), ("_initializer", "initializers"),
                             ("_regularizer", "regularizers"), ("_constraint", "constraints")):
        if name.endswith(suffix):
            return ParamSpec(name, registry[:-1], default, required, registry_choices(registry), doc, literal)
    if name in ("layer", "backward_layer", "cell"):
        return ParamSpec(name, "layer", default, required, (), doc, literal)
    if name == "layers":
        return ParamSpec(name, "layers", default, required, (), doc, literal)
    if isinstance(default, bool):
        kind = "bool"
    elif isinstance(default, int):
        kind = "int"
    elif isinstance(default, float):
        kind = "float"
    elif isinstance(default, list):
        kind = "ints" if all(isinstance(v, int) for v in default) else "list"
    elif isinstance(default, str) or default is None:
        kind = _kind_from_text(text)
        options = _quoted_choices(doc)
        enumerated = default in options or (kind == "str" or re.search(r"\b(one of|either)\b", text))
        if kind in ("str", "any") and len(options) >= 2 and enumerated:
            kind, choices = "choice", tuple(options) + ((None,) if default is None else ())
        elif isinstance(default, str) and kind == "any":
            kind = "str"
    else:
        kind = "any"
    return ParamSpec(name, kind, default, required, choices, doc, literal)


def registry_choices(registry: str) -> tuple[Any, ...]:
    return (None, *registered_names(registry))


def _kind_from_text(text: str) -> str:
    """What a docstring says an argument is, from the words it starts with."""
    head = text[:80]
    if re.match(r"(optional )?(positive )?(int|integer)s? or (a )?(tuple|list)", head):
        return "ints"
    if re.search(r"(tuple|list) of (\d+ )?(positive )?int", head):
        return "tuple"
    for pattern, kind in ((r"(optional )?(a )?bool", "bool"),
                          (r"(optional )?(a )?(python )?(strictly )?(positive |non-negative )?(int|integer)\b",
                           "int"),
                          (r"(the )?(number|size|dimension|dimensionality) of", "int"),
                          (r"(optional )?(a )?(python )?float", "float"),
                          (r"(optional )?(a )?(str|string)\b", "str")):
        if re.match(pattern, head):
            return kind
    return "any"


def _ports(cls: type, doc: str) -> PortSpec:
    if cls.__name__ == INPUT_TYPE:
        return NO_INPUTS
    names, required = [], 0
    for p in inspect.signature(cls.call).parameters.values():
        if p.name in _NOT_TENSORS or p.name.endswith("_mask") or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.default is inspect.Parameter.empty:
            required += 1
        elif p.default is not None:
            continue
        names.append(p.name)
    intro = doc.split("Args:")[0]
    if len(names) == 1 and re.search(
            r"list (of|with) [^.]*?(inputs|tensors|elements)|input a list|inputs are a list",
            intro, re.IGNORECASE):
        listed = tuple(re.findall(r"\d\. An? (?:optional )?`(\w+)`", intro))
        if m := re.search(r"(\d) or (\d) elements", intro):
            low, high = int(m.group(1)), int(m.group(2))
        elif m := re.search(r"(?:of size|exactly) (\d)", intro):
            low = high = int(m.group(1))
        else:
            low, high = 2, None
        return PortSpec(listed, low, high, as_list=True)
    return PortSpec(tuple(names), required, len(names))


def _seed_value(p: ParamSpec) -> Any:
    """A starting value for a required parameter so a dropped layer is valid at once."""
    if p.kind == "ints":
        return 3
    if p.kind == "tuple":
        return [1]
    if p.kind == "int":
        return 32
    if p.kind == "float":
        return 0.5
    if p.kind == "choice":
        return p.choices[0]
    if p.kind == "str":
        return ""
    return None
