"""Project files: a network document plus its data and training setup, as versioned JSON.

Files carry ``format_version``; older files are migrated forward on load, newer ones are
refused with a clear message. Saving is atomic (temp file, fsync, rename) so a crash
never leaves half a project behind.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from designer.graph.document import NetworkDocument
from designer.graph.serialize import (
    DocumentFormatError,
    check_json_value,
    document_from_dict,
    document_to_dict,
    expect_int,
    expect_object,
    expect_str,
)

FORMAT_VERSION = 1
APP_ID = "keras-network-designer"
SUFFIX = ".kdn"
MAX_FILE_BYTES = 64 * 1024 * 1024

# Forward migrations: MIGRATIONS[n] turns a version-n file dict into a version-(n+1) one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

_FIELDS = {"format_version", "app", "name", "description", "graph", "weights", "data", "training", "experiments"}


@dataclass
class Project:
    """What a user saves: the network plus everything needed to train and sweep it again."""

    document: NetworkDocument
    description: str = ""
    weights: str = ""  # a weights file beside the project file, relative to it
    data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    experiments: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.document.name


class ProjectFileError(DocumentFormatError):
    """A project file that cannot be opened; the message names the file and the place in it."""


def project_to_dict(project: Project) -> dict[str, Any]:
    out: dict[str, Any] = {"format_version": FORMAT_VERSION, "app": APP_ID, "name": project.name}
    if project.description:
        out["description"] = project.description
    out["graph"] = document_to_dict(project.document)
    if project.weights:
        out["weights"] = project.weights
    for key in ("data", "training", "experiments"):
        if getattr(project, key):
            out[key] = getattr(project, key)
    return out


def project_from_dict(data: Any) -> Project:
    obj = expect_object(data, "", required={"format_version", "graph"}, allowed=_FIELDS)
    version = expect_int(obj["format_version"], "format_version")
    if version > FORMAT_VERSION:
        raise DocumentFormatError("format_version", f"version {version} was written by a newer Keras "
                                  f"Network Designer (this one reads up to {FORMAT_VERSION}); upgrade it")
    if version < 1:
        raise DocumentFormatError("format_version", f"version {version} does not exist")
    while version < FORMAT_VERSION:
        obj = MIGRATIONS[version](obj)
        version += 1
    doc = document_from_dict(obj["graph"], "graph")
    if "name" in obj:
        doc.name = expect_str(obj["name"], "name", nonempty=True)
    sections = {}
    for key in ("data", "training", "experiments"):
        sections[key] = expect_object(obj.get(key, {}), key)
        check_json_value(sections[key], key)
    weights = expect_str(obj.get("weights", ""), "weights")
    if Path(weights).is_absolute() or ".." in Path(weights).parts:
        raise DocumentFormatError("weights", "must name a file beside the project, not a path elsewhere")
    return Project(doc, expect_str(obj.get("description", ""), "description"), weights, **sections)


def load_project(path: str | os.PathLike[str]) -> Project:
    """Read a project file; any problem becomes a ``ProjectFileError`` naming file and place."""
    path = Path(path)
    try:
        with open_regular_file(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise ProjectFileError("", f"{path}: {size} bytes is too large for a project file "
                                       f"(limit {MAX_FILE_BYTES // 2**20} MiB); is it really one?")
            text = fh.read().decode("utf-8")
    except NotARegularFile:
        raise ProjectFileError("", f"{path}: not a regular file (a pipe, device or socket); "
                               "give the path of a saved project file") from None
    except FileNotFoundError:
        raise ProjectFileError("", f"{path}: no such file") from None
    except IsADirectoryError:
        raise ProjectFileError("", f"{path}: is a folder, not a project file") from None
    except PermissionError:
        raise ProjectFileError("", f"{path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise _not_a_project(path, f"not a text file: byte {exc.start} is not UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (the file looks truncated)" if exc.pos >= len(text.rstrip()) else ""
        raise _not_a_project(path, f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{hint}") \
            from None
    except (ValueError, RecursionError) as exc:
        raise _not_a_project(path, f"unreadable JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict) or not data.keys() & {"app", "format_version", "graph"}:
        raise _not_a_project(path, "JSON, but not an object with format_version and graph")
    try:
        return project_from_dict(data)
    except DocumentFormatError as exc:
        raise ProjectFileError(exc.where, f"{path}: {exc}") from None


def _not_a_project(path: Path, detail: str) -> ProjectFileError:
    """The first thing to say about a file of another kind; the detail helps with a damaged project."""
    return ProjectFileError("", f"{path}: not a Keras Network Designer project ({detail}); open a .kdn file "
                            "the designer saved, or import a model (netdesigner import)")


class NotARegularFile(OSError):
    """A path that names a pipe, device or socket: reading it could wait forever."""


def open_regular_file(path: Path) -> BinaryIO:
    """Open for reading, refusing anything but a regular file without waiting: opening a FIFO
    blocks until someone writes to it, so it is opened non-blocking and checked before any read."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        raise NotARegularFile(str(path))
    return os.fdopen(fd, "rb")


