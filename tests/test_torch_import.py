"""PyTorch files (.pt2, TorchScript .pt) import through torch.onnx.export in a separate process, and only with
consent: loading them runs code pickled in the file. Without PyTorch the import names the extra to install.

PyTorch is an optional extra (too large for CI); the round trips run where it is installed."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
from PySide6 import QtWidgets
from test_gui import window  # noqa: F401  (the window fixture)

from designer.app import main_window
from designer.app.main_window import unsaved_folder
from designer.app.pytorch_import import PyTorchImportDialog
from designer.cli import main
from designer.keras_bridge.onnx_import import torch_source


@pytest.fixture
def pt2(tmp_path):
    path = tmp_path / "net.pt2"
    path.write_bytes(b"PK\x03\x04 not read without consent")
    return path


def without(monkeypatch, *names: str) -> None:
    """As if ``names`` were not installed, for the import's own check."""
    real = torch_source.importlib.util.find_spec
    monkeypatch.setattr(torch_source.importlib.util, "find_spec",
                        lambda name, *a: None if name in names else real(name, *a))


def no_process(*args, **kwargs):
    raise AssertionError("a PyTorch file was loaded without consent")


def test_without_consent_a_pytorch_file_is_refused_with_exit_2_and_never_loaded(pt2, tmp_path, capsys,
                                                                                monkeypatch):
    monkeypatch.setattr(subprocess, "run", no_process)
    assert main(["import", str(pt2), "-o", str(tmp_path / "p.kdn")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "runs Python code" in err and "--trust-code" in err
    assert not (tmp_path / "p.kdn").exists()


@pytest.mark.parametrize("absent", ["torch", "onnxscript"])  # torch.onnx.export needs both
def test_without_pytorch_the_import_says_which_extra_to_install(absent, pt2, tmp_path, capsys, monkeypatch):
    without(monkeypatch, absent)
    assert main(["import", str(pt2), "-o", str(tmp_path / "p.kdn"), "--trust-code"]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"needs (torch and )?{absent}", err) and "keras-network-designer[torch]" in err
    assert len(err.strip().splitlines()) == 1


def test_a_bad_input_shape_is_unusable_input(pt2, tmp_path, capsys):
    assert main(["import", str(pt2), "-o", str(tmp_path / "p.kdn"), "--trust-code", "--input-shape", "1,x"]) == 2
    assert "--input-shape" in capsys.readouterr().err


def answering(trust: bool, shape: str | None = None, seen: list[PyTorchImportDialog] | None = None):
    """A stand-in for the user at the real dialog: ticks (or not) the consent, types the shape, presses Import
    if it is enabled, else Cancel."""
    def exec_(dialog: PyTorchImportDialog) -> int:
        if seen is not None:
            seen.append(dialog)
        dialog.trust.setChecked(trust)
        if shape is not None:
            dialog.shape.setText(shape)
        (dialog.import_button if dialog.import_button.isEnabled() else
         dialog.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Cancel)).click()
        return dialog.result()
    return exec_


def test_the_dialog_imports_only_with_consent_and_a_shape_that_reads(qtbot, tmp_path):
    dialog = PyTorchImportDialog(tmp_path / "net.pt")
    qtbot.addWidget(dialog)
    assert dialog.shape.isVisibleTo(dialog) and not dialog.import_button.isEnabled()
    dialog.shape.setText("1, 3, 8, 8")
    assert not dialog.import_button.isEnabled()  # no consent yet
    dialog.trust.setChecked(True)
    assert dialog.import_button.isEnabled() and dialog.input_shape() == [1, 3, 8, 8] and dialog.problem.text() == ""
    for bad in ("1,x", "0,3,8,8", "1,3,,8"):
        dialog.shape.setText(bad)
        assert not dialog.import_button.isEnabled() and dialog.input_shape() is None
        assert dialog.problem.text() == f"{bad!r}: give positive sizes separated by commas, e.g. 1,3,224,224"
    dialog.shape.setText("")
    assert not dialog.import_button.isEnabled() and dialog.problem.text() == ""  # the placeholder shows an example
    program = PyTorchImportDialog(tmp_path / "net.pt2", "9")  # a .pt2 program records its shapes: none asked
    qtbot.addWidget(program)
    assert not program.shape.isVisibleTo(program) and not program.import_button.isEnabled()
    program.trust.setChecked(True)
    assert program.import_button.isEnabled() and program.input_shape() is None


def test_the_window_asks_before_loading_a_pytorch_file(qtbot, window, pt2, monkeypatch):  # noqa: F811
    warnings: list[str] = []
    window.warn = lambda title, text: warnings.append(text)
    assert main_window.TORCH_SUFFIXES == torch_source.SUFFIXES
    monkeypatch.setattr(PyTorchImportDialog, "exec", answering(trust=False))
    assert not window.open_path(pt2)
    assert not window.background.importing and window.project is None
    without(monkeypatch, "torch")
    monkeypatch.setattr(PyTorchImportDialog, "exec", answering(trust=True))
    assert window.open_path(pt2)
    qtbot.waitUntil(lambda: bool(warnings), timeout=60_000)
    assert "keras-network-designer[torch]" in warnings[0]


def test_a_torchscript_file_is_not_imported_without_a_shape_and_the_last_shape_is_offered(qtbot, window,  # noqa: F811
                                                                                          tmp_path, monkeypatch):
    script = tmp_path / "net.pt"
    script.write_bytes(b"PK\x03\x04 not read without consent")
    warnings: list[str] = []
    window.warn = lambda title, text: warnings.append(text)
    window.settings.remove("torch_input_shape")
    monkeypatch.setattr(PyTorchImportDialog, "exec", answering(trust=True, shape="1,x"))
    assert not window.open_path(script) and not window.background.importing
    without(monkeypatch, "torch", "onnxscript")  # stops short of loading it
    seen: list[PyTorchImportDialog] = []
    monkeypatch.setattr(PyTorchImportDialog, "exec", answering(trust=True, shape="2,3,8,8", seen=seen))
    assert window.open_path(script)
    qtbot.waitUntil(lambda: bool(warnings), timeout=60_000)
    assert "needs torch and onnxscript" in warnings[0]
    monkeypatch.setattr(PyTorchImportDialog, "exec", answering(trust=False, seen=seen))
    assert not window.open_path(script)
    assert seen[-1].shape.text() == "2,3,8,8"


def small_cnn(kind: str, folder):
    """A PyTorch CNN saved as ``kind`` (pt2 or torchscript), its file, a batch and its output."""
    torch = pytest.importorskip("torch", reason="torch is not installed (an optional extra)")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 5)).eval()
    x = torch.randn(2, 3, 8, 8)
    if kind == "pt2":
        path = folder / "net.pt2"
        torch.export.save(torch.export.export(net, (x,)), str(path))
    else:
        path = folder / "net.pt"
        torch.jit.trace(net, x).save(str(path))
    return path, x.numpy(), net(x).detach().numpy()


