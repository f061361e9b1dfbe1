"""Closing the designer ends its process at once, whatever it has loaded (TensorFlow, MLflow)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

CHILD = """
import atexit, time
atexit.register(time.sleep, 120)  # stands in for the seconds the interpreter's teardown of big modules takes
import mlflow.tracking  # as after a training run: the run store's modules are loaded too
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from designer.app.run import application
from designer.cli import main

app = application()

def close_when_ready():
    window = next((w for w in QApplication.topLevelWidgets() if type(w).__name__ == "MainWindow"), None)
    if window is None or window.background.catalog is None or not hasattr(window, "previews"):
        # TensorFlow loaded in the window's process, the sample's network open
        QTimer.singleShot(50, close_when_ready)
        return
    window.training  # the Training tab: the layer previews get a scratch folder for the runs' weights
    print(window.previews.scratch.name, flush=True)
    print("closing", flush=True)
    window.close()

QTimer.singleShot(0, close_when_ready)
main(["gui", "sample_projects/classic_cnn.kdn"])
"""


def test_the_process_ends_without_the_interpreters_teardown(tmp_path):
    """Before, the interpreter's teardown of TensorFlow's, MLflow's and SQLAlchemy's modules took seconds
    (7.8 s seen) after the window had gone: a two-minute exit handler stands in for it, and the process
    must end long before it would have run; the pages' scratch folders are removed even so."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}  # the window's settings, not the user's
    process = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT, env=env)
    assert process.stdout is not None
    scratch = Path(process.stdout.readline().strip())
    assert scratch.is_dir()
    assert process.stdout.readline().strip() == "closing"
    closed = time.monotonic()
    _, err = process.communicate(timeout=100)
    assert process.returncode == 0
    assert time.monotonic() - closed < 60  # the exit handler never ran
    assert "Traceback" not in err and "leaked" not in err, err
    assert not scratch.exists()  # what the skipped teardown would have removed is removed all the same
