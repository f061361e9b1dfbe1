"""A plain Python script (the codegen script) with the weights in a ``.weights.h5`` file beside it.
It is verified in a Python process of its own: generated code never runs inside the designer."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path
from typing import IO

import keras
import numpy as np

import designer
from designer.export.probes import Loaded
from designer.export.script_host import pack, receive, send, unpack
from designer.graph.document import NetworkDocument
from designer.keras_bridge.codegen import generate
from designer.keras_bridge.preprocessing import with_adapted_state


def weights_name(path: Path) -> str:
    return f"{path.stem}.weights.h5"


def write(model: keras.Model, path: Path, document: NetworkDocument, title: str = "") -> list[str]:
    document, notes = _with_vocabularies(model, document)
    path.write_text(generate(document, title=title, weights=weights_name(path)), encoding="utf-8")
    model.save_weights(path.with_name(weights_name(path)))
    return notes


def _with_vocabularies(model: keras.Model, document: NetworkDocument) -> tuple[NetworkDocument, list[str]]:
    """Adapted state that is not weights (vocabularies, bin boundaries) is spelled out in the script."""
    from designer.graph.serialize import document_from_dict, document_to_dict

    layers = {layer.name: layer for layer in model._flatten_layers(include_self=False)}
    copy = document_from_dict(document_to_dict(document))
    written = []
    for _, node in copy.walk():
        if node.name in layers and (params := with_adapted_state(layers[node.name], node.params)) != node.params:
            node.params = params
            written.append(node.name)
    if not written:
        return document, []
    return copy, [f"the adapted state of {', '.join(written)} is written into the script"]


class ScriptError(RuntimeError):
    """The exported script failed in its own process; the message is its error."""


def load(path: Path) -> Loaded:
    """Start the script's own process and call its ``load_model()`` there, as a user would."""
    script = _ScriptProcess(path)
    return script.input_names, script.run


class _ScriptProcess:
    """``python -m designer.export.script_host SCRIPT``, beside the script; it ends when this object goes."""

    def __init__(self, script: Path) -> None:
        # the log is a file, not a pipe: TensorFlow's chatter must never fill it and block; _stop closes it
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        root = str(Path(designer.__file__).resolve().parents[1])
        paths = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "designer.export.script_host", str(script.resolve())], cwd=script.parent,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env={**os.environ, "PYTHONPATH": paths})
        weakref.finalize(self, _stop, self.process, self.log)
        self.input_names: list[str] = json.loads(self._reply())

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # the process has ended: the reply says why
            send(self.process.stdin, b"I", pack(feeds))
        return unpack(self._reply())

    def _reply(self) -> bytes:
        assert self.process.stdout is not None
        frame = receive(self.process.stdout)
        if frame is None:
            self.log.seek(0)
            lines = self.log.read().decode("utf-8", "replace").strip().splitlines()
            raise ScriptError(f"the script's process ended with exit code {self.process.wait()}"
                              + (f": {lines[-1][:300]}" if lines else ""))
        tag, payload = frame
        if tag == b"E":
            raise ScriptError(payload.decode("utf-8", "replace"))
        return payload


def _stop(process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    """Closing stdin ends the host; one that does not end soon is killed."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()
    log.close()
