"""Before Qt starts on Linux: can the window reach a display? Qt answers a missing system library of its
X11 (xcb) platform plugin, or no display at all, by aborting (exit 134) with a paragraph about plugins;
this says it in one line, with the command that installs what is missing.

The check loads the plugin the way Qt is about to (about a millisecond, the libraries then stay loaded
for Qt), and only when that fails asks ``ldd`` for every library that is missing, so one install fixes all.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def display_problem(env: Mapping[str, str] = os.environ) -> str | None:
    """None when the window can open (or Qt is not going to use X11); else the reason and the fix."""
    platform = env.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or platform not in ("", "xcb"):
        return None
    if not platform and env.get("WAYLAND_DISPLAY"):
        return None  # Qt takes the Wayland session
    if not env.get("DISPLAY"):
        return ("no display to open the window on (DISPLAY is not set): run it in a desktop session, "
                "or render offscreen with --screenshot PNG")
    plugin = xcb_plugin(env)
    if plugin is None:
        return None  # a Qt built elsewhere: its own packaging brings its libraries
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        missing = missing_libraries(plugin) or [str(exc).split(":")[0]]
        return (f"the window cannot open: Qt's X11 platform plugin needs {', '.join(missing)}, missing here; "
                f"install {'it' if len(missing) == 1 else 'them'} with: {install_command(missing)} "
                "(the README lists every package the window needs)")
    return None


def xcb_plugin(env: Mapping[str, str] = os.environ) -> Path | None:
    """The xcb plugin Qt will load: from QT_QPA_PLATFORM_PLUGIN_PATH when set, else PySide6's own."""
    import PySide6  # the package alone: no Qt library is loaded by it

    folders = [Path(p) for p in env.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep) if p]
    folders.append(Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms")
    return next((f / "libqxcb.so" for f in folders if (f / "libqxcb.so").is_file()), None)


def missing_libraries(library: Path) -> list[str]:
    """The shared libraries ``library`` needs that the loader cannot find, all of them, as ``ldd`` says."""
    try:
        out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return list(dict.fromkeys(re.findall(r"^\s*(\S+) => not found", out, flags=re.MULTILINE)))


def install_command(sonames: list[str], os_release: Path = Path("/etc/os-release")) -> str:
    """The package manager's command for these libraries, by the distribution's own naming: Debian names a
    library's package after its soname (libxcb-cursor.so.0 → libxcb-cursor0, libxkbcommon-x11.so.0 →
    libxkbcommon-x11-0); dnf installs by the soname itself."""
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
