"""The stand-in for an imported operator that has no Keras equivalent (``netdesigner import --placeholders``).

As in MATLAB's Deep Network Designer, the rest of the network still imports and the user replaces the
marked node on the canvas. It has the source operator's output shape, so shapes downstream still show;
it computes zeros, and validation reports it as an error (``graph.validation``), so a network that
holds one never trains or exports.
"""

from __future__ import annotations

from typing import Any

import keras

from designer.graph.validation import PLACEHOLDER


@keras.saving.register_keras_serializable(package="designer", name=PLACEHOLDER)
class Placeholder(keras.layers.Layer):
    """Marks ``source_node`` (an ``op_type`` operator, unconverted for ``reason``); outputs of ``output_shapes``
    (batch axis left out)."""

    def __init__(self, op_type: str, source_node: str, reason: str, output_shapes: list[list[int | None]],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.op_type, self.source_node, self.reason = op_type, source_node, reason
        self.output_shapes = [list(shape) for shape in output_shapes]

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = [(None, *shape) for shape in self.output_shapes]
        return shapes[0] if len(shapes) == 1 else shapes

    def call(self, inputs: Any) -> Any:
        batch = keras.ops.shape(keras.tree.flatten(inputs)[0])[0]
        zeros = [keras.ops.zeros((batch, *(d or 1 for d in shape))) for shape in self.output_shapes]
        return zeros[0] if len(zeros) == 1 else zeros

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "op_type": self.op_type, "source_node": self.source_node,
                "reason": self.reason, "output_shapes": self.output_shapes}
