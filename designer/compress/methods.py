"""The compression methods and the kind of artifact each writes. Kept apart from the compressors so the
command line can list them without loading TensorFlow."""

from __future__ import annotations

from designer.export.formats import SUFFIX
from designer.graph.project import SUFFIX as PROJECT_SUFFIX

PROJECT = "project"  # a project file (.kdn) with its weights beside it: the network itself was changed
# method -> the kind of its artifact (an export format, or a project), which is also the kind of its baseline
KIND = {"dynamic": "tflite", "float16": "tflite", "int8": "tflite", "keras-int8": "keras", "onnx-int8": "onnx",
        "prune": "keras", "prune-structured": PROJECT}
METHODS = tuple(KIND)
PRUNING = ("prune", "prune-structured")  # the methods that fine-tune, and so take a sparsity and epochs
DEFAULT_SPARSITY = 0.6
DEFAULT_EPOCHS = 2
DEFAULT_TOLERANCE = 2.0  # points of accuracy lost (or percent of mean absolute error gained) allowed


def suffix(method: str) -> str:
    """The file suffix of ``method``'s artifact."""
    return PROJECT_SUFFIX if KIND[method] == PROJECT else SUFFIX[KIND[method]]
