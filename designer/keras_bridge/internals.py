"""Every touch of private Keras API, in one place, so a Keras upgrade breaks one tested file."""

from __future__ import annotations

from keras.src.backend.common import global_state


def forget_deferred_variables() -> None:
    """Drop the variables that ``StatelessScope`` left uninitialised.

    Keras records each one in a global list until ``initialize_all_variables()``; analysis
    never wants them initialised, and the list would otherwise grow with every edit.
    """
    global_state.set_global_attribute("uninitialized_variables", [])


def rename_operation(tensor: object, name: str) -> None:
    """Give the ``keras.ops`` call that made ``tensor`` a chosen name: the functions take none,
    and the imported node should carry the name of the source's node."""
    tensor._keras_history.operation.name = name  # type: ignore[attr-defined]
