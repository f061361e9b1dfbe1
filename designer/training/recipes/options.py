"""A project's training recipe and its options, read strictly (no Keras here: projects validate fast).

``supervised`` is ``fit`` on the whole network; ``gan`` and ``vae`` train two blocks of one document
against each other (see ``designer.training.recipes``). The options name those blocks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from designer.graph.serialize import DocumentFormatError

RECIPES = ("supervised", "gan", "vae")
RECONSTRUCTIONS = ("binary_crossentropy", "squared_error")
# Shared by both recipes: the latent size (None: as the network is drawn) and the judge, a classifier (a
# .keras file, or run:RUN_ID) that scores generated samples after training (and each epoch if asked); see
# recipes.judge.
RUN_JUDGE = "run:"  # a judge named by a run of the store: training.gan.judge = "run:RUN_ID"
COMMON: dict[str, Any] = {"latent_dim": None, "judge": None, "judge_samples": 500, "judge_each_epoch": False}
DEFAULTS: dict[str, dict[str, Any]] = {
    "gan": {"generator": "generator", "discriminator": "discriminator", "label_smoothing": 0.1,
            "discriminator_learning_rate": None, **COMMON},
    "vae": {"encoder": "encoder", "decoder": "decoder", "beta": 1.0, "reconstruction": "binary_crossentropy",
            **COMMON},
}
# The blocks each recipe trains, in the order its networks are called: first the one that makes images.
ROLES = {"gan": ("generator", "discriminator"), "vae": ("decoder", "encoder")}


def recipe_options(recipe: str, given: dict[str, Any] | None, where: str = "training") -> dict[str, Any]:
    """The recipe's options with defaults filled in; ``DocumentFormatError`` names a wrong one and what it takes."""
    if recipe not in RECIPES:
        raise DocumentFormatError(f"{where}.recipe", f"{recipe!r} is not one of {', '.join(RECIPES)}")
    if recipe == "supervised":
        return {}
    defaults = DEFAULTS[recipe]
    options = {**defaults, **(given or {})}
    for key in options:
        if key not in defaults:
            raise DocumentFormatError(f"{where}.{recipe}.{key}", f"unknown {recipe} option (known: "
                                      f"{', '.join(defaults)})")
    for role in ROLES[recipe]:
        if not isinstance(options[role], str) or not options[role]:
            raise DocumentFormatError(f"{where}.{recipe}.{role}", f"{options[role]!r} is not the name of a block")
    if options[ROLES[recipe][0]] == options[ROLES[recipe][1]]:
        raise DocumentFormatError(f"{where}.{recipe}", f"the {' and the '.join(ROLES[recipe])} must be two "
                                  "different blocks")
    number, low, high = ("label_smoothing", 0, 0.5) if recipe == "gan" else ("beta", 0, float("inf"))
    value = options[number]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < high:
        raise DocumentFormatError(f"{where}.{recipe}.{number}", f"{value!r} is not a number in [{low}, {high})")
    rate = options.get("discriminator_learning_rate")  # None: the training's learning rate
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1):
        raise DocumentFormatError(f"{where}.gan.discriminator_learning_rate", f"{rate!r} is not a learning rate "
                                  "in (0, 1); leave it out to use the training's learning rate")
    if recipe == "vae" and options["reconstruction"] not in RECONSTRUCTIONS:
        raise DocumentFormatError(f"{where}.vae.reconstruction", f"{options['reconstruction']!r} is not one of "
                                  f"{', '.join(RECONSTRUCTIONS)}")
    _check_common(options, f"{where}.{recipe}")
    return options


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check_common(options: dict[str, Any], where: str) -> None:
    size = options["latent_dim"]
    if size is not None and not _whole(size, 1):
        raise DocumentFormatError(f"{where}.latent_dim", f"{size!r} is not a latent size (a whole number ≥ 1); "
                                  "leave it out to keep the size the network is drawn with")
    judge = options["judge"]
    if judge is not None and (not isinstance(judge, str) or not judge.strip()):
        raise DocumentFormatError(f"{where}.judge", f"{judge!r} is not a judge: name a .keras classifier file "
                                  "(relative to the project's folder) or a run of the store (run:RUN_ID), or "
                                  "leave it out")
    if not _whole(options["judge_samples"], 10):
        raise DocumentFormatError(f"{where}.judge_samples", f"{options['judge_samples']!r} is not a number of "
                                  "samples (a whole number ≥ 10)")
    if not isinstance(options["judge_each_epoch"], bool):
        raise DocumentFormatError(f"{where}.judge_each_epoch", f"{options['judge_each_epoch']!r} is not true or "
                                  "false")


def judge_files(training: dict[str, Any]) -> list[str]:
    """The judge files the recipes' options name relative to the project (which travel with it; a run of the
    store, ``run:RUN_ID``, is no file)."""
    named = [(training.get(recipe) or {}).get("judge") for recipe in DEFAULTS]
    return [name for name in named if isinstance(name, str) and name and not name.startswith(RUN_JUDGE)
            and not Path(name).expanduser().is_absolute()]


def image_block(recipe: str, options: dict[str, Any]) -> str:
    """The block that makes images: what ``generate`` runs and exports default to (generator, decoder)."""
    return str(options[ROLES[recipe][0]])
