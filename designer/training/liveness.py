"""Whether the processes behind a run still exist, told from what the run record keeps about them.

A run is finished by the process that records it. If that process and its worker are gone (killed,
crashed, the machine restarted) the record would say RUNNING forever, so each run keeps its host and
process ids, and whoever reads the store later can tell a live run from a dead one.
"""

from __future__ import annotations

import os
import socket
import sys


def start_mark(pid: int) -> str:
    """When the process started (clock ticks since boot, Linux): tells a reused pid from the original."""
    fields = _stat(pid)
    return fields[19] if fields else ""


def process_tags(prefix: str, pid: int) -> dict[str, str]:
    """The tags that identify process ``pid`` of this host in a run record."""
    return {"host": socket.gethostname(), f"{prefix}_pid": str(pid), f"{prefix}_start": start_mark(pid)}


def alive(pid: int, mark: str = "") -> bool:
    """True unless the process is surely gone: no such pid, a zombie, or a different process under that pid.
    On Windows nothing is checked (``os.kill(pid, 0)`` would end the process there)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        pass
    fields = _stat(pid)
    if fields is None:
        return True
    return fields[0] not in ("Z", "X") and (not mark or fields[19] == mark)


def gone(tags: dict[str, str], roles: tuple[str, ...] = ("recorder", "worker")) -> bool:
    """The run's recorded processes all exist no more (False when they ran on another host or are unknown)."""
    if tags.get("host") != socket.gethostname():
        return False
    pids = [(int(tags[f"{role}_pid"]), tags.get(f"{role}_start", "")) for role in roles
            if tags.get(f"{role}_pid", "").isdigit()]
    return bool(pids) and not any(alive(pid, mark) for pid, mark in pids)


def _stat(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` after the command name: state first, start time at index 19; None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            return fh.read().rpartition(")")[2].split()
    except OSError:
        return None
