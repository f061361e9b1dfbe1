"""Render the README's Compress page from the real window: the classic CNN sample trained in a scratch
folder, then compressed four ways from its Results page, each by its own `netdesigner compress` process.

    python docs/compress_screenshots.py docs/images
"""

from __future__ import annotations

import json
import os
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

SAMPLE = Path(__file__).resolve().parents[1] / "sample_projects" / "classic_cnn.kdn"
VARIANTS = (("dynamic", "dynamic.tflite"), ("float16", "float16.tflite"), ("int8", "int8.tflite"),
            ("prune", "pruned.keras"))


def main(out: Path) -> None:
    app = application()
    folder = Path(tempfile.mkdtemp(prefix="screens-"))
    project = json.loads(SAMPLE.read_text())
    project["training"] = {**project["training"], "epochs": 8, "early_stopping_patience": None}
    (folder / "classic_cnn.kdn").write_text(json.dumps(project))
    background = Background()
    window = MainWindow(background)
    window.resize(1440, 960)
    window.show()
    window.open_path(folder / "classic_cnn.kdn")
    dock = window.training
    assert wait_until(lambda: background.idle and window.analysis is not None and dock.data.dataset is not None)
    window.findChild(QDockWidget, "Training").raise_()
    window.resizeDocks([window.findChild(QDockWidget, "Training")], [470], Qt.Orientation.Vertical)
    dock.train()
    assert wait_until(lambda: not dock.controller.running, timeout=600)
    dock.results.compress_button.click()
    page = dock.compress
    for method, name in VARIANTS:
        page.method.setCurrentText(method)
        page.compress(method, str(folder / name))
        assert wait_until(lambda: page.process is None, timeout=600), method
        print(page.report.toPlainText().splitlines()[0], flush=True)
    app.processEvents()
    window.grab().save(str(out / "compress_page.png"))
    dock.controller.shutdown()
    background.stop()
    window.undo.setClean()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
