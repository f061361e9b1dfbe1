"""The table of ONNX operator handlers, filled by the ``ops_*`` modules at import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[Any, Any], list[Any]]
HANDLERS: dict[str, Handler] = {}


class Unsupported(Exception):
    """This node cannot become Keras layers; the message says why (shown beside its name)."""


class AcrossBatch(Unsupported):
    """The node computes across ONNX axis 0, which is Keras's batch axis unless the import gives
    Keras a batch axis of its own (a fixed-batch import, which then imports the node)."""


def handles(*op_types: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for op_type in op_types:
            HANDLERS[op_type] = fn
        return fn
    return register
