"""The netdesigner command: outputs, JSON shape and the exit-code contract."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, SAMPLES
from designer.cli import main
from designer.graph.document import NetworkDocument
from designer.graph.project import Project, save_project

CNN = str(SAMPLES / "classic_cnn.kdn")


def test_analyze_prints_a_summary(capsys):
    assert main(["analyze", CNN]) == 0
    out = capsys.readouterr().out
    assert "Total params: 93,322" in out
    assert "conv1" in out and "(None, 26, 26, 32)" in out and "No problems found." in out


def test_analyze_json(capsys):
    assert main(["analyze", CNN, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_params"] == 93_322 and data["trainable_params"] == 93_322
    assert data["non_trainable_params"] == 0 and data["diagnostics"] == []
    first = data["nodes"][1]
    assert {"id", "name", "type", "output_shape", "params"} <= first.keys()
    assert first["output_shape"] == [None, 26, 26, 32] and first["params"] == 320


def test_graph_errors_exit_1(tmp_path, capsys):
    doc = NetworkDocument("broken")
    x = doc.add_node("InputLayer", "x", {"shape": [4]})
    d = doc.add_node("Conv2D", "conv", {"filters": 2, "kernel_size": 3})
    doc.connect(x.id, d.id)
    save_project(Project(doc), tmp_path / "b.kdn")
    assert main(["analyze", str(tmp_path / "b.kdn"), "--json"]) == 1
    diags = json.loads(capsys.readouterr().out)["diagnostics"]
    assert diags[0]["node"] == d.id and diags[0]["severity"] == "error"


def test_unusable_input_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.kdn"
    bad.write_text('{"format_version": 1, "graph": {"nodes": [}', encoding="utf-8")
    for argv in (["analyze", str(bad)], ["analyze", str(tmp_path / "missing.kdn")], ["analyze"],
                 ["layers", "--bogus"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("netdesigner: ") and err.count("\n") == 1, err


def test_layers_listing(capsys):
    assert main(["layers", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert len(entries) > 100 and entries[0]["type"] == "InputLayer"
    assert main(["layers"]) == 0
    assert "Convolution" in capsys.readouterr().out


def test_default_command_renders_the_window(tmp_path, qapp):
    shot = tmp_path / "window.png"
    assert main([CNN, "--screenshot", str(shot)]) == 0
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert image.width() >= 1200 and image.height() >= 800
    assert main(["gui", str(tmp_path / "missing.kdn"), "--screenshot", str(shot)]) == 2
    start = tmp_path / "start.png"
    assert main(["gui", "--screenshot", str(start)]) == 0  # no project: the start page
    assert QImage(str(start)).width() >= 1200


def test_real_process_exit_codes_and_quiet_stderr(tmp_path):
    """Through a real process: python -m designer, with TensorFlow's start-up noise kept away."""
    ok = subprocess.run([sys.executable, "-m", "designer", "analyze", CNN], cwd=ROOT, capture_output=True,
                        text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""
    bad = subprocess.run([sys.executable, "-m", "designer", "analyze", str(tmp_path / "x.kdn")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().endswith("no such file") and bad.stderr.count("\n") == 1
