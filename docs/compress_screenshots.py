"""Render the README's Compress page from the real window: the classic CNN sample trained in a scratch
folder, then compressed four ways from its Results page, each by its own `netdesigner compress` process.

    python docs/compress_screenshots.py docs/images
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")


from training_screenshots import close_sample, open_sample

from designer.app.run import application, wait_until

VARIANTS = (("dynamic", "dynamic.tflite"), ("float16", "float16.tflite"), ("int8", "int8.tflite"),
            ("prune", "pruned.keras"))


def main(out: Path) -> None:
    app = application()
    window, background, folder = open_sample()
    dock = window.training
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
    close_sample(window, dock, background)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
