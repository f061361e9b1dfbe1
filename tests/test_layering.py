"""The layering rules of the architecture guide, enforced."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

QT = ("PySide6", "pyqtgraph", "shiboken6")
HEAVY = ("keras", "tensorflow", "jax", "torch", *QT)


def imported_roots(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def offenders(folder, forbidden, skip=None):
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        if skip and skip in path.relative_to(ROOT).parts:
            continue
        found += [f"{path.relative_to(ROOT)} imports {name}" for name in imported_roots(path) if name in forbidden]
    return found


def test_only_app_imports_qt():
    assert offenders("designer", QT, skip="app") == []


def test_document_layer_imports_neither_keras_nor_qt():
    assert offenders("designer/graph", HEAVY) == []


def test_import_contracts_hold():
    """import-linter checks the same contracts through the real import graph."""
    beside = Path(sys.executable).with_name("lint-imports")  # the venv's, even when it is not activated
    exe = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert exe, "import-linter is part of the dev extra"
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
