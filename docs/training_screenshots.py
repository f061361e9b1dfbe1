"""Render the README's training pictures from the real window: a run in progress, its results,
and two runs overlaid. Trains the classic CNN sample twice in a scratch folder.

    python docs/training_screenshots.py docs/images
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from designer.app.background import Background
from designer.app.main_window import MainWindow
from designer.app.run import application, wait_until
from designer.training.recipes.options import judge_files

SAMPLES = Path(__file__).resolve().parents[1] / "sample_projects"


def open_sample(name: str = "classic_cnn", training: dict | None = None,
                data: dict | None = None) -> tuple[MainWindow, Background, Path]:
    """The window on a copy of a sample (by default the classic CNN, 8 epochs) with ``training`` options
    changed (and its data setup replaced by ``data``, if given), in a scratch folder, Training tab shown."""
    folder = Path(tempfile.mkdtemp(prefix="screens-"))
    project = json.loads((SAMPLES / f"{name}.kdn").read_text())
    changes = {"epochs": 8, "early_stopping_patience": None} if training is None else training
    project["training"] = {**project["training"], **changes}
    if data is not None:
        project["data"] = data
    (folder / f"{name}.kdn").write_text(json.dumps(project))
    for judge in judge_files(project["training"]):  # a judge named beside the project travels with it
        shutil.copy(SAMPLES / judge, folder / judge)
    background = Background()
    window = MainWindow(background)
    window.resize(1440, 960)
    window.show()
    window.open_path(folder / f"{name}.kdn")
    dock = window.training
    assert wait_until(lambda: background.idle and window.analysis is not None and dock.data.dataset is not None)
    window.findChild(QDockWidget, "Training").raise_()  # once the docks are laid out, as a user's click
    window.resizeDocks([window.findChild(QDockWidget, "Training")], [470], Qt.Orientation.Vertical)
    return window, background, folder


def main(out: Path) -> None:
    app = application()
    window, background, _ = open_sample()
    dock = window.training
    app.processEvents()
    window.grab().save(str(out / "training_data.png"))
    dock.train()
    assert wait_until(lambda: dock.monitor.position >= 4.3, timeout=300)
    dock.monitor.redraw()
    app.processEvents()
    window.grab().save(str(out / "training_progress.png"))
    assert wait_until(lambda: not dock.controller.running, timeout=300)
    app.processEvents()
    window.grab().save(str(out / "training_results.png"))
    window.change_setup(window.project.data, {"learning_rate": 0.003})
    dock.train()
    assert wait_until(lambda: not dock.controller.running, timeout=300)
    assert wait_until(lambda: len(dock.runs.runs) == 2)  # the store is read in a thread
    dock.runs.tick([run["run_id"] for run in dock.runs.runs])
    dock.setCurrentWidget(dock.monitor)
    app.processEvents()
    window.grab().save(str(out / "training_overlay.png"))
    close_sample(window, dock, background)


def close_sample(window: MainWindow, dock: object, background: Background) -> None:
    """Stop the run's worker and the Keras thread, and mark the project clean so closing asks nothing."""
    dock.controller.shutdown()  # type: ignore[attr-defined]
    background.stop()
    window.undo.setClean()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
