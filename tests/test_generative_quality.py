"""The shipped GAN and VAE samples, trained as shipped, generate digits a separately trained classifier
recognises (mean top-class probability ≥ 0.7) and that cover the classes (entropy of the predicted classes
≥ 2.0 nats, no class above a quarter)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SAMPLES
from designer.cli import main


@pytest.fixture(scope="module")
def digit_classifier():
    """An MLP trained on the digits in seconds (about 92 % on held-out writers)."""
    import keras

    from designer.data.builtin import digits

    data = digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x[:1500], data.y[:1500], epochs=40, verbose=0)
    assert model.evaluate(data.x[1500:], data.y[1500:], verbose=0)[1] > 0.85
    return model


def quality(samples: np.ndarray, classifier) -> dict[str, float]:
    scores = classifier.predict(samples, verbose=0)
    shares = np.bincount(scores.argmax(axis=1), minlength=10) / len(scores)
    present = shares[shares > 0]
    return {"mean_top": float(scores.max(axis=1).mean()), "entropy": float(-(present * np.log(present)).sum()),
            "max_share": float(shares.max())}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gan_digits", "vae_digits"])
def test_a_shipped_generative_sample_makes_recognisable_and_varied_digits(name, digit_classifier, tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    assert main(["train", str(SAMPLES / f"{name}.kdn"), "--tracking-uri", store, "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_id"]
    out = tmp_path / "samples.npz"
    assert main(["generate", run_id, "-n", "1000", "--seed", "1", "-o", str(out), "--tracking-uri", store]) == 0
    with np.load(out) as saved:
        figures = quality(saved["x"], digit_classifier)
    print(name, json.dumps(figures))
    assert figures["mean_top"] >= 0.7 and figures["entropy"] >= 2.0 and figures["max_share"] <= 0.25, figures
