"""TFLite, converted from a SavedModel of the serving endpoint.

Converting a Keras 3 model's concrete function directly leaves ``READ_VARIABLE`` ops that return
NaN at run time; the SavedModel route does not. Recurrent layers lower to tensor lists that need
a static batch, so when the dynamic-batch conversion fails for that reason the batch is fixed to 1.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from designer.export.probes import Loaded
from designer.export.report import ExportError
from designer.export.savedmodel import ENDPOINT, serving_archive

# Sets a converter's options before it runs: the quantisation methods of ``designer.compress``.
Configure = Callable[[tf.lite.TFLiteConverter], None]


def _convert(model: keras.Model, batch: int | None, scratch: Path, configure: Configure | None) -> bytes:
    saved = scratch / f"batch-{batch}"
    serving_archive(model, batch).write_out(str(saved), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=[ENDPOINT])
    if configure is not None:
        configure(converter)
    return converter.convert()


def write(model: keras.Model, path: Path, configure: Configure | None = None) -> list[str]:
    notes = []
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        try:
            flatbuffer = _convert(model, None, Path(scratch), configure)
        except Exception as exc:  # the converter raises its own ConverterError with MLIR text
            if "TensorList" not in str(exc) and "static" not in str(exc):
                raise ExportError(f"TFLite cannot convert this model: {_first_error(exc)}") from None
            try:
                flatbuffer = _convert(model, 1, Path(scratch), configure)
            except Exception as again:
                raise ExportError(f"TFLite cannot convert this model: {_first_error(again)}") from None
            notes.append("the batch size is fixed to 1 (recurrent layers need a static batch in TFLite); "
                         "run one sample at a time")
    path.write_bytes(flatbuffer)
    return notes


def _first_error(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if "error:" in line]
    return (lines[0].split("error:", 1)[1].strip() if lines else str(exc).strip().splitlines()[0])[:400]


def load(path: Path) -> Loaded:
    with warnings.catch_warnings():  # the interpreter's move to LiteRT is announced on every use
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner(ENDPOINT)
    details = runner.get_input_details()
    names = list(details)
    fixed = all(d["shape_signature"][0] == 1 for d in details.values())

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = len(next(iter(feeds.values())))
        if not fixed or batch == 1:
            return _copy(runner(**feeds))
        parts = [_copy(runner(**{k: v[i:i + 1] for k, v in feeds.items()})) for i in range(batch)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    return names, run


def _copy(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The interpreter's output buffers are reused by the next call."""
    return {k: np.array(v) for k, v in outputs.items()}
