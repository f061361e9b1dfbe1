"""The Results' Samples page for a GAN or VAE run: its final sample grid and latent interpolation (read
from the run store in a thread), and Generate: new samples with a chosen seed, count and class, made by
``netdesigner generate`` in its own process from the run's model, as the other results pages do their
TensorFlow work. The GUI starts, reads and cancels the process; it never waits on it."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QProcess, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from designer.app.background import ThreadResult
from designer.app.generative.sample_grid import SampleGrid, array_image
from designer.app.scratch import scratch_folder
from designer.app.subprocesses import designer_process

EACH_CLASS = -1  # the class box's "every class in turn"


class SamplesPage(QWidget):
    available = Signal(bool)  # the shown run is a GAN or VAE with sample grids (the page is worth a tab)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.final = SampleGrid("Final samples")
        self.interpolation = SampleGrid("Latent interpolation")
        self.generated = SampleGrid("")
        self.count = QSpinBox(minimum=1, maximum=256, value=32, prefix="count ")
        self.count.setToolTip("How many samples to generate")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, prefix="seed ")
        self.seed.setToolTip("The noise's seed: the same seed gives the same samples")
        self.label = QSpinBox(minimum=EACH_CLASS, maximum=999, value=EACH_CLASS, prefix="class ")
        self.label.setSpecialValueText("every class in turn")
        self.label.setToolTip("A conditional GAN's class to draw (its generator takes a class input)")
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Run the trained generator (or decoder) on new noise, in its own process")
        self.generate_button.clicked.connect(self.generate)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        controls = QHBoxLayout()
        for widget in (self.count, self.seed, self.label, self.generate_button):
            controls.addWidget(widget)
        controls.addWidget(self.status, 1)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(controls)
        column.addWidget(self.generated, 1)
        split = QSplitter()
        for widget in (self.final, self.interpolation, right):
            split.addWidget(widget)
        split.setSizes([300, 560, 440])  # the interpolation is twice as wide as tall
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)
        self.fetched = ThreadResult()  # the folder with the grids, None, or why they could not be read
        self.fetched.done.connect(self._show)
        self.run: tuple[str, str] | None = None  # tracking URI, run id
        self.folder = Path(".")  # the project's folder: the generate process runs there
        self.generation = 0
        self.loading = False  # the shown run's grids are being read from the store
        self.process: QProcess | None = None
        # The run's grids, model and generated arrays: removed with the next run, or at exit at the latest.
        self.scratch: tempfile.TemporaryDirectory[str] | None = None
        self.set_run(None)

    def set_run(self, run: tuple[str, str] | None) -> None:
        """The run whose samples are shown (tracking URI, run id); None: no run. Its grids are read from the
        store in a thread; ``available`` tells whether it has any."""
        self.cancel()
        if self.scratch is not None:
            self.scratch.cleanup()
        self.scratch = None
        self.run = run
        self.generation += 1
        for view in (self.final, self.interpolation, self.generated):
            view.clear()
        self.generate_button.setEnabled(False)
        self.status.setText("")
        if run is None:
            self.available.emit(False)
            return
        self.scratch = scratch_folder("netdesigner-samples-")
        self.loading = True
        threading.Thread(target=_fetch, args=(self.fetched, self.generation, *run, Path(self.scratch.name)),
                         daemon=True, name="sample-grids").start()

    def _show(self, generation: int, result: object) -> None:
        if generation != self.generation:
            return  # another run is shown by now
        self.loading = False
        if not isinstance(result, Path):
            self.available.emit(isinstance(result, str))
            self.status.setText(result if isinstance(result, str) else "")
            return
        self.final.show_png((result / "samples" / "final.png").read_bytes(),
                            "Final samples: the noise each epoch's grid was drawn from")
        self.interpolation.show_png((result / "samples" / "interpolation.png").read_bytes(),
                                    "Latent interpolation: each row walks in eight steps between two random codes")
        conditional = _conditional(result / "project.kdn")
        self.label.setEnabled(conditional)
        self.label.setValue(EACH_CLASS)
        self.generate_button.setEnabled(True)
        self.generated.clear("Choose a count and a seed" + (" and a class" if conditional else "")
                             + ", then Generate.")
        self.available.emit(True)

    def generate(self) -> QProcess | None:
        """Fetch the run's model here (once), where the store is open, then generate in its own process."""
        from designer.training.records import download_trained_model

        if self.run is None or self.scratch is None:
            return None
        files = Path(self.scratch.name)
        try:
            if not (files / "run").is_dir():
                download_trained_model(*self.run, files / "run")
        except Exception as exc:  # a store gone or a run without a model: say so here
            self.status.setText(f"Cannot generate: {exc}")
            return None
        out = files / "generated.npz"
        out.unlink(missing_ok=True)
        arguments = ["generate", str(files / "run"), "-n", str(self.count.value()), "--seed", str(self.seed.value()),
                     "-o", str(out)]
        if self.label.isEnabled() and self.label.value() != EACH_CLASS:
            arguments += ["--class", str(self.label.value())]
        self.cancel()
        process = designer_process(self, arguments, self._generated)
        process.setWorkingDirectory(str(self.folder))
        self.generate_button.setEnabled(False)
        self.status.setText(f"Generating {self.count.value()} samples (loading TensorFlow first) …")
        process.start()
        self.process = process
        return process

    def cancel(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            process.kill()

    def _generated(self, process: QProcess) -> None:
        if process is not self.process:
            return  # cancelled, or another run shown meanwhile
        self.process = None
        self.generate_button.setEnabled(self.run is not None)
        out = Path(self.scratch.name) / "generated.npz" if self.scratch is not None else None
        if process.exitCode() != 0 or out is None or not out.is_file():
            err = bytes(process.readAllStandardError().data()).decode(errors="replace").strip()
            self.status.setText(f"Generating failed: {err.splitlines()[-1] if err else 'the process stopped'}")
            return
        from designer.training.recipes.common import grid

        with np.load(out) as arrays:
            x, y = arrays["x"], arrays.get("y")
        columns = min(8, len(x))
        self.generated.show_image(array_image(grid(x, columns)), f"{len(x)} samples, seed {self.seed.value()}"
                                  + (f", classes {_classes(y)}" if y is not None else ""))
        self.status.setText("")


def _fetch(fetched: ThreadResult, generation: int, tracking_uri: str, run_id: str, folder: Path) -> None:
    try:
        from designer.training.records import download_sample_grids

        result: object = download_sample_grids(tracking_uri, run_id, folder / "grids")
    except Exception as exc:  # a store gone: said on the page, not raised
        result = f"The run's samples could not be read: {exc}"
    fetched.done.emit(generation, result)


def _conditional(project_file: Path) -> bool:
    """The run's GAN takes a class (its generator has a second input)."""
    from designer.graph.project import load_project
    from designer.training.recipes.options import recipe_options

    project = load_project(project_file)
    recipe = project.training.get("recipe", "supervised")
    if recipe != "gan":
        return False
    name = recipe_options(recipe, project.training.get(recipe))["generator"]
    block = next((node.block for node in project.document.nodes.values() if node.name == name and node.block), None)
    return block is not None and len(block.input_nodes()) == 2


def _classes(y: Any) -> str:
    values = sorted({int(v) for v in np.ravel(y)})
    return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"