def target_problem(path: Path) -> str | None:
    """Why a project cannot be written at ``path`` (one line naming the fix), or None."""
    if path.suffix != SUFFIX:
        return f"{path}: the project file should end in {SUFFIX}"
    if not path.parent.is_dir():
        return f"{path.parent}: no such folder"
    if not os.access(path.parent, os.W_OK):
        return f"{path.parent}: this folder is not writable; choose another folder for the project"
    if path.is_dir():
        return f"{path} is a folder; give a file name"
    return None


def save_project(project: Project, path: str | os.PathLike[str]) -> None:
    """Write atomically: the old file stays intact until the new one is complete on disk. Temp files
    that an earlier save left behind when it was killed go now."""
    write_json_atomic(project_to_dict(project), Path(path))
    for stale in staging_files(Path(path).parent, re.escape(Path(path).name)):
        stale.unlink(missing_ok=True)


_SCALAR = r'(?:-?\d[\d.eE+-]*|"[^"\\\n]{0,60}"|true|false|null)'
_SCALAR_LIST = re.compile(r"\[\s*(" + _SCALAR + r"(?:,\s*" + _SCALAR + r")*)\s*\]")


def compact_json(data: Any) -> str:
    """Indented JSON with short lists of scalars kept on one line: readable, diffable."""
    text = json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False)
    return _SCALAR_LIST.sub(lambda m: "[" + ", ".join(re.split(r",\s*\n\s*", m.group(1))) + "]", text)


def write_json_atomic(data: Any, path: Path) -> None:
    write_text_atomic(compact_json(data) + "\n", path)


def copy_atomic(source: Path, target: Path) -> None:
    """A file a project names (its weights) carried to the project's new folder, whole or not at all."""
    with open_regular_file(source) as fh:
        write_atomic(target, lambda out: shutil.copyfileobj(fh, out, 1 << 20))


def write_text_atomic(text: str, path: Path) -> None:
    write_atomic(path, lambda fh: fh.write(text.encode("utf-8")))


def _read_umask() -> int:
    """Read once, when this module loads: reading it means setting it, which must not race other threads."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _read_umask()


def staging_files(folder: Path, target: str) -> list[Path]:
    """The temp files ``write_atomic`` makes in ``folder`` for files whose names match the regular
    expression ``target``: one still there after the write was cut short by a crash."""
    pattern = re.compile(rf"\.(?:{target})\.[a-z0-9_]{{8}}{re.escape(_STAGING_SUFFIX)}")
    return [p for p in folder.iterdir() if pattern.fullmatch(p.name)] if folder.is_dir() else []


_STAGING_SUFFIX = ".tmp"


def write_atomic(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Temp file in the same folder, fsync, rename: the old file survives any failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_STAGING_SUFFIX, dir=path.parent)
    try:
        # mkstemp makes the file private (0600); a saved project gets the permissions any new file would,
        # or keeps those of the file it replaces
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~UMASK)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
