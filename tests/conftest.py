"""Test setup: offscreen Qt, quiet TensorFlow, and small graph builders shared by tests."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path

import pytest

from designer.graph.document import NetworkDocument

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_projects"


def chain(doc: NetworkDocument, start: str, *layers: tuple[str, str, dict]) -> str:
    """Append layers one after another from node ``start``; return the last node's id."""
    prev = start
    for type_, name, params in layers:
        node = doc.add_node(type_, name, params)
        doc.connect(prev, node.id)
        prev = node.id
    return prev


@pytest.fixture(scope="session")
def catalog():
    from designer.layers.catalog import load_catalog

    return load_catalog(libraries=True)  # the palette's catalog: installed libraries included


@pytest.fixture
def analyzer(catalog):
    from designer.keras_bridge.analysis import Analyzer

    return Analyzer(catalog)


@pytest.fixture(scope="session")
def _trainers():
    holder: dict = {"handle": None}
    yield holder
    if holder["handle"] is not None:
        holder["handle"].close()


@pytest.fixture
def trainer(_trainers):
    """A reusable training worker, Keras imported once per test process, for tests that need a run
    to happen rather than a fresh process (a killed or busy one is replaced)."""
    from designer.training.worker import RunHandle

    handle = _trainers["handle"]
    if handle is None or not handle.idle:
        if handle is not None:
            handle.close()
        handle = _trainers["handle"] = RunHandle(reuse=True)
    return handle
