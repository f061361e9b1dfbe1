"""PyTorch files (``torch.export``'s ``.pt2``, TorchScript's ``.pt``) imported through ``torch.onnx.export``.

Loading either runs Python code pickled into the file, so it happens only with the user's explicit
consent (``--trust-code``, a confirmation in the window), and in a separate process: whatever the file
does stays out of the designer, which only reads the ONNX model the process writes.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import onnx

from designer.keras_bridge.importer import ModelImportError

SUFFIXES = (".pt2", ".pt")
TIMEOUT_S = 600

# Run by a fresh interpreter: argv = SOURCE OUT.onnx [SHAPE as 1,3,32,32]. A .pt2 program has its shapes;
# a TorchScript module records none, so its input shape must be given.
_EXPORT = """
import sys
import torch

source, target = sys.argv[1], sys.argv[2]
if source.endswith(".pt2"):  # an ExportedProgram: torch's own exporter takes it as it is
    torch.onnx.export(torch.export.load(source), (), target, opset_version=17, dynamo=True)
else:
    if len(sys.argv) < 4:
        sys.exit("a TorchScript file does not record its input shape: give it (e.g. --input-shape 1,3,224,224)")
    module = torch.jit.load(source, map_location="cpu").eval()
    args = (torch.randn(*[int(d) for d in sys.argv[3].split(",")]),)
    torch.onnx.export(module, args, target, opset_version=17, dynamo=False)
"""


def is_torch_source(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def needs_input_shape(path: str | Path) -> bool:
    """TorchScript records no input shape: it is traced with an input of a shape the user gives."""
    return Path(path).suffix.lower() == ".pt"


def parse_input_shape(text: str) -> list[int]:
    """``"1,3,224,224"`` as sizes; a ``ValueError`` saying what a shape looks like for anything else."""
    try:
        dims = [int(d) for d in text.split(",")]
    except ValueError:
        dims = []
    if not dims or min(dims) < 1:
        raise ValueError("give positive sizes separated by commas, e.g. 1,3,224,224")
    return dims


def torch_proto(path: Path, trust_code: bool, input_shape: list[int] | None = None) -> onnx.ModelProto:
    """The ONNX model that ``torch.onnx.export`` makes of the PyTorch file at ``path``, in its own process."""
    if not trust_code:
        raise ModelImportError(f"{path}: loading a PyTorch file runs Python code stored in it (pickle); it is not "
                               "loaded without consent. If you trust where it came from, import it with "
                               "--trust-code (in the window: answer Yes when asked), or export it to ONNX "
                               "yourself with torch.onnx.export")
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    missing = [name for name in ("torch", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:  # torch.onnx.export needs onnxscript too (and says so only half-way through)
        raise ModelImportError(f"{path}: importing PyTorch files needs {' and '.join(missing)}; install the torch "
                               "extra (pip install 'keras-network-designer[torch]'), or export the model to ONNX with "
                               "torch.onnx.export and import the .onnx file")
    with tempfile.TemporaryDirectory(prefix="netdesigner-torch-") as folder:
        target = Path(folder) / "model.onnx"
        shape = [",".join(str(d) for d in input_shape)] if input_shape else []
        try:
            done = subprocess.run([sys.executable, "-c", _EXPORT, str(path), str(target), *shape],
                                  capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ModelImportError(f"{path}: torch.onnx.export took over {TIMEOUT_S} s; export the model to "
                                   "ONNX yourself and import the .onnx file") from None
        if done.returncode != 0 or not target.is_file():
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            raise ModelImportError(f"{path}: torch.onnx.export failed: {lines[-1] if lines else 'no message'}")
        return onnx.load(str(target))
