"""The window's TensorFlow work that runs as a ``netdesigner`` command of its own (export, compress,
explain): a crash or a slow conversion there never touches the window, which reads its output."""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtCore import QObject, QProcess


def designer_process(parent: QObject, arguments: list[str], finished: Callable[[QProcess], None]) -> QProcess:
    """``python -m designer ARGUMENTS`` with this interpreter, not started yet (the caller may connect its
    output first); ``finished(process)`` is called when it ends."""
    process = QProcess(parent)
    process.setProgram(sys.executable)
    process.setArguments(["-m", "designer", *arguments])
    process.finished.connect(lambda *_: finished(process))
    return process
