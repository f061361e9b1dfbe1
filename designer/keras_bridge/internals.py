"""Every touch of private Keras API, in one place, so a Keras upgrade breaks one tested file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
from keras.src.backend.common import global_state


def forget_deferred_variables() -> None:
    """Drop the variables that ``StatelessScope`` left uninitialised.

    Keras records each one in a global list until ``initialize_all_variables()``; analysis
    never wants them initialised, and the list would otherwise grow with every edit.
    """
    global_state.set_global_attribute("uninitialized_variables", [])


def idf_weights(layer: Any) -> np.ndarray:
    """The TF-IDF weights a lookup (or ``TextVectorization``'s inner lookup) uses, special tokens first.

    After ``adapt`` they exist only as this constant: neither the config nor ``layer.weights`` has them.
    """
    lookup = getattr(layer, "_lookup_layer", layer)
    return keras.ops.convert_to_numpy(lookup.idf_weights_const)


def dtype_bits(dtype: Any) -> int:
    """Bits per element of a Keras dtype name (``bfloat16`` → 16, ``int4`` → 4), which NumPy cannot tell;
    0 for strings, whose size is each element's own (a text model's input)."""
    from keras.src.utils.dtype_utils import dtype_size

    standard = keras.backend.standardize_dtype(dtype)
    return 0 if standard == "string" else int(dtype_size(standard))


def rename_operation(tensor: object, name: str) -> None:
    """Give the ``keras.ops`` call that made ``tensor`` a chosen name: the functions take none,
    and the imported node should carry the name of the source's node."""
    tensor._keras_history.operation.name = name  # type: ignore[attr-defined]


def is_functional(model: object) -> bool:
    """Whether ``model`` is a functional model, also one of a class that subclasses it (keras-hub's)."""
    from keras.src.models.functional import Functional

    return isinstance(model, Functional)


def functional_graph(model: keras.Model) -> keras.Model:
    """``model`` itself, or for a class that subclasses the functional model (keras-hub's backbones, whose
    config holds only constructor arguments) a plain functional model over the same layers and weights,
    taking and giving flat lists as a document's model does."""
    from keras.src.models.functional import Functional

    if isinstance(model, Functional) and type(model) is not Functional:
        return keras.Model(model.inputs, model.outputs, name=model.name, trainable=model.trainable)
    return model


def call_with_initial_values(layer: Any, inputs: Any, values: list[np.ndarray]) -> tuple[Any, bool]:
    """Call (and so build) ``layer`` with its variables created from ``values`` in creation order, instead
    of drawing random ones that ``set_weights`` would overwrite at once: for an imported network that
    was a third of the import's time. Returns the output and whether every value went in as made; when
    not (a layer whose sublayers make its variables, an RNN cell), the caller sets the weights itself.

    The values go in through the layer's own ``add_weight``, so its config keeps its declared initializers."""
    pending = list(values)
    original = layer.add_weight

    def add_weight(*args: Any, **kwargs: Any) -> Any:
        shape = kwargs.get("shape", args[0] if args else None)
        if pending and shape is not None and tuple(np.shape(pending[0])) == tuple(shape):
            value = pending.pop(0)
            kwargs["initializer"] = lambda shape, dtype=None: np.asarray(value, dtype=dtype)
        return original(*args, **kwargs)

    object.__setattr__(layer, "add_weight", add_weight)  # Layer.__setattr__ would track the function
    try:
        output = layer(inputs)
    finally:
        object.__delattr__(layer, "add_weight")
    return output, not pending and len(layer.weights) == len(values)


def learning_rate_at(optimizer: Any, step: int, constant: float) -> float:
    """The optimizer's learning rate at optimizer step ``step``, without reading its variables.

    JAX detaches a model's and its optimizer's variables while ``fit`` runs (their values live in the
    trainer's state and are given to each step), so a callback cannot read ``optimizer.learning_rate``
    between batches. A schedule is a function of the step; a constant one is ``constant``, read by the
    caller while the variables are attached (between epochs, where callbacks such as ReduceLROnPlateau
    change it).
    """
    schedule = optimizer._learning_rate
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return float(keras.ops.convert_to_numpy(schedule(step)))
    return constant


@contextlib.contextmanager
def graph_untouched(model: keras.Model) -> Iterator[None]:
    """Inside, sub-models may be cut from ``model`` at intermediate tensors; on leaving, its layers forget them.

    Keras appends the nodes of such a cut (``clone_graph_nodes``) to the original layers, after which saving
    the original fails ("could not find node key ..._ib-1"); it also re-points the model's own input tensors at
    the cut's input nodes."""
    operations = [model, *model._flatten_layers(include_self=False)]
    kept = [(op, list(op._inbound_nodes), list(op._outbound_nodes)) for op in operations]
    tensors = {id(t): t for op in operations for node in op._inbound_nodes
               for t in (*node.input_tensors, *node.output_tensors)}
    histories = [(t, t._keras_history) for t in tensors.values()]
    try:
        yield
    finally:
        for op, inbound, outbound in kept:
            op._inbound_nodes[:], op._outbound_nodes[:] = inbound, outbound
        for tensor, history in histories:
            tensor._keras_history = history
