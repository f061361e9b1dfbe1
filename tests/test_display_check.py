"""Starting the window where Qt cannot reach a display: one line naming what is missing and its fix,
instead of Qt's abort (exit 134)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import PySide6
import pytest

from designer.app.display_check import debian_package, install_command

PLUGIN = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"


@pytest.mark.skipif(not PLUGIN.is_file(), reason="Qt's X11 plugin ships in PySide6's Linux wheels only")
def test_a_platform_plugin_that_cannot_load_is_one_line_not_an_abort(tmp_path):
    # The fault: the plugin copied where its own Qt library is out of reach, as a missing system library is.
    platforms = tmp_path / "platforms"
    platforms.mkdir()
    shutil.copy(PLUGIN, platforms)
    env = {**os.environ, "DISPLAY": ":0", "QT_QPA_PLATFORM_PLUGIN_PATH": str(platforms)}
    env.pop("QT_QPA_PLATFORM", None)
    env.pop("WAYLAND_DISPLAY", None)
    result = subprocess.run([sys.executable, "-m", "designer"], capture_output=True, text=True, env=env,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("netdesigner: the window cannot open")
    assert "needs libQt6XcbQpa.so.6" in result.stderr and " with: " in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 displays are a Linux matter here")
def test_no_display_is_said_plainly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "designer"], capture_output=True, text=True, env=env,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 1 and "DISPLAY is not set" in result.stderr and "--screenshot" in result.stderr


def test_the_install_command_names_each_distributions_packages(tmp_path):
    assert [debian_package(s) for s in ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1",
                                        "libxkbcommon-x11.so.0", "libEGL.so.1", "libdbus-1.so.3")] == [
        "libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxkbcommon-x11-0", "libegl1", "libdbus-1-3"]
    release = tmp_path / "os-release"
    release.write_text('ID=ubuntu\nID_LIKE=debian\n')
    assert install_command(["libxcb-cursor.so.0"], release) == "sudo apt-get install libxcb-cursor0"
    release.write_text('ID="fedora"\n')
    assert install_command(["libxcb-cursor.so.0"], release) == "sudo dnf install 'libxcb-cursor.so.0()(64bit)'"
