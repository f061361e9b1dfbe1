"""The compression methods and the kind of artifact each writes. Kept apart from the compressors so the
command line can list them without loading TensorFlow."""

from __future__ import annotations

# method -> the export format of its artifact, which is also the kind of its float baseline
KIND = {"dynamic": "tflite", "float16": "tflite", "int8": "tflite", "keras-int8": "keras", "onnx-int8": "onnx",
        "prune": "keras"}
METHODS = tuple(KIND)
DEFAULT_SPARSITY = 0.6
DEFAULT_EPOCHS = 2
DEFAULT_TOLERANCE = 2.0  # points of accuracy lost (or percent of mean absolute error gained) allowed
