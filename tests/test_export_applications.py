"""keras.applications models exported to the formats that translate them, and verified: Rescaling and
Normalization constants (EfficientNet), hard-swish (MobileNetV3), exact gelu and LayerScale (ConvNeXt)
through ONNX, TFLite and the generated Python. (.keras and SavedModel store Keras's own graph; the
transfer_mobilenet sample checks them on an application in test_export.py.)"""

from __future__ import annotations

import keras
import pytest

from designer.export.exporter import export_model
from designer.export.formats import SUFFIX
from designer.keras_bridge.importer import import_model

APPLICATIONS = ["MobileNetV3Small", "EfficientNetB0", "ConvNeXtTiny"]
TRANSLATED = ["onnx", "tflite", "python"]


@pytest.fixture(scope="module", params=APPLICATIONS)
def application(request):
    keras.backend.clear_session()
    # 64×64: the same layers and constants as at 224×224, at a twelfth of the verification's arithmetic.
    model = getattr(keras.applications, request.param)(weights=None, input_shape=(64, 64, 3))
    return model, import_model(model)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", TRANSLATED)
def test_application_exports_verified(application, fmt, tmp_path):
    model, doc = application
    report = export_model(model, fmt, tmp_path / f"{model.name}{SUFFIX[fmt]}", doc)
    assert report.ok, report.text()
    assert report.artifact_inputs == report.model_inputs
