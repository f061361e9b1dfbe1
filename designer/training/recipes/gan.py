"""A GAN trained with ``fit``: the discriminator learns real from generated, the generator to fool it.

Losses on the discriminator's logits: the discriminator's binary cross-entropy (real targets
``1 - label_smoothing``, one-sided smoothing) and the generator's non-saturating ``-log D(G(z))``. Both
networks take one optimizer step per batch from one scalar: ``d_loss + g_loss - g_loss'``, where
``g_loss'`` is the generator's loss on the discriminator's output for the generated images with their
gradient stopped. ``g_loss'`` equals ``g_loss`` in value and in its gradient for the discriminator's
weights, so the sum's gradient is exactly ``∇d_loss`` for the discriminator and ``∇g_loss`` for the
generator (simultaneous updates) and Keras's own ``train_step`` serves every backend. Random layers in the
discriminator (Dropout) see different masks in the two calls, which leaves zero-mean noise in its gradient.
A conditional GAN feeds the class labels (``fit``'s second input) to both networks.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from designer.training.recipes.common import PACKAGE, RecipeTrainer


@keras.saving.register_keras_serializable(package=PACKAGE)
class GANTrainer(RecipeTrainer):
    ROLES = ("generator", "discriminator")

    def __init__(self, network: keras.Model, options: dict[str, Any], seed: int = 0, **kwargs: Any) -> None:
        super().__init__(network, options, seed, **kwargs)
        self.conditional = len(self.part("generator").inputs) == 2
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def call(self, inputs: Any, training: bool | None = None) -> tuple[Any, Any, Any]:
        """The discriminator's logits for real images, for generated ones with the generator cut off, and for
        generated ones (all three from the same weights)."""
        images, labels = inputs if self.conditional else (inputs, None)
        latent = self.part("generator").inputs[0].shape[1:]
        z = keras.random.normal((ops.shape(images)[0], *latent), seed=self.noise)
        fake = self.part("generator")([z, labels] if self.conditional else z, training=training)

        def judge(x: Any) -> Any:
            return self.part("discriminator")([x, labels] if self.conditional else x, training=training)

        return judge(images), judge(ops.stop_gradient(fake)), judge(fake)

    def losses_of(self, y_pred: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
        real, fake, generated = y_pred
        smooth = float(self.options["label_smoothing"])
        d_loss = (ops.mean(ops.binary_crossentropy(ops.full_like(real, 1 - smooth), real, from_logits=True))
                  + ops.mean(ops.binary_crossentropy(ops.zeros_like(fake), fake, from_logits=True)))
        return d_loss, ops.mean(ops.softplus(-generated)), ops.mean(ops.softplus(-fake))

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        d_loss, g_loss, g_loss_cut = self.losses_of(y_pred)
        return d_loss + g_loss - g_loss_cut

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, Any]:
        d_loss, g_loss, _ = self.losses_of(y_pred)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}
