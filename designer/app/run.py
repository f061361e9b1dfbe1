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
    """The window until it is closed; with ``screenshot``, rendered offscreen once the project is analysed,
    saved, and closed: 0, or 2 with the reason on stderr when the project cannot be opened. 1 with the reason
    when the window cannot reach a display."""
    if screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")
    from designer.app.display_check import start_plainly

    app = start_plainly(application)  # no display, a platform plugin that cannot load: one line, exit 1
    from designer.app.background import Background
    from designer.app.main_window import MainWindow

    background = Background()
    problems: list[str] = []
    headless = {"ask": lambda _title, _text: False,  # no dialog offscreen: it would wait for ever
                "warn": lambda title, text: problems.append(f"{title}: {' '.join(text.split())}"),
                "report": lambda report: print(report.text())}  # an import's report, not a modal dialog
    window = MainWindow(background, dark=True if dark else None, warm_up=not screenshot,
                        **(headless if screenshot else {}))
    window.show()
    if project:
        window.open_path(Path(project))
    if screenshot:
        try:
            ok = wait_until(lambda: background.catalog is not None) and (not project or wait_until(
                lambda: bool(problems) or (background.idle and window.analysis is not None)))
            if problems:
                print(f"netdesigner: {problems[0]}", file=sys.stderr)
                return 2
            if window.editor_built:
                window.canvas.fit()
            app.processEvents()
            window.grab().save(screenshot)
        finally:
            window.undo.clear()  # nothing to save: an import is "unsaved", and closing would ask
            window.close()
            background.stop()
        return 0 if ok else 1
    code = app.exec()
    background.stop()
    window.settings.sync()
    leave(code)


def leave(code: int) -> NoReturn:
    """End the process without the interpreter's teardown: with TensorFlow, MLflow and SQLAlchemy loaded,
    freeing every module's objects one by one took seconds (7.8 s seen) after the window had closed. What
    that teardown does that matters is done here: end the worker processes (as multiprocessing would), remove
    the pages' scratch folders, flush logs and output. Settings and autosaves are written by then (the window
    has closed)."""
    import logging
    import multiprocessing
    from multiprocessing import util

    from designer.app.scratch import remove_scratch

    for child in multiprocessing.active_children():
        child.terminate()
    # The queues' semaphores are unlinked by multiprocessing's own exit finalizers; skipped, its resource
    # tracker would warn of "leaked semaphore objects" on stderr after every session.
    util._run_finalizers(0)
    remove_scratch()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
