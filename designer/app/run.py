"""Start the designer: ``netdesigner gui [PROJECT] [--screenshot PNG]``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import NoReturn

from PySide6.QtWidgets import QApplication


def wait_until(predicate, timeout: float = 120.0) -> bool:
    """Process events until ``predicate()`` holds (analysis done, catalog loaded) or time runs out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        QApplication.processEvents()
        time.sleep(0.01)
    return True


def application() -> QApplication:
    """The running application, or a new one in the Fusion style on every platform (the light and dark
    palettes are made for it). The style is given at creation: ``setStyle`` later would build QStyle's
    600 enum values in Python, ~17 ms before the window can show."""
    app = QApplication.instance() or QApplication([sys.argv[0], "-style", "fusion"])
    app.setApplicationName("Keras Network Designer")
    app.setOrganizationName("keras-network-designer")
    return app  # type: ignore[return-value]


def run(project: str | None, screenshot: str | None = None, dark: bool = False) -> int:
    if screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")
    app = application()
    from designer.app.background import Background
    from designer.app.main_window import MainWindow

    background = Background()
    window = MainWindow(background, dark=True if dark else None)
    window.show()
    if project:
        window.open_path(Path(project))
    if screenshot:
        try:
            ok = wait_until(lambda: background.catalog is not None) and (
                not project or wait_until(lambda: background.idle and window.analysis is not None))
            if window.editor_built:
                window.canvas.fit()
            app.processEvents()
            window.grab().save(screenshot)
        finally:
            background.stop()
        return 0 if ok else 1
    code = app.exec()
    background.stop()
    window.settings.sync()
    leave(code)


def leave(code: int) -> NoReturn:
    """End the process without the interpreter's teardown: with TensorFlow, MLflow and SQLAlchemy loaded,
    freeing every module's objects one by one took seconds (7.8 s seen) after the window had closed. What
    that teardown does that matters is done here: end the worker processes (as multiprocessing would) and
    flush logs and output. Settings and autosaves are written by then (the window has closed)."""
    import logging
    import multiprocessing

    for child in multiprocessing.active_children():
        child.terminate()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
