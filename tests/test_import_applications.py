"""Every keras.applications architecture survives import → save → load → build (weights copied,
predictions equal), and its generated code rebuilds the same layer configs."""

from __future__ import annotations

import keras
import pytest

from designer.keras_bridge.importer import application, application_names
from test_import import assert_codegen_rebuilds, assert_round_trip


@pytest.mark.slow
@pytest.mark.parametrize("name", application_names())
def test_application_round_trip_and_codegen(name, tmp_path, analyzer):
    keras.backend.clear_session()
    doc, rebuilt = assert_round_trip(application(name), tmp_path, analyzer)
    assert_codegen_rebuilds(doc, rebuilt)
