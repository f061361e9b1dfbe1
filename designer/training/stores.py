"""Where a project's run records live, known without importing MLflow (seconds to import): the
window needs the address when a project opens, long before anyone reads a run; nor the error an
unusable store raises, which the command line catches around every command."""

from __future__ import annotations

from pathlib import Path


def default_tracking_uri(project_dir: Path) -> str:
    return f"sqlite:///{(project_dir / 'runs.db').resolve()}"


class StoreError(Exception):
    """The run store cannot be used; the message names the store, the problem and the fix."""
