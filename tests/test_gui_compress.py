"""Results → Compress in the window: a real run compressed by a real `netdesigner compress` process,
its variant read back from the run store into the table and the accuracy-vs-size plot."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog
from test_gui_training import open_copy, window  # noqa: F401 (the window fixture)


def test_a_run_is_compressed_from_its_results_and_its_variant_listed_and_plotted(qtbot, window, tmp_path,  # noqa: F811
                                                                                monkeypatch):
    dock = open_copy(qtbot, window, tmp_path, epochs=20, batch_size=16)
    page = dock.compress
    assert not page.compress_button.isEnabled()  # no run yet
    dock.train_button.click()
    with qtbot.waitSignal(dock.controller.ended, timeout=120_000) as ended:
        pass
    assert ended.args[0]["event"] == "finished", ended.args[0]
    dock.results.compress_button.click()
    assert dock.currentWidget() is page and page.run_id == ended.args[0]["run_id"] and page.table.rowCount() == 0
    page.method.setCurrentText("dynamic")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "small"), ""))
    page.compress_dialog()
    process = page.process
    assert "--tracking-uri" in process.arguments() and str(tmp_path / "small.tflite") in process.arguments()
    assert page.progress.isVisibleTo(page) and not page.compress_button.isEnabled()
    qtbot.waitUntil(lambda: page.process is None, timeout=180_000)
    assert "dynamic: written to" in page.report.toPlainText(), page.report.toPlainText()
    assert (tmp_path / "small.tflite").is_file() and page.compress_button.isEnabled()
    [variant] = page.variants
    size = (tmp_path / "small.tflite").stat().st_size
    assert variant["metrics"]["size_bytes"] == size and variant["status"] == "finished"
    assert [page.table.item(0, j).text().split()[0] for j in (0, 2)] == ["dynamic", "accuracy"]
    assert page.table.item(0, 4).text() == "within tolerance"
    [spot] = page.plot.variants.points()
    assert spot.pos().x() == size and spot.pos().y() == pytest.approx(variant["metrics"]["test_accuracy"])
    [baseline] = page.plot.baselines.points()
    assert baseline.pos().x() == variant["metrics"]["baseline_bytes"] and baseline.symbol() == "star"
    assert [label.text for _, label in page.plot.legend.items] == ["dynamic", "float .tflite"]
    dock.runs.refresh()  # the variant is a run in the store, listed on its parent's page, not as a training run
    qtbot.waitUntil(lambda: not dock.runs.loading, timeout=30_000)
    assert [run["run_id"] for run in dock.runs.runs] == [page.run_id]
