"""Scratch folders of the window's pages, removed when the designer closes.

The designer ends without the interpreter's teardown (see ``run.leave``), and that teardown is what would remove a
``TemporaryDirectory`` nobody cleaned: without this, every session left a folder behind in the temp folder."""

from __future__ import annotations

import tempfile
import weakref

_made: weakref.WeakSet[tempfile.TemporaryDirectory[str]] = weakref.WeakSet()


def scratch_folder(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder that lives until its owner cleans it, is collected, or the designer closes."""
    folder = tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True)
    _made.add(folder)
    return folder


def remove_scratch() -> None:
    for folder in list(_made):
        folder.cleanup()
