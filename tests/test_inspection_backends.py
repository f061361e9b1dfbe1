"""The explanation methods on Keras's other backends: the sanity checks of ``test_inspection`` rerun under
JAX in a process of their own (a process has one backend), and a missing backend's package named."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SAMPLES


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_gradient_methods_pass_their_sanity_checks_on_jax():
    """Grad-CAM, guided Grad-CAM and integrated gradients take JAX's gradients; activations its outputs."""
    chosen = "gradcam or integrated or activations_equal or backend_asked_for"
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q", "-k", chosen,
                             "tests/test_inspection.py"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "KERAS_BACKEND": "jax"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "8 passed" in result.stdout, result.stdout[-2000:]


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed here")
def test_a_missing_backend_is_named_before_keras_trips_over_it(tmp_path):
    result = subprocess.run([sys.executable, "-m", "designer", "explain", str(SAMPLES / "classic_cnn.kdn"),
                             "--method", "gradcam", "--samples", "0", "-o", str(tmp_path / "maps")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "KERAS_BACKEND": "torch"})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "the torch backend is not installed here: pip install torch" in result.stderr
    assert "KERAS_BACKEND=tensorflow" in result.stderr
