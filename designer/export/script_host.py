"""Runs an exported Python script in a process of its own and answers for its model: started by
``python_file.load`` as ``python -m designer.export.script_host SCRIPT``, so the generated code never
runs inside the process that made it.

Frames on stdin/stdout: one tag byte, an 8-byte length, the payload. The host first sends the model's
input names (``N``, JSON); each ``.npz`` of named inputs it reads is answered with an ``.npz`` of
outputs (``O``); a failure is one ``E`` frame with the message. Arrays cross as ``.npz`` without
pickle: text travels as fixed-width Unicode and becomes Python strings again on the far side.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import struct
import sys
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

HEADER = struct.Struct(">cQ")


def send(stream: BinaryIO, tag: bytes, payload: bytes) -> None:
    stream.write(HEADER.pack(tag, len(payload)) + payload)
    stream.flush()


def receive(stream: BinaryIO) -> tuple[bytes, bytes] | None:
    """The next frame, or None when the other side has gone."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    tag, size = HEADER.unpack(head)
    payload = stream.read(size)
    return (tag, payload) if len(payload) == size else None


def pack(arrays: dict[str, Any]) -> bytes:
    """Names first, then the arrays by position: a name such as ``file`` cannot clash with ``np.savez``."""
    plain = [np.asarray(v) for v in arrays.values()]
    buffer = io.BytesIO()
    np.savez(buffer, np.array(list(arrays), dtype=str), *(a.astype(str) if a.dtype == object else a for a in plain))
    return buffer.getvalue()


def unpack(payload: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        names, *arrays = (data[f"arr_{i}"] for i in range(len(data.files)))
        return {str(n): a.astype(object) if a.dtype.kind == "U" else a for n, a in zip(names, arrays, strict=True)}


def serve(script: Path, requests: BinaryIO, replies: BinaryIO) -> None:
    """Import the script as a user would and answer for its ``load_model()`` until stdin closes."""
    spec = importlib.util.spec_from_file_location(script.stem, script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load_model()
    from designer.export.probes import input_names, keras_outputs  # Keras is loaded by now: the script needs it

    send(replies, b"N", json.dumps(input_names(model)).encode())
    while (frame := receive(requests)) is not None:
        send(replies, b"O", pack(keras_outputs(model, unpack(frame[1]))))


def main() -> None:
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what the script prints goes to the log, not into the frames
    try:
        serve(Path(sys.argv[1]), sys.stdin.buffer, replies)
    except BaseException as exc:  # the parent reports it as the artifact's failure
        send(replies, b"E", f"{type(exc).__name__}: {str(exc).strip()[:300]}".encode())


if __name__ == "__main__":
    main()
