"""Training from the window: a real worker process, real run records, real plots."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog

from conftest import SAMPLES
from designer.app.background import Background
from designer.app.main_window import MainWindow
from designer.training.recipes.options import judge_files


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    QStandardPaths.setTestModeEnabled(True)
    monkeypatch.chdir(tmp_path)
    background = Background(debounce_ms=10)
    # a message box would wait offscreen for an answer nobody gives: the test fails with its text instead
    win = MainWindow(background, ask=lambda title, text: False,
                     warn=lambda title, text: pytest.fail(f"the window warned: {title}: {text}"))
    qtbot.addWidget(win, before_close_func=lambda w: w.undo.setClean())
    win.show()
    qtbot.waitUntil(lambda: background.catalog is not None, timeout=60_000)
    yield win
    win.undo.setClean()
    if win.editor_built:
        win.training.controller.shutdown()
    background.stop()


def open_copy(qtbot, win, tmp_path, sample="tabular_mlp", **training):
    project = json.loads((SAMPLES / f"{sample}.kdn").read_text())
    project["training"] = {**project.get("training", {}), **training}
    for judge in judge_files(project["training"]):  # a judge named beside the project travels with it
        shutil.copy(SAMPLES / judge, tmp_path / judge)
    path = tmp_path / f"{sample}.kdn"
    path.write_text(json.dumps(project))
    assert win.open_path(path)
    qtbot.waitUntil(lambda: win.background.idle and win.analysis is not None, timeout=30_000)
    dock = win.training
    qtbot.waitUntil(lambda: dock.data.dataset is not None, timeout=30_000)
    return dock


def curve(dock, plot, name):
    return dock.monitor.curves[(plot, name)]


def test_train_to_completion_fills_plots_results_and_runs(qtbot, window, tmp_path):
    dock = open_copy(qtbot, window, tmp_path, epochs=4, batch_size=8)
    assert "fits the network" in dock.data.fit.text()
    assert dock.data.counts.getPlotItem().listDataItems()  # class distribution drawn
    dock.train_button.click()
    with qtbot.waitSignal(dock.controller.ended, timeout=120_000) as ended:
        pass
    event = ended.args[0]
    assert event["event"] == "finished", event
    loss = curve(dock, "loss", "loss")
    assert loss.series.size > 0 and np.isfinite(loss.series.y).all()
    assert loss.item.getData()[0] is not None and len(loss.item.getData()[0]) == loss.series.size
    val = curve(dock, "loss", "val_loss")
    assert list(val.series.x) == [1.0, 2.0, 3.0, 4.0]  # one validation point per epoch
    assert curve(dock, "lr", "learning rate").series.size == loss.series.size
    assert dock.monitor.progress.value() == 100 and dock.train_button.isEnabled()
    assert dock.currentWidget() is dock.results
    assert dock.results.per_class.rowCount() == 3  # wine: three cultivars
    assert dock.results.matrix.image.image.shape == (3, 3)
    assert "accuracy" in dock.results.summary.text()
    qtbot.waitUntil(lambda: dock.runs.table.rowCount() == 1, timeout=30_000)
    assert (tmp_path / "runs.db").is_file()
    qtbot.waitUntil(lambda: not dock.results.generative.loading, timeout=30_000)
    assert not dock.results.pages.isTabVisible(dock.results.pages.indexOf(dock.results.generative))  # no GAN, no VAE


def test_two_runs_overlay_and_export_from_results(qtbot, window, tmp_path, monkeypatch):
    dock = open_copy(qtbot, window, tmp_path, epochs=1, batch_size=16)
    for _ in range(2):
        dock.train_button.click()
        with qtbot.waitSignal(dock.controller.ended, timeout=120_000):
            pass
    qtbot.waitUntil(lambda: dock.runs.table.rowCount() == 2, timeout=30_000)
    dock.runs.tick([run["run_id"] for run in dock.runs.runs])
    labels = {item.name() for item, _ in dock.monitor.overlays}
    assert len(dock.monitor.overlays) >= 4 and any("val_loss" in label for label in labels)
    # .keras: the panel's export path is the same for every format, and each converter is verified in
    # test_export.py; ONNX here cost CI ~15 s of tf2onnx. The name typed in the dialog has another
    # format's suffix: the export gets the right one.
    results = dock.results
    results.format.setCurrentText("keras")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "trained.onnx"), ""))
    results.export_dialog()
    process = results.process
    assert results.progress.isVisibleTo(results) and "Exporting to" in results.report.toPlainText()
    # The run's files were fetched here: the export process neither imports MLflow nor opens the store.
    assert "--tracking-uri" not in process.arguments() and str(tmp_path / "trained.keras") in process.arguments()
    qtbot.waitUntil(lambda: process.state() == process.ProcessState.NotRunning, timeout=120_000)
    qtbot.waitUntil(lambda: "verified" in results.report.toPlainText() or "FAILED" in
                    results.report.toPlainText(), timeout=5_000)
    assert "Keras export verified" in results.report.toPlainText()
    assert not results.progress.isVisibleTo(results) and results.export_button.isEnabled()
    assert (tmp_path / "trained.keras").is_file() and not (tmp_path / "trained.onnx").exists()


def test_another_project_shows_nothing_of_the_last_ones_runs(qtbot, window, tmp_path):
    """Opening another project used to keep the last one's curves, overlays, results and an Export
    that would have exported the other project's run."""
    dock = open_copy(qtbot, window, tmp_path, epochs=1, batch_size=16)
    dock.train_button.click()
    with qtbot.waitSignal(dock.controller.ended, timeout=120_000):
        pass
    qtbot.waitUntil(lambda: dock.runs.table.rowCount() == 1, timeout=30_000)
    dock.runs.tick([dock.runs.runs[0]["run_id"]])
    assert dock.monitor.curves and dock.monitor.overlays and dock.results.export_button.isEnabled()
    assert dock.results.matrix.isVisible() and "Finished" in dock.monitor.status.text()
    other = tmp_path / "other"
    other.mkdir()
    with qtbot.waitSignal(window.project_changed):
        open_copy(qtbot, window, other)
    assert not dock.monitor.curves and not dock.monitor.overlays and "No run yet" in dock.monitor.status.text()
    assert not any(p.listDataItems() for p in dock.monitor.plots.values())
    results = dock.results
    assert not results.export_button.isEnabled() and not results.run_id and "accuracy" not in results.summary.text()
    assert not results.matrix.isVisible() and not results.per_class.isVisible()
    qtbot.waitUntil(lambda: not dock.runs.loading, timeout=30_000)
    assert dock.runs.table.rowCount() == 0
    with qtbot.waitSignal(window.project_changed):  # File > New goes the same way
        window.new_project()


