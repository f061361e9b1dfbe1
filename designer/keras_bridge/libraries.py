"""Layers of installed Keras libraries (keras-hub and the like), found the way Keras's safe loading finds them.

A class outside Keras is used only if it is a Keras layer registered with ``register_keras_serializable``
by code this process already runs, or lives in a library Keras itself imports by module path (keras-hub,
keras-cv, keras-nlp). A file or project only names such a class; no code of its own ever runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import keras

from designer.layers.catalog import KERAS_LIBRARIES


def library_class(module: str, class_name: str, registered_name: str | None = None) -> type | None:
    """The layer class that ``module``/``class_name`` names, or None when not installed: a registered one, or
    any layer of a library Keras loads by module path (keras-hub's ``ViTPatchingAndEmbedding`` is not registered)."""
    cls = keras.saving.get_registered_object(registered_name) if registered_name else None
    package = module.split(".", 1)[0]
    if cls is None:
        if package in KERAS_LIBRARIES and importlib.util.find_spec(package) is not None:
            try:
                importlib.import_module(module)
            except ImportError:
                return None
        cls = getattr(sys.modules.get(module), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        return None
    by_path = package in KERAS_LIBRARIES and cls.__module__ == module
    return cls if by_path or keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is cls \
        else None


def install_hint(module: str) -> str:
    """What to install so that a class of ``module`` can be loaded."""
    package = module.split(".", 1)[0]
    return f"install the package that defines it (pip install {KERAS_LIBRARIES.get(package, package)})"



def registered_name(module: str, class_name: str) -> str | None:
    """The name Keras registered an installed library's class under (None for Keras's own): a generated
    script's config needs it to find the class."""
    cls = None if module.startswith("keras.") else library_class(module, class_name)
    return keras.saving.get_registered_name(cls) if cls is not None else None
