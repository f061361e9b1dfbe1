"""Render the README's generative pictures from the real window: the GAN sample's recipe options, the GAN
sample training with its live sample grid, and the VAE sample's Samples page with its latent interpolation.
Each trains in a scratch folder.

    python docs/generative_screenshots.py docs/images
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

from training_screenshots import SAMPLES, close_sample, open_sample

from designer.app.run import application, wait_until

GAN_EPOCHS, GAN_SHOWN_AT = 40, 30  # the picture is taken while the run goes on, its grid already digits
VAE_EPOCHS = 30


def options_dialog(out: Path) -> None:
    """The GAN sample's training options: the recipe's blocks, the latent size as drawn, the judge."""
    from designer.app.generative.recipe_fit import drawn_latent_sizes
    from designer.app.training_options import TrainingOptionsDialog
    from designer.graph.project import load_project

    project = load_project(SAMPLES / "gan_digits.kdn")
    dialog = TrainingOptionsDialog(project.training, blocks=["generator", "discriminator"],
                                   drawn=drawn_latent_sizes(project.document, project.training))
    dialog.show()
    application().processEvents()
    dialog.recipe.grab().save(str(out / "gan_options.png"))
    dialog.close()


def main(out: Path) -> None:
    app = application()
    options_dialog(out)
    window, background, _ = open_sample("gan_digits", {"epochs": GAN_EPOCHS})
    dock = window.training
    dock.train()
    assert wait_until(lambda: dock.monitor.position >= GAN_SHOWN_AT, timeout=900)
    dock.monitor.redraw(everything=True)
    app.processEvents()
    window.grab().save(str(out / "gan_training.png"))
    dock.controller.stop()  # the run ends after its batch, so the window has nothing to ask on closing
    assert wait_until(lambda: not dock.controller.running, timeout=300)
    close_sample(window, dock, background)
    window.close()

    window, background, _ = open_sample("vae_digits", {"epochs": VAE_EPOCHS})
    dock = window.training
    dock.train()
    assert wait_until(lambda: not dock.controller.running, timeout=900)
    page = dock.results.generative
    assert wait_until(lambda: not page.loading and not page.interpolation.image.isNull())
    page.seed.setValue(7)
    page.generate()
    assert wait_until(lambda: page.process is None, timeout=300)
    app.processEvents()
    window.grab().save(str(out / "vae_interpolation.png"))
    close_sample(window, dock, background)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
