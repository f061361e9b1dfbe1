"""The lines ``netdesigner explain --json`` writes, as the window reads them back from its worker process:
one JSON object per sample on stdout, the share done as ``{"progress": P}`` lines on stderr (stdout keeps
its one line per sample), and anything else on stderr a reason for failing."""

from __future__ import annotations

import json
import sys
from typing import Any

from designer.inspection.common import Progress


def progress_printer() -> Progress:
    """Writes the share done to stderr, at most once per whole percent."""
    last = [-1]

    def report(share: float) -> None:
        percent = int(share * 100)
        if percent != last[0]:
            last[0] = percent
            print(json.dumps({"progress": round(share, 4)}), file=sys.stderr, flush=True)

    return report


def parse_progress(line: str) -> float | None:
    """The share done a stderr line reports, or None for any other line."""
    record = _record(line)
    value = record.get("progress") if record is not None else None
    return float(value) if isinstance(value, (int, float)) else None


def parse_sample(line: str) -> dict[str, Any] | None:
    """A sample's record from a stdout line, or None for a line that is not one."""
    record = _record(line)
    return record if record is not None and {"sample", "map", "png"} <= set(record) else None


def _record(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None
