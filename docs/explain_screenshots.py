"""Render the README's picture of the Explain page for an image classifier: the classic CNN trained for 15
epochs on ``builtin:digits32`` (digits at random places on a larger dark field, resized to the CNN's
28×28), then Grad-CAM on eight test digits. Only the Training dock is grabbed.

    python docs/explain_screenshots.py docs/images
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget
from training_screenshots import close_sample, open_sample

from designer.app.run import application, wait_until


def main(out: Path) -> None:
    app = application()
    window, background, _ = open_sample(training={"epochs": 15, "early_stopping_patience": None},
                                        data={"source": "builtin:digits32", "target_size": 28})
    dock = window.training
    window.resizeDocks([window.findChild(QDockWidget, "Training")], [620], Qt.Orientation.Vertical)
    dock.train()
    assert wait_until(lambda: not dock.controller.running, timeout=900)
    page = dock.results.explain
    dock.setCurrentWidget(dock.results)
    dock.results.pages.setCurrentWidget(page)
    assert wait_until(lambda: page.samples.count() > 0)
    page.samples.clearSelection()
    for row in range(8):
        page.samples.item(row).setSelected(True)
    page.method.setCurrentText("Grad-CAM")
    page.start()
    assert wait_until(lambda: page.process is None, timeout=300)
    app.processEvents()
    window.findChild(QDockWidget, "Training").grab().save(str(out / "explain_page.png"))
    close_sample(window, dock, background)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
