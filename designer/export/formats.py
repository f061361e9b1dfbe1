"""The export formats and the file suffix each one takes (none: a SavedModel is a folder).
Kept apart from the exporters so the window can list them without loading TensorFlow."""

from __future__ import annotations

SUFFIX = {"keras": ".keras", "savedmodel": "", "onnx": ".onnx", "tflite": ".tflite", "python": ".py"}
FORMATS = tuple(SUFFIX)