def assert_computes(project, folder, x, expected) -> None:
    from designer.keras_bridge.saving import model_with_weights

    model, fresh = model_with_weights(project, folder)
    got = np.asarray(model(x.transpose(0, 2, 3, 1), training=False))
    assert fresh == [] and np.max(np.abs(got - expected)) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pt2", "torchscript"])
def test_a_pytorch_cnn_imports_as_layers_matching_torch(kind, tmp_path, capsys):
    path, x, expected = small_cnn(kind, tmp_path)
    shape = ["--input-shape", "2,3,8,8"] if kind == "torchscript" else []
    out = tmp_path / "p.kdn"
    assert main(["import", str(path), "-o", str(out), "--trust-code", "--json", *shape]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["report"]
    assert report["parity"]["ok"] and report["mapping"]["Conv"] == {"Conv2D": 1}
    assert any("torch.onnx.export" in note for note in report["notes"])
    from designer.graph.project import load_project

    assert_computes(load_project(out), tmp_path, x, expected)


@pytest.mark.slow
def test_the_window_imports_a_torchscript_cnn_traced_at_the_shape_given(qtbot, window, tmp_path,  # noqa: F811
                                                                       monkeypatch):
    path, x, expected = small_cnn("torchscript", tmp_path)
    reports: list = []
    window.report = reports.append
    monkeypatch.setattr(PyTorchImportDialog, "exec", answering(trust=True, shape="2,3,8,8"))
    assert window.open_path(path)
    qtbot.waitUntil(lambda: window.project is not None, timeout=300_000)
    assert reports and reports[0].parity.ok
    assert_computes(window.project, unsaved_folder(), x, expected)
