"""The export formats, the file suffix each one takes (none: a SavedModel is a folder) and the name
people call each by. Kept apart from the exporters so the window can list them without loading TensorFlow."""

from __future__ import annotations

from pathlib import Path

SUFFIX = {"keras": ".keras", "savedmodel": "", "onnx": ".onnx", "tflite": ".tflite", "python": ".py"}
FORMATS = tuple(SUFFIX)
NAMES = {"keras": "Keras", "savedmodel": "SavedModel", "onnx": "ONNX", "tflite": "TFLite", "python": "Python"}


def an_export(fmt: str) -> str:
    """'an ONNX export', 'a Keras export': the article follows the spoken name, not the format's key."""
    name = NAMES.get(fmt, fmt)
    return f"{'an' if name[0].upper() in 'AEIOU' else 'a'} {name} export"


def with_suffix(fmt: str, path: str) -> str:
    """``path`` with the suffix ``fmt`` takes: added when missing, replacing another format's suffix
    (``model.onnx`` chosen for TFLite becomes ``model.tflite``); a SavedModel folder loses a file suffix."""
    target, known = Path(path), {s for s in SUFFIX.values() if s}
    if target.suffix in known:
        target = target.with_suffix("")
    return str(target) + SUFFIX[fmt]
