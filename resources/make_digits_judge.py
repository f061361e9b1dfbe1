"""Write ``sample_projects/digits_judge.keras``: a small CNN that classifies the built-in 8×8 digits, the judge
the GAN and VAE samples name (``training.gan.judge``) so their generated digits are scored out of the box.
Trained on the first 1,500 digits; the rest (other writers) measure it. Deterministic up to TensorFlow's CPU
kernels.

    python resources/make_digits_judge.py
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from designer.data.builtin import digits

TARGET = Path(__file__).resolve().parents[1] / "sample_projects" / "digits_judge.keras"
TRAIN = 1500


def judge() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8, 8, 1), name="digit"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(10, activation="softmax", name="digit_class"),
    ], name="digits_judge")


def main() -> None:
    data = digits()
    model = judge()
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x[:TRAIN], data.y[:TRAIN], epochs=40, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(data.x[TRAIN:], data.y[TRAIN:], verbose=0)
    print(f"held-out accuracy {accuracy:.3f} on {len(data.x) - TRAIN} digits; {model.count_params():,} parameters")
    model.save(TARGET)
    print(f"wrote {TARGET.name}: {TARGET.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
