"""A TensorFlow SavedModel folder as ONNX, by tf2onnx, so that it imports through the ONNX converter.

tf2onnx freezes the first serving signature (variables become constants) and names the ONNX inputs and
outputs after the signature's; the graph runs nowhere here, and a SavedModel holds no Python code.
"""

from __future__ import annotations

import logging
from pathlib import Path

import onnx

from designer.keras_bridge.onnx_import.converter import OnnxImportError

OPSET = 17  # well inside what both tf2onnx and the converter handle


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def saved_model_proto(folder: Path) -> onnx.ModelProto:
    """The ONNX graph of the SavedModel in ``folder``; one-line errors name what failed."""
    if not is_saved_model(folder):
        raise OnnxImportError(f"{folder}: a folder without saved_model.pb is not a TensorFlow SavedModel; "
                              "give the folder that tf.saved_model.save or model.export wrote")
    import tf2onnx
    from tf2onnx import tf_loader

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)  # its notes on the signature it picked
    try:
        graph_def, inputs, outputs, renames = tf_loader.from_saved_model(
            str(folder), None, None, return_tensors_to_rename=True)
    except Exception as exc:  # TensorFlow's refusal names the broken part
        raise OnnxImportError(f"{folder}: TensorFlow cannot load the SavedModel "
                              f"({str(exc).strip().splitlines()[0][:300]})") from None
    try:
        proto, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=inputs, output_names=outputs,
                                                  tensors_to_rename=renames, opset=OPSET)
    except Exception as exc:
        raise OnnxImportError(f"{folder}: tf2onnx cannot convert the SavedModel to ONNX "
                              f"({str(exc).strip().splitlines()[0][:300]})") from None
    return proto
