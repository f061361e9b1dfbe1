"""What the GAN and VAE trainers share: finding their blocks, saving, the per-epoch sample grid.

Their losses are written once in ``keras.ops``. The VAE changes only the loss (``compute_loss``) and the
logged metrics (``compute_metrics``), and Keras's own ``train_step`` for the backend in use takes the
gradient; the GAN steps its two networks in turn with an optimizer each, the one piece written per
backend (``alternating``). So the recipes train on TensorFlow, JAX and PyTorch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

PACKAGE = "netdesigner"


def block(network: keras.Model, name: str) -> keras.Model:
    """The nested model ``name`` of the built network; ``ValueError`` naming the blocks there are."""
    try:
        found = network.get_layer(name)
    except ValueError:
        found = None
    if not isinstance(found, keras.Model):
        blocks = [layer.name for layer in network.layers if isinstance(layer, keras.Model)]
        raise ValueError(f"the network has no block named {name!r} (blocks: {', '.join(blocks) or 'none'}); "
                         "name the recipe's blocks in the training options")
    return found


class RecipeTrainer(keras.Model):
    """Holds the whole built network (so checkpoints keep it, the optimizer state and the noise seed)."""

    ROLES: tuple[str, ...] = ()  # the options naming the blocks it trains

    def __init__(self, network: keras.Model, options: dict[str, Any], seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.network, self.options, self.seed = network, dict(options), seed
        for role in self.ROLES:  # a ValueError naming the missing block now, not at the first batch
            self.part(role)
        self.noise = keras.random.SeedGenerator(seed)
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "network": keras.saving.serialize_keras_object(self.network),
                "options": self.options, "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RecipeTrainer:
        config = dict(config)
        network = keras.saving.deserialize_keras_object(config.pop("network"))
        return cls(network, **config)

    def part(self, role: str) -> keras.Model:
        return block(self.network, self.options[role])



def grid(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """Images (N, H, W, C) tiled into one uint8 picture, one pixel of gap; values in [0, 1] (or [-1, 1],
    recognised by negative values) map to black–white."""
    images = np.asarray(images, dtype="float32")
    if images.ndim == 3:
        images = images[..., None]
    if images.min() < 0:
        images = (images + 1) / 2
    n, h, w, c = images.shape
    rows = -(-n // columns)
    picture = np.ones((rows * (h + 1) + 1, columns * (w + 1) + 1, c), dtype="float32")
    for i, image in enumerate(images):
        r, k = divmod(i, columns)
        picture[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + k * (w + 1):1 + k * (w + 1) + w] = image
    picture = (picture.clip(0, 1) * 255).astype("uint8")
    return picture[..., 0] if c == 1 else picture[..., :3]


def save_grid(images: np.ndarray, path: Path, columns: int = 8, side: int = 320) -> None:
    """A PNG of ``grid(images)`` enlarged (pixels kept square) to about ``side`` pixels wide."""
    from PIL import Image

    picture = Image.fromarray(grid(images, columns))
    scale = max(1, side // picture.width)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST).save(path)


SAMPLES = "samples"  # the run's folder of sample grids: epoch_001.png ..., final.png, interpolation.png
GRID_SAMPLES = 64


class SampleGrids(keras.callbacks.Callback):
    """Each epoch a grid of samples from the same seeded noise, as ``samples/epoch_NNN.png`` and a ``samples``
    event; at the end the final grid and a latent interpolation, which the run record keeps as images."""

    def __init__(self, folder: Path, queue: Any, training: dict[str, Any], classes: int = 0) -> None:
        super().__init__()
        self.folder, self.queue, self.training, self.classes = folder, queue, training, classes

    def draw(self, name: str) -> str:
        from designer.training.recipes import decode, latents, recipe_options

        network, recipe = self.model.network, self.training["recipe"]
        options = recipe_options(recipe, self.training.get(recipe))
        z = latents(network, recipe, options, GRID_SAMPLES, self.training.get("seed", 0))
        labels = np.arange(GRID_SAMPLES) % self.classes if self.classes else None  # a column per class
        save_grid(decode(network, recipe, options, z, labels), self.folder / SAMPLES / name,
                  columns=self.classes if self.classes else 8)
        return f"{SAMPLES}/{name}"

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.queue.put({"event": "samples", "epoch": epoch + 1, "file": self.draw(f"epoch_{epoch + 1:03d}.png")})

    def on_train_end(self, logs: dict | None = None) -> None:
        from designer.training.recipes import interpolate

        self.draw("final.png")
        rows = [interpolate(self.model.network, self.training, 8, seed=s,
                            label=s % self.classes if self.classes else None) for s in range(4)]
        save_grid(np.concatenate(rows), self.folder / SAMPLES / "interpolation.png")


def image_shape(trainer: RecipeTrainer) -> tuple[int | None, ...]:
    """The shape of one image the recipe trains on: the generator's output or the encoder's input."""
    if "encoder" in trainer.options:
        return tuple(trainer.part("encoder").inputs[0].shape[1:])
    return tuple(trainer.part("generator").outputs[0].shape[1:])


def data_problems(trainer: RecipeTrainer, x: Any, classes: int) -> list[str]:
    """Why the dataset cannot train this recipe's networks (empty if it can)."""
    shape, given = image_shape(trainer), tuple(np.shape(x)[1:]) if isinstance(x, np.ndarray) else None
    if given is None:
        return ["a gan or vae recipe trains on images held in memory (builtin:NAME or npz:PATH)"]
    if len(shape) != len(given) or any(s is not None and s != g for s, g in zip(shape, given, strict=False)):
        made = "generator makes" if "generator" in trainer.options else "encoder takes"
        return [f"the data's samples are {given} but the {made} {shape}: match the network to the data"]
    if getattr(trainer, "conditional", False) and classes < 2:
        return ["a conditional GAN needs class labels (a classification dataset) for its class input"]
    return []


def fit_inputs(trainer: RecipeTrainer, split: Any) -> Any:
    """What ``fit`` takes as ``x`` for a split: the images, and their labels for a conditional GAN."""
    if getattr(trainer, "conditional", False):
        return [split.x, np.asarray(split.y).reshape(len(split.y), 1)]
    return split.x
