"""Render the README's designer pictures from the real window: the start page, the classic CNN with
a layer selected, the same in the dark theme, a graph with an error highlighted, ResNet50 imported
and arranged, and the transfer-learning sample.

    python docs/designer_screenshots.py docs/images
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

from PySide6.QtCore import QSettings

from designer.app.background import Background
from designer.app.main_window import MainWindow
from designer.app.run import application, wait_until

SAMPLES = Path(__file__).resolve().parents[1] / "sample_projects"


def node_id(window: MainWindow, name: str) -> str:
    return next(n.id for n in window.state.doc.nodes.values() if n.name == name)


def main(out: Path) -> None:
    app = application()
    # Settings of a first start: the pictures show no one's recent files or saved theme.
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())

    def shoot(name: str, window: MainWindow) -> None:
        background = window.background
        assert wait_until(lambda: background.idle and (window.analysis is not None or not window.editor_built))
        app.processEvents()
        window.grab().save(str(out / name))
        window.undo.setClean()  # a picture, not an edit to keep
        window.close()
        background.stop()

    def opened(path: Path | None, dark: bool = False) -> MainWindow:
        """A fresh window, as a new ``netdesigner gui`` would show it."""
        window = MainWindow(Background(), dark=dark)
        window.show()
        background = window.background
        assert wait_until(lambda: background.catalog is not None)
        if path is not None:
            assert window.open_path(path)
            assert wait_until(lambda: background.idle and window.analysis is not None)
            window.canvas.fit()
        return window

    shoot("start_page.png", opened(None))
    for name, dark in (("classic_cnn.png", False), ("dark_theme.png", True)):
        window = opened(SAMPLES / "classic_cnn.kdn", dark)
        window.canvas.select([node_id(window, "conv2")])
        shoot(name, window)

    window = opened(SAMPLES / "classic_cnn.kdn")  # a kernel too big for the 13x13 map it gets
    conv2 = window.state.doc.node(node_id(window, "conv2"))
    window._inspector_edited(conv2.id, {"params": {**conv2.params, "kernel_size": [15, 15]}})
    assert wait_until(lambda: window.background.idle and window.analysis is not None and not window.analysis.ok)
    problem = window.panel.problems.item(0)
    window.panel.problems.setCurrentItem(problem)
    window.panel.problems.itemClicked.emit(problem)  # a click on the message selects and centres its layer
    shoot("error.png", window)

    window = opened(SAMPLES / "classic_cnn.kdn")  # where the weights are, against where the compute is
    window.show_cost_by("param_bytes")
    shoot("cost_overlay_memory.png", window)

    window = opened(None)
    window.start.chosen.emit("application", "ResNet50")
    assert wait_until(lambda: window.editor_built and window.background.idle and window.analysis is not None, 300)
    window.arrange()
    window.canvas.fit()
    shoot("resnet50.png", window)

    window = opened(SAMPLES / "transfer_mobilenet.kdn")
    shoot("transfer_mobilenet.png", window)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
