"""Render the README's Experiment Manager pictures from the real window: runs the wine sample's
``tune`` experiment (a Bayesian sweep in two workers) in a scratch folder, then shows its results
table with curves overlaid, the parallel coordinates and the Pareto plot.

    python docs/experiment_screenshots.py docs/images
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

from PySide6.QtCore import QItemSelectionModel, Qt

from designer.app.experiment_manager import ExperimentManager
from designer.app.run import application, wait_until
from designer.graph.project import load_project

SAMPLE = Path(__file__).resolve().parents[1] / "sample_projects" / "tabular_mlp.kdn"


def main(out: Path) -> None:
    app = application()
    folder = Path(tempfile.mkdtemp(prefix="screens-"))
    shutil.copy(SAMPLE, folder / SAMPLE.name)
    project = load_project(folder / SAMPLE.name)
    window = ExperimentManager(lambda: (project, folder), lambda e: None, lambda p: None, lambda: None)
    window.resize(1440, 960)
    window.show()
    window.run()
    assert wait_until(lambda: not window.controller.running, timeout=1200)
    table = window.table
    table.sortByColumn(table.trials.columns.index(window.experiment.objective), Qt.SortOrder.DescendingOrder)
    flags = QItemSelectionModel.SelectionFlag
    for row in range(3):  # the three best, overlaid
        table.selectionModel().select(table.proxy.index(row, 0), flags.Select | flags.Rows)
    for title, name in (("Curves", "experiment_results.png"), ("Parallel coordinates", "experiment_parallel.png"),
                        ("Objective vs size", "experiment_pareto.png")):
        window.show_tab(title)
        app.processEvents()
        window.grab().save(str(out / name))
    window.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