def test_stop_mid_run_keeps_the_window_usable(qtbot, window, tmp_path):
    dock = open_copy(qtbot, window, tmp_path, epochs=500, batch_size=4)
    dock.train_button.click()
    qtbot.waitUntil(lambda: ("loss", "loss") in dock.monitor.curves, timeout=120_000)
    dock.monitor.stop_button.click()
    with qtbot.waitSignal(dock.controller.ended, timeout=60_000) as ended:
        pass
    assert ended.args[0]["cause"] == "stopped"
    assert dock.monitor.status.text().startswith("Stopped: stopped by request") and dock.train_button.isEnabled()
    qtbot.waitUntil(lambda: not dock.runs.loading and len(dock.runs.runs) == 1, timeout=30_000)
    assert dock.runs.runs[0]["status"] == "stopped"


def test_a_nan_run_reports_failure_without_crashing(qtbot, window, tmp_path):
    dock = open_copy(qtbot, window, tmp_path, epochs=3, learning_rate=1e30, optimizer="sgd")
    dock.train_button.click()
    with qtbot.waitSignal(dock.controller.ended, timeout=120_000) as ended:
        pass
    assert ended.args[0]["cause"] == "nan"
    assert "NaN" in dock.results.summary.text() and "NaN" in window.statusBar().currentMessage()
    assert not dock.results.export_button.isEnabled()
    window.add_layer("Dense")  # still editing


