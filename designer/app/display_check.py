"""Starting Qt where it cannot reach a display: Qt answers a missing system library of its X11 (xcb)
platform plugin, or no display at all, by aborting (exit 134) with a paragraph about plugins. Here its
messages are held while the application starts; if Qt gives up, one line says why, with the command that
installs what is missing, and the process ends with 1. Nothing is checked when Qt starts: no cost.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

App = TypeVar("App")


def start_plainly(make: Callable[[], App]) -> App:
    """``make()`` (the QApplication) with Qt's start-up messages held: a fatal one (Qt aborts when its
    handler returns) becomes :func:`display_problem`'s line and exit 1; those of a start that works are
    printed as Qt would have. Only what Python has loaded already is used until something fails."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    held: list[str] = []

    def handler(kind: QtMsgType, _context: object, text: str) -> None:
        if kind == QtMsgType.QtFatalMsg:
            print(f"netdesigner: {display_problem(text)}", file=sys.stderr, flush=True)
            os._exit(1)
        held.append(text)

    previous = qInstallMessageHandler(handler)
    try:
        return make()
    finally:
        qInstallMessageHandler(previous)
        for text in held:
            print(text, file=sys.stderr)


def display_problem(fatal: str, env: Mapping[str, str] = os.environ) -> str:
    """Why Qt could not start (its ``fatal`` message) and what to do, in one line."""
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform in ("", "xcb") and sys.platform.startswith("linux"):
        if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
            return ("no display to open the window on (DISPLAY is not set): run it in a desktop session, "
                    "or render offscreen with --screenshot PNG")
        plugin = xcb_plugin(env)
        missing = missing_libraries(plugin) if plugin is not None else []
        if missing:
            return (f"the window cannot open: Qt's X11 platform plugin needs {', '.join(missing)}, missing here; "
                    f"install {'it' if len(missing) == 1 else 'them'} with: {install_command(missing)} "
                    "(the README lists every package the window needs)")
    return f"the window cannot open: {' '.join(fatal.split())}"


def xcb_plugin(env: Mapping[str, str] = os.environ) -> Path | None:
    """The xcb plugin Qt will load: from QT_QPA_PLATFORM_PLUGIN_PATH when set, else PySide6's own."""
    import PySide6  # the package alone: no Qt library is loaded by it

    folders = [Path(p) for p in env.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep) if p]
    folders.append(Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms")
    return next((f / "libqxcb.so" for f in folders if (f / "libqxcb.so").is_file()), None)


def missing_libraries(library: Path) -> list[str]:
    """The shared libraries ``library`` needs that the loader cannot find, all of them, as ``ldd`` says."""
    import re  # here, on the way out: these imports would be ~20 ms of every start
    import subprocess

    try:
        out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return list(dict.fromkeys(re.findall(r"^\s*(\S+) => not found", out, flags=re.MULTILINE)))


def install_command(sonames: list[str], os_release: Path = Path("/etc/os-release")) -> str:
    """The package manager's command for these libraries, by the distribution's own naming: Debian names a
    library's package after its soname (libxcb-cursor.so.0 → libxcb-cursor0, libxkbcommon-x11.so.0 →
    libxkbcommon-x11-0); dnf installs by the soname itself."""
    import re

    try:
        text = os_release.read_text(encoding="utf-8")
    except OSError:
        text = ""
    ids = " ".join(re.findall(r"^ID(?:_LIKE)?=\"?([^\"\n]*)", text, flags=re.MULTILINE)).split()
    if {"debian", "ubuntu"} & set(ids):
        return "sudo apt-get install " + " ".join(debian_package(s) for s in sonames)
    if {"fedora", "rhel", "centos"} & set(ids):
        return "sudo dnf install " + " ".join(f"'{s}()(64bit)'" for s in sonames)
    return f"your package manager (the packages that provide {', '.join(sonames)})"


def debian_package(soname: str) -> str:
    """Debian's package name for a shared library (policy 8.1): name and version, a dash between them
    when the name ends in a digit, lower case."""
    name, _, version = soname.partition(".so.")
    return (f"{name}-{version}" if name[-1:].isdigit() else f"{name}{version}").lower()
