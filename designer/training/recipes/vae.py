"""A variational autoencoder trained with ``fit``: reconstruction + β·KL to the standard normal prior.

The encoder gives ``z_mean`` and ``z_log_var``; a sample ``z = z_mean + exp(z_log_var / 2)·ε`` (the
reparameterisation, so the gradient reaches the encoder) goes through the decoder. The reconstruction loss
is summed over each image's values (binary cross-entropy for images in [0, 1], or the squared error) and
the KL term over the latent axes, both averaged over the batch.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from designer.training.recipes.common import PACKAGE, RecipeTrainer


@keras.saving.register_keras_serializable(package=PACKAGE)
class VAETrainer(RecipeTrainer):
    ROLES = ("encoder", "decoder")

    def __init__(self, network: keras.Model, options: dict[str, Any], seed: int = 0, **kwargs: Any) -> None:
        super().__init__(network, options, seed, **kwargs)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    def call(self, images: Any, training: bool | None = None) -> tuple[Any, Any, Any]:
        z_mean, z_log_var = self.part("encoder")(images, training=training)
        z = z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean), seed=self.noise)
        return self.part("decoder")(z, training=training), z_mean, z_log_var

    def losses_of(self, images: Any, y_pred: tuple[Any, Any, Any]) -> tuple[Any, Any]:
        reconstruction, z_mean, z_log_var = y_pred
        images = ops.cast(images, reconstruction.dtype)
        if self.options["reconstruction"] == "binary_crossentropy":
            per_value = ops.binary_crossentropy(images, reconstruction)
        else:
            per_value = ops.square(images - reconstruction)
        recon = ops.mean(ops.sum(ops.reshape(per_value, (ops.shape(per_value)[0], -1)), axis=1))
        kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        return recon, ops.mean(ops.sum(ops.reshape(kl, (ops.shape(kl)[0], -1)), axis=1))

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        recon, kl = self.losses_of(x, y_pred)
        return recon + float(self.options["beta"]) * kl

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, Any]:
        recon, kl = self.losses_of(x, y_pred)
        self.reconstruction_tracker.update_state(recon)
        self.kl_tracker.update_state(kl)
        return {"loss": self._loss_tracker.result(), "reconstruction_loss": self.reconstruction_tracker.result(),
                "kl_loss": self.kl_tracker.result()}