def test_a_full_disk_under_the_runs_files_is_said_in_the_status_bar(qtbot, window, tmp_path, monkeypatch):
    from test_cli_failures import full_disk_under

    dock = open_copy(qtbot, window, tmp_path, epochs=1)
    full_disk_under(tmp_path / "mlruns", monkeypatch)
    dock.train_button.click()
    with qtbot.waitSignal(dock.controller.ended, timeout=120_000) as ended:
        pass
    assert ended.args[0]["cause"] == "disk", ended.args[0]
    assert f"disk full: free space in {tmp_path / 'mlruns'}" in window.statusBar().currentMessage()


def test_a_damaged_run_store_is_said_as_such_not_as_a_crash(qtbot, window, tmp_path):
    dock = open_copy(qtbot, window, tmp_path, epochs=1)
    (tmp_path / "runs.db").write_bytes(b"not a database" * 100)
    dock.train_button.click()
    with qtbot.waitSignal(dock.controller.ended, timeout=120_000) as ended:
        pass
    assert ended.args[0]["cause"] == "store", ended.args[0]
    message = window.statusBar().currentMessage()
    assert "runs.db" in message and "StoreError" not in message and dock.train_button.isEnabled()


def test_a_data_mismatch_blocks_training_with_the_fix(qtbot, window, tmp_path):
    dock = open_copy(qtbot, window, tmp_path)
    dock.data.source.setCurrentText("builtin:iris")
    qtbot.waitUntil(lambda: dock.data.dataset is not None and dock.data.dataset.name == "iris", timeout=30_000)
    assert "set the Input layer's shape to [4]" in dock.data.fit.text()
    assert window.project.data["source"] == "builtin:iris"
    dock.train_button.click()
    assert not dock.controller.running and "does not fit" in window.statusBar().currentMessage()
    window.undo.undo()
    assert window.project.data["source"] == "builtin:wine"
    assert dock.data.source.currentText() == "builtin:wine"


def test_training_options_dialog_round_trips_and_refuses(qtbot, window, tmp_path):
    from designer.app.training_options import TrainingOptionsDialog

    dock = open_copy(qtbot, window, tmp_path)
    dialog = TrainingOptionsDialog(window.project.training)
    qtbot.addWidget(dialog)
    dialog.editors["epochs"].setValue(7)
    dialog.editors["schedule"].setCurrentText("cosine")
    assert dialog.values()["epochs"] == 7 and dialog.values()["schedule"] == "cosine"
    dialog.editors["class_weight"].setText("class_0: 2, class_2: 0.5")
    assert dialog.values()["class_weight"] == {"class_0": 2.0, "class_2": 0.5}
    dialog.editors["class_weight"].setText("class_0 = 2")
    dialog.accept()
    assert "class_weight" in dialog.error.text() and dialog.result() == 0
    dialog.editors["class_weight"].setText("balanced")
    dialog.editors["optimizer_args"].setText("beta_1: 0.8, amsgrad: true")
    assert dialog.values()["optimizer_args"] == {"beta_1": 0.8, "amsgrad": True}
    dialog.editors["optimizer_args"].setText("colour: 3")
    dialog.accept()
    assert "optimizer_args" in dialog.error.text() and "adam refuses them" in dialog.error.text()
    dialog.editors["optimizer_args"].setText("beta_1: 0.8")
    dialog.editors["validation_split"].setValue(0.6)
    dialog.editors["test_split"].setValue(0.5)
    dialog.accept()
    assert "test_split" in dialog.error.text() and dialog.result() == 0
    dock.on_setup(dock.data.setup(), {"epochs": 7})
    assert window.project.training["epochs"] == 7 and not window.undo.isClean()


def test_redraws_keep_none_alive(qtbot):
    """A Qt binding that loses a reference to None on each redraw aborts the app mid-run (PySide6 6.12.0)."""
    import sys

    from designer.app.monitor import TrainingMonitor

    monitor = TrainingMonitor()
    qtbot.addWidget(monitor)
    curve = monitor.curve("loss", "loss", "#000")
    before = sys.getrefcount(None)
    for i in range(200):
        curve.add(float(i), 1.0 / (i + 1))
        curve.redraw()
    assert sys.getrefcount(None) >= before - 50


