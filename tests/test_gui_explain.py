"""The Results' Explain page: a real tiny run, explained by a real worker process, shown as bars per
feature; cancelling stops the worker."""

from __future__ import annotations

import numpy as np
from test_gui_training import open_copy, window  # noqa: F401  (the fixture)

from designer.inspection.stream import parse_progress, parse_sample


def trained_dock(qtbot, win, tmp_path):
    dock = open_copy(qtbot, win, tmp_path, epochs=1, batch_size=16)
    dock.train_button.click()
    with qtbot.waitSignal(dock.controller.ended, timeout=120_000) as ended:
        pass
    assert ended.args[0]["event"] == "finished", ended.args[0]
    return dock


def test_explain_page_explains_chosen_test_samples_in_a_worker_process_and_cancels(qtbot, window, tmp_path):  # noqa: F811
    dock = trained_dock(qtbot, window, tmp_path)
    page = dock.results.explain
    splits = dock.data.splits()
    test = dock.data.dataset.split_indices(splits["validation_split"], splits["test_split"], splits["seed"])[2]
    offered = [page.samples.item(i).data(256) for i in range(page.samples.count())]
    assert offered == test[:len(offered)].tolist() and offered  # test samples only, by their index
    page.samples.clearSelection()
    for row in (0, 2):
        page.samples.item(row).setSelected(True)
    page.method.setCurrentText("Integrated gradients")
    assert not page.layer.isEnabled()  # a layer is Grad-CAM's choice only
    shown: list[int] = []
    page.progress.valueChanged.connect(shown.append)
    process = page.start()
    assert process is not None and page.cancel_button.isEnabled() and not page.explain_button.isEnabled()
    assert "--samples" in process.arguments() and f"{offered[0]},{offered[2]}" in process.arguments()
    qtbot.waitUntil(lambda: page.process is None, timeout=120_000)
    assert "2 sample(s) explained" in page.status.text(), page.status.text()
    assert page.progress.value() == 100 and any(0 < v < 100 for v in shown)  # the worker's progress lines
    bars = [item for plot in page.maps.ci.items if hasattr(plot, "items")
            for item in plot.items if type(item).__name__ == "BarGraphItem"]
    assert len(bars) == 2
    heights = bars[0].opts["height"]
    assert len(heights) == 13 and np.abs(heights).max() > 0  # wine: one bar per feature

    # Cancelling a long explanation (LIME) kills the worker and leaves the page ready for another.
    page.method.setCurrentText("LIME")
    process = page.start()
    page.cancel()
    qtbot.waitUntil(lambda: process.state() == process.ProcessState.NotRunning, timeout=10_000)
    assert page.status.text() == "Cancelled." and page.explain_button.isEnabled()
    assert not page.cancel_button.isEnabled() and page.records == []

def test_the_worker_lines_are_read_back():
    assert parse_progress('{"progress": 0.25}') == 0.25
    assert parse_progress("error: layer 'x' not found") is None
    record = {"sample": 3, "class": "1", "probability": 0.9, "map": "m.npy", "png": "m.png"}
    assert parse_sample('{"sample": 3, "class": "1", "probability": 0.9, "map": "m.npy", "png": "m.png"}') == record
    assert parse_sample('{"progress": 0.5}') is None and parse_sample("not json") is None
