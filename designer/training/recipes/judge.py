"""A judge: a separately trained classifier that scores what a GAN or VAE generates, so sample quality can
be logged and swept for, not only looked at.

On ``judge_samples`` samples drawn with a fixed seed the judge's class probabilities give:

- ``judge_confidence``: the mean top-class probability (are the samples recognisable at all?);
- ``judge_class_entropy``: the entropy, in nats, of the predicted classes' shares (do they cover the classes?
  ln K when all K are equally present, 0 when one class takes all);
- ``judge_top_class_share``: the largest class's share (mode collapse shows here first);
- ``judge_agreement`` (conditional GAN only): the share judged to be the class asked for;
- ``sample_quality`` = confidence × entropy / ln K (× agreement for a conditional GAN): one score in [0, 1],
  high only when samples are both recognisable and varied (and of the asked class), the one to sweep for.

The judge is a ``.keras`` file loaded with ``safe_mode=True``; a wrong one is refused before training
(``JudgeError``) with what to fix. Logits are turned into probabilities with a softmax.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import keras
import numpy as np

SEED = 12345  # the samples judged: the same for every epoch and every trial, so scores compare
QUALITY = "sample_quality"


class JudgeError(ValueError):
    """A judge that cannot score this recipe's samples; the message names the option and the fix."""


def load_judge(given: str, folder: Path, image_shape: tuple[int | None, ...], where: str) -> keras.Model:
    """The classifier at ``given`` (relative to the project's ``folder``), checked against the images the
    recipe makes; ``JudgeError`` naming the problem and the fix otherwise."""
    path = Path(given).expanduser()
    path = path if path.is_absolute() else folder / path
    if not path.is_file():
        raise JudgeError(f"{where}: no judge file {str(path)!r}: save a classifier of the generated images with "
                         "model.save('judge.keras') and name it here (relative to the project), or leave it out")
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many kinds for a file that is not a model
        raise JudgeError(f"{where}: {path.name} cannot be loaded as a Keras model ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:160] if str(exc) else 'no detail'}); give a .keras file "
                         "saved by model.save") from None
    if len(model.inputs) != 1 or len(model.outputs) != 1 or len(model.outputs[0].shape) != 2 \
            or (model.outputs[0].shape[-1] or 0) < 2:
        raise JudgeError(f"{where}: {path.name} is not a classifier: it should take one image and give one "
                         f"vector of class scores (two classes or more); it gives "
                         f"{', '.join(str(tuple(o.shape[1:])) for o in model.outputs)}")
    takes = tuple(model.inputs[0].shape[1:])
    if len(takes) != len(image_shape) or any(t is not None and s is not None and t != s
                                             for t, s in zip(takes, image_shape, strict=False)):
        raise JudgeError(f"{where}: {path.name} takes images of {takes} but the network makes {image_shape}: "
                         "use a judge trained on images of the generated size")
    return model


def probabilities(judge: keras.Model, samples: np.ndarray) -> np.ndarray:
    """The judge's class probabilities for ``samples`` (a softmax over its scores unless they already are
    probabilities)."""
    scores = np.asarray(judge.predict(samples, batch_size=256, verbose=0), dtype="float64")
    if scores.min() >= 0 and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3):
        return scores
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def scores(probs: np.ndarray, asked: np.ndarray | None = None) -> dict[str, float]:
    """The judge's figures for samples with class probabilities ``probs`` (N, K); ``asked``: the class
    each sample was generated as (a conditional GAN), in the judge's class numbering."""
    classes = probs.shape[1]
    predicted = probs.argmax(axis=1)
    shares = np.bincount(predicted, minlength=classes) / len(predicted)
    present = shares[shares > 0]
    confidence = float(probs.max(axis=1).mean())
    entropy = float(-(present * np.log(present)).sum())
    out = {"judge_confidence": confidence, "judge_class_entropy": entropy,
           "judge_top_class_share": float(shares.max())}
    quality = confidence * entropy / math.log(classes)
    if asked is not None:
        out["judge_agreement"] = float((predicted == asked).mean())
        quality *= out["judge_agreement"]
    out[QUALITY] = quality
    return out


def judge_classes(class_names: list[str]) -> np.ndarray:
    """The judge's number for each of the dataset's classes: the class name when it is a number (the digits
    0–9 of a subset such as ``["3", "7"]``), its position otherwise."""
    if all(name.isdigit() for name in class_names):
        return np.array([int(name) for name in class_names])
    return np.arange(len(class_names))


def judge_network(judge: keras.Model, network: keras.Model, training: dict[str, Any], n: int,
                  class_names: list[str]) -> dict[str, float]:
    """Generate ``n`` samples from the trained ``network`` (for a conditional GAN the classes in turn) and
    score them with ``judge``."""
    from designer.training.recipes import conditional, generate, recipe_options

    recipe = training["recipe"]
    if conditional(network, recipe, recipe_options(recipe, training.get(recipe))):
        labels = np.arange(n) % len(class_names)
        samples = generate(network, training, n, seed=SEED, label=labels)
        return scores(probabilities(judge, samples), judge_classes(class_names)[labels])
    return scores(probabilities(judge, generate(network, training, n, seed=SEED)))


class JudgeEachEpoch(keras.callbacks.Callback):
    """Adds the judge's figures to each epoch's logs; placed before the callback that reports the epoch."""

    def __init__(self, judge: keras.Model, training: dict[str, Any], n: int, class_names: list[str]) -> None:
        super().__init__()
        self.judge, self.training, self.n, self.class_names = judge, training, n, class_names

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs.update(judge_network(self.judge, self.model.network, self.training, self.n, self.class_names))
