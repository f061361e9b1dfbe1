"""PyTorch files (.pt2, TorchScript .pt) import through torch.onnx.export in a separate process, and only with
consent: loading them runs code pickled in the file. Without PyTorch the import names the extra to install.

PyTorch is an optional extra (too large for CI); the round trips run where it is installed."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
from test_gui import window  # noqa: F401  (the window fixture)

from designer.app import main_window
from designer.cli import main
from designer.keras_bridge.onnx_import import torch_source


@pytest.fixture
def pt2(tmp_path):
    path = tmp_path / "net.pt2"
    path.write_bytes(b"PK\x03\x04 not read without consent")
    return path


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
    real = torch_source.importlib.util.find_spec
    monkeypatch.setattr(torch_source.importlib.util, "find_spec",
                        lambda name, *a: None if name == absent else real(name, *a))
    assert main(["import", str(pt2), "-o", str(tmp_path / "p.kdn"), "--trust-code"]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"needs (torch and )?{absent}", err) and "keras-network-designer[torch]" in err
    assert len(err.strip().splitlines()) == 1


def test_a_bad_input_shape_is_unusable_input(pt2, tmp_path, capsys):
    assert main(["import", str(pt2), "-o", str(tmp_path / "p.kdn"), "--trust-code", "--input-shape", "1,x"]) == 2
    assert "--input-shape" in capsys.readouterr().err


def test_the_window_asks_before_loading_a_pytorch_file(qtbot, window, pt2, monkeypatch):  # noqa: F811
    warnings: list[str] = []
    window.warn = lambda title, text: warnings.append(text)
    assert main_window.TORCH_SUFFIXES == torch_source.SUFFIXES
    window.answers.append(False)  # "Run code from this file?" No
    assert not window.open_path(pt2)
    assert not window.background.importing and window.project is None
    real = torch_source.importlib.util.find_spec
    monkeypatch.setattr(torch_source.importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    window.answers.append(True)
    assert window.open_path(pt2)
    qtbot.waitUntil(lambda: bool(warnings), timeout=60_000)
    assert "keras-network-designer[torch]" in warnings[0]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pt2", "torchscript"])
def test_a_pytorch_cnn_imports_as_layers_matching_torch(kind, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 5)).eval()
    x = torch.randn(2, 3, 8, 8)
    if kind == "pt2":
        path = tmp_path / "net.pt2"
        torch.export.save(torch.export.export(net, (x,)), str(path))
        shape = []
    else:
        path = tmp_path / "net.pt"
        torch.jit.trace(net, x).save(str(path))
        shape = ["--input-shape", "2,3,8,8"]
    out = tmp_path / "p.kdn"
    assert main(["import", str(path), "-o", str(out), "--trust-code", "--json", *shape]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["report"]
    assert report["parity"]["ok"] and report["mapping"]["Conv"] == {"Conv2D": 1}
    assert any("torch.onnx.export" in note for note in report["notes"])
    from designer.graph.project import load_project
    from designer.keras_bridge.saving import model_with_weights

    model, fresh = model_with_weights(load_project(out), tmp_path)
    expected = net(x).detach().numpy()
    got = np.asarray(model(x.numpy().transpose(0, 2, 3, 1), training=False))
    assert fresh == [] and np.max(np.abs(got - expected)) < 1e-4
