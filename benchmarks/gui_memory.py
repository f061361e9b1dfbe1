"""Designer window memory and close time, measured in one run of the real window.

The window runs in a child process, as a user has it: open a sample project, train it once from the
Training dock, run a two-trial sweep from the Experiment Manager, then close the window. The child
reports its own resident memory (the GUI process only; training runs in worker processes) after each
step and the time its close handlers took; this side times close → process gone, the way the app ends
(``designer.app.run.leave``). The last line is JSON.

    python benchmarks/gui_memory.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    """This process's resident memory now (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(folder: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from designer.app.background import Background
    from designer.app.main_window import MainWindow
    from designer.app.run import application, leave, wait_until
    from designer.experiments.definition import Experiment

    def say(**figures: float) -> None:
        print(json.dumps(figures), flush=True)

    app = application()
    background = Background()
    window = MainWindow(background, ask=lambda title, text: False)
    window.show()
    window.open_path(folder / "tabular_mlp.kdn")
    wait_until(lambda: background.idle and window.analysis is not None)
    dock = window.training
    wait_until(lambda: dock.data.dataset is not None)
    say(opened_mb=rss_mb())
    window.project.training = {**window.project.training, "epochs": 2}
    dock.train()
    wait_until(lambda: not dock.controller.running, timeout=600)
    wait_until(lambda: dock.runs.table.rowCount() == 1, timeout=60)
    say(trained_mb=rss_mb())
    manager = window.show_experiments()
    manager.add_experiment(Experiment(name="bench", params={"hidden.units": "8,16"}, strategy="grid", workers=2))
    manager.run(Experiment(name="bench", params={"hidden.units": "8,16"}, strategy="grid", workers=2))
    wait_until(lambda: not manager.controller.running, timeout=600)
    say(swept_mb=rss_mb())
    window.undo.setClean()
    started = time.perf_counter()
    window.close()
    background.stop()
    say(close_handlers_s=time.perf_counter() - started)
    app.processEvents()
    leave(0)  # as ``netdesigner gui`` ends once its window has closed


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        project = json.loads((ROOT / "sample_projects" / "tabular_mlp.kdn").read_text())
        project["training"]["epochs"] = 1
        (folder / "tabular_mlp.kdn").write_text(json.dumps(project))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen",
               "QT_LOGGING_RULES": "qt.qpa.*=false", "TF_CPP_MIN_LOG_LEVEL": "3"}
        process = subprocess.Popen([sys.executable, __file__, "--child", str(folder)], stdout=subprocess.PIPE,
                                   text=True, env=env, cwd=folder)
        figures: dict[str, float] = {}
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("{"):
                figures.update(json.loads(line))
                if "close_handlers_s" in figures:
                    closing = time.perf_counter()
        process.wait()
        figures["close_to_exit_s"] = time.perf_counter() - closing
    print(f"{'GUI process':<34}{'RSS MB':>8}")
    for key, label in (("opened_mb", "after opening a project"), ("trained_mb", "after a training run"),
                       ("swept_mb", "after a two-trial sweep")):
        print(f"{label:<34}{figures[key]:>8.0f}")
    print(f"close handlers {figures['close_handlers_s']:.2f} s; "
          f"close → process gone {figures['close_to_exit_s']:.2f} s")
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(Path(sys.argv[2]))
    else:
        main()
