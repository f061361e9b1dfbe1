"""Import Keras with TensorFlow's start-up chatter kept out of the user's terminal."""

from __future__ import annotations

import os
import sys
import threading

_lock = threading.Lock()


def import_keras_quietly() -> None:
    """TensorFlow's C++ core prints to file descriptor 2 before any log level applies, so
    stderr is pointed at /dev/null for the import alone; Python errors still surface."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _lock:
        if "keras" in sys.modules:
            return
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import keras  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
