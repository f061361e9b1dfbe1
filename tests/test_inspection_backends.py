"""The explanation methods on Keras's other backends: the sanity checks of ``test_inspection`` rerun under
JAX and PyTorch (each where installed) in a process of their own (a process has one backend), and a missing
backend's package named."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SAMPLES


def _installed(backend: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(importlib.util.find_spec(backend) is None, reason=f"{backend} is not installed")


@pytest.mark.slow
@pytest.mark.parametrize("backend", [pytest.param("jax", marks=_installed("jax")),
                                     pytest.param("torch", marks=_installed("torch"))])
def test_gradient_methods_pass_their_sanity_checks_on_other_backends(backend):
    """Grad-CAM, guided Grad-CAM and integrated gradients take the backend's gradients; activations its outputs;
    ``netdesigner explain`` runs on it."""
    chosen = "gradcam or integrated or activations_equal or backend_asked_for or explain_writes or explain_reads"
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q", "-k", chosen,
                             "tests/test_inspection.py"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                            env={**os.environ, "KERAS_BACKEND": backend})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "10 passed" in result.stdout, result.stdout[-2000:]


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed here")
def test_a_missing_backend_is_named_before_keras_trips_over_it(tmp_path):
    result = subprocess.run([sys.executable, "-m", "designer", "explain", str(SAMPLES / "classic_cnn.kdn"),
                             "--method", "gradcam", "--samples", "0", "-o", str(tmp_path / "maps")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "KERAS_BACKEND": "torch"})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "the torch backend is not installed here: pip install torch" in result.stderr
    assert "KERAS_BACKEND=tensorflow" in result.stderr