def test_image_classifier_results_show_samples_with_grad_cam_and_reopen(qtbot, window, tmp_path):
    dock = open_copy(qtbot, window, tmp_path, sample="classic_cnn", epochs=2)
    assert dock.data.samples.isVisible() and dock.data.samples_grid.count() == 16  # labelled image grid
    dock.train_button.click()
    with qtbot.waitSignal(dock.controller.ended, timeout=180_000) as ended:
        pass
    samples = ended.args[0]["evaluation"]["samples"]
    assert len(samples) == 12 and all("heatmap" in s for s in samples)
    heat = np.asarray(samples[0]["heatmap"])
    assert heat.shape == (28, 28) and heat.max() == pytest.approx(1.0) and heat.min() >= 0
    assert dock.results.samples.isVisible() and not dock.results.pairs.isVisible()
    dock.results.summary.setText("")
    qtbot.waitUntil(lambda: dock.runs.table.rowCount() == 1, timeout=30_000)
    dock.runs._open(0)  # double-click the run: its results come back from the run store
    assert "accuracy" in dock.results.summary.text() and dock.results.matrix.image.image.shape == (10, 10)


def test_regression_results_plot_predicted_against_true(qtbot, window, tmp_path):
    dock = open_copy(qtbot, window, tmp_path, sample="denoising_autoencoder", epochs=2)
    dock.train_button.click()
    with qtbot.waitSignal(dock.controller.ended, timeout=180_000) as ended:
        pass
    regression = ended.args[0]["evaluation"]["regression"]
    assert len(regression["true"]) == len(regression["predicted"]) > 100
    assert dock.results.pairs.isVisible() and not dock.results.matrix.isVisible()
    assert "R²" in dock.results.pairs.getPlotItem().titleLabel.text


def test_augmentation_choices_are_layers_in_the_graph(qtbot, window, tmp_path):
    dock = open_copy(qtbot, window, tmp_path, sample="classic_cnn")
    dock.data.augmentations["rotation"].setChecked(True)
    dock.data.augmentations["zoom"].setChecked(True)
    names = [window.state.root.node(n).name for n in window.state.root.topological_order()]
    assert names[:4] == ["image", "augment_rotation", "augment_zoom", "conv1"]
    qtbot.waitUntil(lambda: window.background.idle and window.analysis is not None, timeout=30_000)
    assert window.analysis.ok  # still a valid network
    window.undo.undo()
    assert not dock.data.augmentations["zoom"].isChecked() and dock.data.augmentations["rotation"].isChecked()
    dock.data.augmentations["rotation"].setChecked(False)
    assert "augment_rotation" not in {n.name for n in window.state.root.nodes.values()}


def test_a_damaged_run_store_is_reported_in_the_runs_list(qtbot, tmp_path):
    from designer.app.training_dock import RunsList

    store = tmp_path / "runs.db"
    store.write_bytes(b"not a database at all" * 100)
    runs = RunsList()
    qtbot.addWidget(runs)
    runs.set_store(f"sqlite:///{store}", "project")
    qtbot.waitUntil(lambda: not runs.loading, timeout=60_000)
    assert "could not be read" in runs.note.text() and runs.table.rowCount() == 0


def test_smoothing_is_a_debiased_moving_average():
    """TensorBoard's smoothing: no point, the first included, weighs more than its share."""
    from designer.app.monitor import DebiasedEma

    ema = DebiasedEma(0.5)
    assert [ema.add(x) for x in (1.0, 2.0, 3.0)] == pytest.approx([1.0, (0.25 + 1) / 0.75, (0.625 + 1.5) / 0.875])


