"""Every keras.applications architecture survives import → save → load → build (weights copied,
predictions equal), and its generated code rebuilds the same layer configs.

The architectures are built at their smallest input size (the same layers, connections and configs;
only the Input's shape differs), so forty round trips, some of 100M-parameter models, fit in CI;
test_cli_import.py imports MobileNetV2 at its full 224×224."""

from __future__ import annotations

import keras
import pytest

from designer.keras_bridge.importer import application_names
from test_import import assert_codegen_rebuilds, assert_round_trip


@pytest.mark.slow
@pytest.mark.parametrize("name", application_names())
def test_application_round_trip_and_codegen(name, tmp_path, analyzer):
    keras.backend.clear_session()
    smallest = 75 if name.startswith(("Inception", "Xception")) else 32
    model = getattr(keras.applications, name)(weights=None, input_shape=(smallest, smallest, 3))
    doc, rebuilt = assert_round_trip(model, tmp_path, analyzer)
    assert_codegen_rebuilds(doc, rebuilt)
