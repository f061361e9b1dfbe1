"""Edit → Prune filters and units: the saved project shrunk by ``netdesigner compress --method
prune-structured`` in its own process (ranking filters and fine-tuning never run on the GUI thread),
then the smaller network and its weights applied to the window's document as one undoable edit."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess
from PySide6.QtWidgets import QInputDialog

from designer.app.commands import ReplaceNetwork
from designer.app.compression.page import summary
from designer.app.subprocesses import designer_process
from designer.compress.methods import DEFAULT_SPARSITY
from designer.graph.project import load_project
from designer.graph.serialize import document_to_dict

TITLE = "Prune filters and units"


class Shrinker(QObject):
    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.process: QProcess | None = None
        self.scratch: Path | None = None

    def problem(self) -> str:
        """Why the open project cannot be pruned now, or ``""``."""
        window = self.window
        if self.process is not None:
            return "Pruning is already under way."
        if window.path is None or not window.undo.isClean():
            return "Save the project first: pruning ranks and fine-tunes the network as saved, with its weights."
        if not window.project.weights:
            return ("The project has no trained weights to rank its filters by. Import a trained model, or prune a "
                    "trained run on Results → Compress with prune-structured (it writes a smaller project).")
        return ""

    def request(self, sparsity: float | None = None) -> QProcess | None:
        """Start pruning ``sparsity`` of each layer's filters or units (asked for when not given)."""
        if problem := self.problem():
            self.window.warn(TITLE, problem)
            return None
        if sparsity is None:
            sparsity, ok = QInputDialog.getDouble(self.window, TITLE, "Share of each layer's filters or units to "
                                                  "remove (the weakest by L1 norm):", DEFAULT_SPARSITY, 0.05, 0.95, 2)
            if not ok:
                return None
        self.scratch = Path(tempfile.mkdtemp(prefix="netdesigner-prune-"))
        arguments = ["compress", str(self.window.path), "--method", "prune-structured", "--sparsity", f"{sparsity:g}",
                     "-o", str(self.scratch / "pruned.kdn"), "--json"]
        self.process = designer_process(self, arguments, self._finished)
        self.process.start()
        self.window.statusBar().showMessage(f"Pruning {sparsity:.0%} of each layer's filters and units, then "
                                            "fine-tuning, in a separate process…")
        return self.process

    def _finished(self, process: QProcess) -> None:
        self.process = None
        scratch, self.scratch = self.scratch, None
        assert scratch is not None
        try:
            out = bytes(process.readAllStandardOutput().data()).decode(errors="replace").strip()
            err = bytes(process.readAllStandardError().data()).decode(errors="replace").strip()
            try:
                report = json.loads(out.splitlines()[-1])
            except (json.JSONDecodeError, IndexError):
                self.window.statusBar().clearMessage()
                self.window.warn(TITLE, err.splitlines()[-1] if err else "The pruning process ended without a report.")
                return
            if not report["ok"]:
                self.window.statusBar().clearMessage()
                self.window.warn(TITLE, summary(report) + "\nThe network is unchanged: try a smaller share.")
                return
            self._apply(Path(report["path"]), report)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _apply(self, pruned: Path, report: dict[str, Any]) -> None:
        """Copy the smaller network's weights beside the project under the project's own name (the hash in it
        is of the content), and swap network and weights in one edit."""
        window, smaller = self.window, load_project(pruned)
        weights = re.sub(r"^.*?(\.[0-9a-f]{16}\.weights\.npz)$", window.path.stem + r"\1", smaller.weights)
        shutil.copyfile(pruned.with_name(smaller.weights), window.path.with_name(weights))
        shrunk = [n for n in report["notes"] if "→" in n]
        window.undo.push(ReplaceNetwork(window.state, window.project, document_to_dict(smaller.document), weights,
                                        window.network_replaced, f"Prune filters and units ({len(shrunk)} layers)"))
        window.canvas.fit()
        score = "accuracy" if "accuracy" in report["metrics"] else "mae"
        window.statusBar().showMessage(
            f"Pruned {', '.join(shrunk)}: {report['size_ratio']:.2f}× the size, test {score} "
            f"{report['metrics'][score]:.4f} (was {report['baseline_metrics'][score]:.4f}); Undo brings it back")