class Clock:
    """The monitor's clock, moved by the test: only the events' timing is faked."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def batch(epoch: int, step: int, loss: float) -> dict:
    return {"event": "batch", "epoch": epoch, "step": step, "steps": 40, "loss": loss, "learning_rate": 0.001,
            "samples_per_s": 3000.0}


def test_monitor_says_what_it_waits_for_and_estimates_only_from_steady_batches(qtbot, monkeypatch):
    from designer.app import monitor as monitor_module

    clock = Clock()
    monkeypatch.setattr(monitor_module.time, "perf_counter", clock)
    monitor = monitor_module.TrainingMonitor()
    qtbot.addWidget(monitor)
    monitor.reset(running=True, epochs=10)
    clock.now += 12
    monitor.redraw()
    assert monitor.progress.format() == "starting TensorFlow… 12 s"
    monitor.add_events([{"event": "started", "backend": "tensorflow", "device": "cpu"}])
    clock.now += 6.5
    monitor.redraw()
    assert monitor.progress.format() == "loading the data and building the model… 18 s"
    assert "ETA" not in monitor.timing.text()
    monitor.add_events([batch(1, 1, 2.0)])  # the first batch: nothing yet to estimate a rate from
    monitor.redraw()
    assert monitor.progress.format() == "epoch 1/10 · %p%" and "ETA" not in monitor.timing.text()
    for step in range(2, 5):  # steady batches, but for less than a second
        clock.now += 0.1
        monitor.add_events([batch(1, step, 2.0)])
    monitor.redraw()
    assert "ETA" not in monitor.timing.text()
    for step in range(5, 21):  # 20 batches (half an epoch) in 2 s since the first: 10 epochs take 40 s
        clock.now += 0.1
        monitor.add_events([batch(1, step, 2.0)])
    monitor.redraw()
    assert monitor.timing.text() == "20 s elapsed · ETA 38 s"  # 9.5 epochs left, not the start-up's 380 s


def test_monitor_plots_each_batch_and_its_smoothed_curve_with_keys_off_the_plots(qtbot):
    from designer.app.monitor import DebiasedEma, TrainingMonitor

    monitor = TrainingMonitor()
    qtbot.addWidget(monitor)
    monitor.reset(running=True, epochs=2)
    losses = [2.0, 1.0, 1.5, 0.5, 0.8]
    monitor.add_events([batch(1, i + 1, loss) for i, loss in enumerate(losses)])
    raw, smooth = monitor.curves[("loss", "loss")], monitor.curves[("loss", "loss (smoothed)")]
    ema = DebiasedEma()
    assert list(raw.series.y) == losses and list(smooth.series.y) == pytest.approx([ema.add(x) for x in losses])
    monitor.redraw(everything=True)
    for plot in monitor.plots.values():  # nothing drawn over the curves
        assert plot.legend is None
    assert "loss (smoothed)" in monitor.keys["loss"].text and "learning rate" not in monitor.keys["loss"].text


def test_the_window_starts_a_warm_worker_once_open_and_the_training_tab_takes_it(qtbot, tmp_path, monkeypatch):
    QStandardPaths.setTestModeEnabled(True)
    monkeypatch.chdir(tmp_path)
    background = Background(debounce_ms=10)
    win = MainWindow(background, ask=lambda title, text: False, warm_up=True)
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: background.catalog is not None, timeout=60_000)
        qtbot.waitUntil(lambda: win.warm is not None, timeout=5_000)  # before any Train or Training tab
        warm = win.warm
        assert warm.process.is_alive() and warm.idle
        open_copy(qtbot, win, tmp_path)
        assert win.training.controller.warm is warm and win.warm is None
    finally:
        if win.editor_built:
            win.training.controller.shutdown()
        if win.warm is not None:
            win.warm.kill()
        background.stop()


def test_another_project_during_a_run_asks_and_the_run_stays_out_of_its_views(qtbot, window, tmp_path):
    """The run is stopped, and what it still sends after the switch (its last batches, its stopped event)
    shows nowhere: before, those events drew the old run's curves over the new project's empty monitor."""
    dock = open_copy(qtbot, window, tmp_path, epochs=500, batch_size=4)
    dock.train_button.click()
    qtbot.waitUntil(lambda: ("loss", "loss") in dock.monitor.curves, timeout=120_000)
    asked = []
    window.ask = lambda title, text: asked.append(title) or False
    window.new_project()
    assert asked == ["Training in progress"] and dock.controller.running  # refused: nothing changes
    assert dock.monitor.curves
    window.ask = lambda title, text: True
    with qtbot.waitSignal(window.project_changed):
        window.new_project()
    qtbot.waitUntil(lambda: not dock.controller.running, timeout=60_000)
    qtbot.wait(200)
    assert not dock.monitor.curves and not dock.results.run_id and dock.train_button.isEnabled()
    assert "Stopped" not in dock.monitor.status.text()
