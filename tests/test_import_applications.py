"""Every keras.applications architecture survives import → save → load → build, weights copied."""

from __future__ import annotations

import keras
import pytest

from designer.keras_bridge.importer import application, application_names
from test_import import assert_round_trip


@pytest.mark.slow
@pytest.mark.parametrize("name", application_names())
def test_application_round_trip(name, tmp_path, analyzer):
    keras.backend.clear_session()
    assert_round_trip(application(name), tmp_path, analyzer)
