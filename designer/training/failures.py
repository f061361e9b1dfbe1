"""What went wrong, read from an exception and the ones it wraps (Keras re-raises the framework's error,
SQLAlchemy the driver's). Shared by the worker, the run store's checks and the command line, which
must all tell a full disk from a crash: the user can fix the first, and an errno in a traceback does
not say how. Imports nothing heavy: the worker and the command line read it before any framework."""

from __future__ import annotations

import errno
import os
from pathlib import Path

FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it was raised from or while handling, outermost first."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def disk_full(exc: BaseException, folder: Path) -> str | None:
    """'disk full: free space in FOLDER' if ``exc`` comes of a full disk (or quota), else None. FOLDER is
    where the failed write went (a copy's destination), or ``folder``, where the caller was writing, when
    the error does not say or names a file inside it."""
    full = next((e for e in chain(exc) if isinstance(e, OSError) and e.errno in FULL), None)
    if full is None:
        return None
    written = full.filename2 or full.filename  # shutil's copies name the source first, the destination second
    path = Path(os.fsdecode(written)).absolute() if written else None
    where = folder if path is None or path.is_relative_to(folder.absolute()) else path.parent
    return f"disk full: free space in {where}"
