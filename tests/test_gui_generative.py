"""GANs and VAEs in the window: the recipe in the training options, the live sample grid, the Samples page."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QProcess
from test_gui_training import open_copy, window  # noqa: F401  (the fixture)

from designer.app.training_options import TrainingOptionsDialog
from designer.training.recipes.options import RECIPES


def answer_options(monkeypatch, choose):
    """The options dialog answered by ``choose(dialog)`` instead of a person: OK when it returns True."""
    monkeypatch.setattr(TrainingOptionsDialog, "exec", lambda dialog: int(bool(choose(dialog))))


def test_the_recipe_and_its_options_are_one_undoable_edit_and_misfits_say_why(qtbot, window, tmp_path,  # noqa: F811
                                                                               monkeypatch):
    dock = open_copy(qtbot, window, tmp_path, sample="gan_digits")
    seen: dict[str, str] = {}

    def choose_vae_then_gan(dialog):
        editor = dialog.recipe
        assert editor.chosen() == "gan" and not editor.problems.text()  # the sample's blocks fit
        assert {"generator", "discriminator"} <= {editor.editors["gan"]["generator"].itemText(i)
                                                  for i in range(editor.editors["gan"]["generator"].count())}
        editor.recipe.setCurrentIndex(RECIPES.index("vae"))  # a GAN's blocks are no encoder and decoder
        seen["vae"] = " ".join(editor.problems.text().split())  # as read, not as wrapped
        editor.recipe.setCurrentIndex(RECIPES.index("gan"))
        editor.editors["gan"]["label_smoothing"].setValue(0.2)
        latent = editor.editors["gan"]["latent_dim"]
        assert latent.value() == 0 and latent.specialValueText() == "as drawn (32)"  # the sample's noise size
        latent.setValue(16)
        assert editor.editors["gan"]["judge"].path.text() == "digits_judge.keras"  # the sample's own judge
        assert not editor.problems.text()  # 16 can be set in every place that holds the size
        return True

    answer_options(monkeypatch, choose_vae_then_gan)
    dock.edit_options()
    assert "'encoder'" in seen["vae"] and "add it, or name the encoder" in seen["vae"]
    assert window.project.training["recipe"] == "gan"
    shipped = {"judge": "digits_judge.keras"}
    assert window.project.training["gan"] == {**shipped, "label_smoothing": 0.2, "latent_dim": 16}  # what differs
    assert window.undo.count() == 1  # one edit

    def choose_discriminator_as_generator(dialog):
        dialog.recipe.editors["gan"]["generator"].setCurrentText("discriminator")
        dialog.recipe.editors["gan"]["discriminator"].setCurrentText("generator")
        seen["swapped"] = " ".join(dialog.recipe.problems.text().split())
        return True

    answer_options(monkeypatch, choose_discriminator_as_generator)
    dock.edit_options()
    assert "discriminator must end in one unit" in seen["swapped"]  # the analysis's message, in the dialog
    # ... and in the window's analysis, pinned to the block at fault (the one now named the discriminator)
    names = {node.id: node.name for node in window.project.document.nodes.values()}

    def pinned():
        return [names.get(d.node) for d in window.analysis.diagnostics if d.code == "recipe"]

    qtbot.waitUntil(lambda: window.analysis is not None and set(pinned()) == {"generator"}, timeout=30_000)
    answer_options(monkeypatch, lambda dialog: dialog.recipe.recipe.setCurrentIndex(RECIPES.index("supervised"))
                   or True)
    dock.edit_options()
    assert "recipe" not in window.project.training  # back to the default, in the project too
    qtbot.waitUntil(lambda: not pinned(), timeout=30_000)
    window.undo.undo()
    window.undo.undo()
    assert window.project.training["recipe"] == "gan"
    assert window.project.training["gan"] == {**shipped, "label_smoothing": 0.2, "latent_dim": 16}
    window.undo.undo()
    assert window.project.training["gan"] == shipped and window.undo.isClean()
    (tmp_path / "elsewhere").mkdir()
    assert window.save_as(tmp_path / "elsewhere" / "mine.kdn")
    assert (tmp_path / "elsewhere" / "digits_judge.keras").is_file()  # the judge goes where the project goes


@pytest.mark.slow  # two epochs, then a generate process that imports TensorFlow: about a minute
def test_a_gan_trains_with_its_sample_grid_live_and_generates_from_results(qtbot, window, tmp_path):  # noqa: F811
    dock = open_copy(qtbot, window, tmp_path, sample="gan_digits", epochs=2, batch_size=64)
    assert "fits the network" in dock.data.fit.text()
    dock.train_button.click()
    monitor = dock.monitor
    qtbot.waitUntil(lambda: not monitor.samples.image.isNull(), timeout=120_000)  # the first epoch's grid
    assert monitor.samples.isVisible() and "epoch 1" in monitor.samples.caption.text()
    with qtbot.waitSignal(dock.controller.ended, timeout=120_000) as ended:
        pass
    assert ended.args[0]["event"] == "finished", ended.args[0]
    assert "epoch 2" in monitor.samples.caption.text()
    assert monitor.samples.image.width() > 200 and monitor.samples.picture.pixmap().width() >= 160
    for name in ("d_loss", "g_loss"):  # both losses on the loss plot, each batch's and smoothed
        assert monitor.curves[("loss", name)].series.size > 0
        assert np.isfinite(monitor.curves[("loss", name)].series.y).all()
    assert not any(where == "metric" for where, _ in monitor.curves)

    results = dock.results
    summary = results.summary.text()  # the shipped judge scored the samples
    assert "Samples, as the judge sees them</b>: sample quality" in summary and "Test" not in summary, summary
    page = results.generative
    qtbot.waitUntil(lambda: not page.loading, timeout=30_000)
    assert results.pages.currentWidget() is page and results.pages.isTabVisible(results.pages.indexOf(page))
    assert not page.final.image.isNull() and not page.interpolation.image.isNull()
    assert page.interpolation.image.height() < page.interpolation.image.width()  # four rows of eight steps
    assert not page.label.isEnabled()  # this GAN takes no class
    page.count.setValue(5)
    page.seed.setValue(3)
    process = page.generate()
    assert process is not None and not page.generate_button.isEnabled()  # started, not waited for
    qtbot.waitUntil(lambda: process.state() == QProcess.ProcessState.NotRunning and page.process is None,
                    timeout=120_000)
    assert page.status.text() == "", page.status.text()
    assert "5 samples, seed 3" in page.generated.caption.text()
    assert (page.generated.image.width(), page.generated.image.height()) == (5 * 9 + 1, 10)  # 8×8 digits, 1 px gaps
    pixels = np.asarray(page.generated.image.constBits()).reshape(10, -1)[:, :46]
    assert pixels[1:9, 1:9].std() > 0  # a drawn digit, not an empty square

    results.reset()  # another project: nothing of the run stays
    assert not results.pages.isTabVisible(results.pages.indexOf(page)) and page.final.image.isNull()


def test_the_monitor_puts_every_loss_on_the_loss_plot_and_shows_the_latest_grid(qtbot, tmp_path):
    from PIL import Image

    from designer.app.monitor import TrainingMonitor

    monitor = TrainingMonitor()
    qtbot.addWidget(monitor)
    monitor.show()
    monitor.reset(running=True, epochs=2)
    assert monitor.samples.isHidden()  # a supervised run never shows an empty picture
    grid = (np.random.default_rng(0).random((148, 292)) * 255).astype("uint8")  # as a run writes: 8×8 digits, ×4
    Image.fromarray(grid).save(tmp_path / "epoch_001.png")
    monitor.add_events([
        {"event": "batch", "epoch": 1, "step": 1, "steps": 2, "d_loss": 1.3, "g_loss": 0.7},
        {"event": "epoch", "epoch": 1, "loss": 9.0, "val_loss": 8.0, "val_kl_loss": 2.0, "accuracy": 0.5},
        {"event": "samples", "epoch": 1, "file": "samples/epoch_001.png",
         "png": (tmp_path / "epoch_001.png").read_bytes()},
        {"event": "samples", "epoch": 2, "file": "samples/epoch_002.png", "png": b"not a picture"},
    ])
    assert {name for where, name in monitor.curves if where == "loss"} >= {"d_loss", "g_loss", "val_loss",
                                                                            "val_kl_loss"}
    assert not monitor.samples.isHidden() and "epoch 1" in monitor.samples.caption.text()  # the broken one skipped
    assert (monitor.samples.image.width(), monitor.samples.image.height()) == (292, 148)
    assert "none, this recipe logs its losses" in monitor.plots["metric"].titleLabel.text
    monitor.reset(running=False)
    assert monitor.samples.isHidden() and monitor.samples.image.isNull()
    assert monitor.plots["metric"].titleLabel.text == "Metrics"
