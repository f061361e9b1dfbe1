"""Every keras.applications architecture survives import → save → load → build (weights copied,
predictions equal), and the generated code of each family rebuilds the same layer configs.

The architectures are built at their smallest input size (the same layers, connections and configs;
only the Input's shape differs), so forty round trips, some of 100M-parameter models, fit in CI;
test_cli_import.py imports MobileNetV2 at its full 224×224. The generated code is rebuilt for the
smallest member of each family: its siblings differ in widths and depths, not in the code written
for them, and a third build of EfficientNetV2L or NASNetLarge costs CI most of a minute."""

from __future__ import annotations

import re

import keras
import pytest

from designer.keras_bridge.importer import application_names
from test_import import assert_codegen_rebuilds, assert_round_trip

CODEGEN_CHECKED = {"ConvNeXtTiny", "DenseNet121", "EfficientNetB0", "EfficientNetV2B0", "InceptionResNetV2",
                   "InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Small", "NASNetMobile", "ResNet50",
                   "ResNet50V2", "VGG16", "Xception"}


def family(name: str) -> str:
    """ResNet101V2 → ResNetV2, EfficientNetB7 → EfficientNet: the name without its size."""
    return re.sub(r"(\d+|B\d|[SML]|Tiny|Small|Base|XLarge|Large|Mobile)(?=(V2)?$)", "", name, count=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", application_names())
def test_application_round_trip_and_codegen(name, tmp_path, analyzer):
    keras.backend.clear_session()
    smallest = 75 if name.startswith(("Inception", "Xception")) else 32
    model = getattr(keras.applications, name)(weights=None, input_shape=(smallest, smallest, 3))
    doc, rebuilt = assert_round_trip(model, tmp_path, analyzer)
    if name in CODEGEN_CHECKED or family(name) not in {family(n) for n in CODEGEN_CHECKED}:  # a new family: check it
        assert_codegen_rebuilds(doc, rebuilt)
