"""Render the README's layer-preview pictures from the real window: the classic CNN's previews with its
initial weights, while it trains (they follow the run's epochs) and inside a block opened from it.

    python docs/preview_screenshots.py docs/images
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QDockWidget
from training_screenshots import close_sample, open_sample

from designer.app.run import application, wait_until


def main(out: Path) -> None:
    app = application()
    window, background, _ = open_sample()
    dock, previews = window.training, window.previews
    window.actions_by_name["Layer previews"].trigger()
    assert wait_until(lambda: bool(previews.previews) and previews.idle)
    bottom = [window.findChild(QDockWidget, name) for name in ("Analysis", "Training")]
    for panel in bottom:  # the whole network first, before training: the initial weights, as the canvas says
        panel.hide()
    app.processEvents()
    window.canvas.fit()
    names = {n.name: n.id for n in window.state.doc.nodes.values()}
    window.canvas.select([names["conv1"]])  # its output's statistics in Properties
    app.processEvents()
    window.grab().save(str(out / "layer_previews.png"))
    for panel in bottom:
        panel.show()
    bottom[1].raise_()
    app.processEvents()
    window.canvas.fit()
    dock.train()
    assert wait_until(lambda: previews.weights[1] and previews.weights[2] > 1 and dock.monitor.position >= 4.3
                      and previews.idle, timeout=600)
    dock.monitor.redraw()
    app.processEvents()
    window.grab().save(str(out / "layer_previews_training.png"))
    assert wait_until(lambda: not dock.controller.running and previews.idle, timeout=600)
    window.canvas.select([names["conv2"], names["pool2"], names["conv3"]])
    window.group_selection()
    block = window.canvas.selected_ids()[0]
    assert wait_until(lambda: previews.idle and f"{block}/{names['conv3']}" in previews.previews)
    window.open_block(block)
    window.canvas.select([names["conv3"]])
    dock.setCurrentWidget(dock.monitor)  # the finished run's curves: the previews show its trained weights
    assert wait_until(lambda: previews.idle)
    app.processEvents()
    window.grab().save(str(out / "layer_previews_block.png"))
    close_sample(window, dock, background)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
