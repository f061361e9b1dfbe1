"""Write ``sample_projects/transfer_mobilenet.kdn`` and its weights: a keras.applications backbone
(MobileNetV3Small, 32×32×1) pretrained here on digits 0–4 — nothing is downloaded — then frozen under
a new head for digits 5–9. Deterministic up to TensorFlow's CPU kernels.

    python resources/make_transfer_sample.py
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from designer.data.sources import load_source
from designer.graph.layout import auto_layout
from designer.graph.project import Project, save_project
from designer.graph.transfer import attach, cut_at, find, set_trainable
from designer.keras_bridge.importer import import_model
from designer.keras_bridge.weights import collect_weights, save_weights_file

SAMPLES = Path(__file__).resolve().parents[1] / "sample_projects"
NAME = "transfer_mobilenet"


def pretrained() -> keras.Model:
    """The source task: MobileNetV3Small on digits 0–4 at 32×32."""
    keras.utils.set_random_seed(0)
    source = load_source("builtin:digits", target_size=32, classes=["0", "1", "2", "3", "4"])
    image = keras.Input((32, 32, 1), name="image")
    backbone = keras.applications.MobileNetV3Small(input_shape=(32, 32, 1), include_top=False, weights=None,
                                                   minimalistic=True, include_preprocessing=False, pooling="avg")
    for layer in backbone.layers:  # 0.999 needs thousands of steps to settle; this small set has hundreds
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    features = backbone(image)
    head = keras.layers.Dense(5, activation="softmax", name="digit")(keras.layers.Dropout(0.2, name="drop")(features))
    model = keras.Model(image, head, name=NAME)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(source.x, source.y, epochs=25, batch_size=32, validation_split=0.15, verbose=2)
    return model


def main() -> None:
    model = pretrained()
    doc = import_model(model)
    backbone = find(doc, "MobileNetV3Small")
    set_trainable(doc, [backbone.id], False)  # the backbone block, frozen
    cut_at(doc, backbone.id)  # the new head: features → 64 → the five new classes
    attach(doc, backbone.id, [("Dense", "hidden", {"units": 64, "activation": "relu"}),
                              ("Dropout", "head_drop", {"rate": 0.3}),
                              ("Dense", "digit", {"units": 5, "activation": "softmax"})])
    auto_layout(doc)
    weights = f"{NAME}.weights.npz"
    save_weights_file({k: v for k, v in collect_weights(model).items() if not k.startswith("digit|")},
                      SAMPLES / weights)  # the backbone's weights only: the new head starts fresh
    project = Project(doc, "Transfer learning: a MobileNetV3Small backbone (keras.applications, pretrained in this "
                      "repository on digits 0–4) frozen as one block, under a new head for digits 5–9.",
                      data={"source": "builtin:digits", "target_size": 32, "classes": ["5", "6", "7", "8", "9"]},
                      training={"epochs": 25, "batch_size": 32, "learning_rate": 0.003})
    project.weights = weights
    save_project(project, SAMPLES / f"{NAME}.kdn")


if __name__ == "__main__":
    main()
