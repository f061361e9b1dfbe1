"""Training recipes beyond ``fit`` on one network: a GAN and a VAE, each two blocks of one document.

A GAN project's graph holds the blocks ``generator`` and ``discriminator`` wired noise → generator →
discriminator (a conditional GAN adds a class input feeding both); a VAE's holds ``encoder`` (image →
z_mean, z_log_var) and ``decoder`` (latent → image) wired image → encoder, z_mean → decoder. The whole
graph therefore builds, analyses, generates code and exports as any other; the recipe takes the blocks
out of the built model by name and trains them with ``fit`` (``trainer``), so events, stop, checkpoints
and resume work as for a supervised run. ``generate`` and ``interpolate`` run the image-making block of a
trained network. This module imports Keras only when those are called.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from designer.training.recipes.options import RECIPES, image_block, recipe_options

__all__ = ["RECIPES", "conditional", "generate", "image_block", "interpolate", "latent_shape", "recipe_options",
           "trainer"]


def trainer(network: Any, recipe: str, options: dict[str, Any], seed: int = 0) -> Any:
    """The ``keras.Model`` that trains ``network``'s blocks by ``recipe`` (``ValueError`` if they do not fit)."""
    if recipe == "gan":
        from designer.training.recipes.gan import GANTrainer

        return GANTrainer(network, options, seed=seed)
    from designer.training.recipes.vae import VAETrainer

    return VAETrainer(network, options, seed=seed)


def latent_shape(network: Any, recipe: str, options: dict[str, Any]) -> tuple[int, ...]:
    """The shape of one latent vector (without the batch axis): the image-making block's first input."""
    from designer.training.recipes.common import block

    return tuple(int(d) for d in block(network, image_block(recipe, options)).inputs[0].shape[1:])


def conditional(network: Any, recipe: str, options: dict[str, Any]) -> bool:
    """A GAN whose generator takes a class input besides the noise."""
    from designer.training.recipes.common import block

    return recipe == "gan" and len(block(network, image_block(recipe, options)).inputs) == 2


def latents(network: Any, recipe: str, options: dict[str, Any], n: int, seed: int) -> np.ndarray:
    """``n`` latent vectors from the standard normal prior, the same for the same seed."""
    return np.random.default_rng(seed).standard_normal((n, *latent_shape(network, recipe, options))).astype("float32")


def decode(network: Any, recipe: str, options: dict[str, Any], z: np.ndarray,
           labels: np.ndarray | None = None) -> np.ndarray:
    """Images from latent vectors (and class labels, for a conditional GAN), in inference mode."""
    import keras

    from designer.training.recipes.common import block

    part = block(network, image_block(recipe, options))
    if conditional(network, recipe, options):
        if labels is None:
            raise ValueError("this GAN is conditional: give the class of each sample")
        inputs: Any = [z, labels.reshape(len(z), *part.inputs[1].shape[1:]).astype(part.inputs[1].dtype)]
    else:
        if labels is not None:
            raise ValueError("this GAN is not conditional: it takes no class")
        inputs = z
    return np.asarray(keras.ops.convert_to_numpy(part(inputs, training=False)))


def generate(network: Any, training: dict[str, Any], n: int, seed: int = 0,
             label: int | np.ndarray | None = None) -> np.ndarray:
    """``n`` samples of a trained GAN or VAE network (the project's ``training`` section names its blocks);
    ``label``: the class of all samples, or one per sample, for a conditional GAN (required there, refused
    elsewhere). ``ValueError`` for a supervised project or a class where none is taken."""
    recipe, options = _recipe(training)
    z = latents(network, recipe, options, n, seed)
    return decode(network, recipe, options, z, None if label is None else np.broadcast_to(label, (n,)))


def interpolate(network: Any, training: dict[str, Any], steps: int = 8, seed: int = 0,
                label: int | None = None) -> np.ndarray:
    """``steps`` samples along the straight line between two latent points drawn with ``seed``."""
    recipe, options = _recipe(training)
    ends = latents(network, recipe, options, 2, seed)
    weights = np.linspace(0.0, 1.0, steps, dtype="float32").reshape(-1, *[1] * (ends.ndim - 1))
    z = (1 - weights) * ends[0] + weights * ends[1]
    return decode(network, recipe, options, z, None if label is None else np.full(steps, label))


def _recipe(training: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    recipe = training.get("recipe", "supervised")
    if recipe == "supervised":
        raise ValueError("this project trains a supervised network: only a gan or vae recipe generates samples")
    return recipe, recipe_options(recipe, training.get(recipe))
