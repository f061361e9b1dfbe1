"""Render the README's picture of an experiment that compresses its trials: the wine sample swept over
``compress.method`` in a scratch folder, each trial trained and then compressed, and the Pareto view of
test accuracy (of the compressed variant) against its size on disk.

    python docs/compress_experiment_screenshot.py docs/images
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

from designer.app.experiment_manager import ExperimentManager
from designer.app.run import application, wait_until
from designer.experiments.definition import Experiment
from designer.graph.project import load_project

SAMPLE = Path(__file__).resolve().parents[1] / "sample_projects" / "tabular_mlp.kdn"
EXPERIMENT = Experiment(name="compressed", params={"compress.method": "dynamic,float16,int8,prune"},
                        strategy="grid", objective="compress_test_accuracy")


def main(out: Path) -> None:
    app = application()
    folder = Path(tempfile.mkdtemp(prefix="screens-"))
    shutil.copy(SAMPLE, folder / SAMPLE.name)
    project = load_project(folder / SAMPLE.name)
    project.experiments = {EXPERIMENT.name: EXPERIMENT.to_dict()}
    window = ExperimentManager(lambda: (project, folder), lambda e: None, lambda p: None, lambda: None)
    window.resize(1440, 960)
    window.show()
    window.add_experiment(EXPERIMENT)
    window.run(EXPERIMENT)
    assert wait_until(lambda: not window.controller.running, timeout=1800)
    window.show_tab("Objective vs size")
    app.processEvents()
    window.grab().save(str(out / "experiment_pareto_compressed.png"))
    window.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
