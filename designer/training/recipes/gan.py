"""A GAN trained with ``fit``: the discriminator learns real from generated, the generator to fool it.

Each batch takes two steps in turn (``alternating``): the discriminator's, on its binary cross-entropy
(real targets ``1 - label_smoothing``, one-sided smoothing) for the real images and generated ones, then
the generator's, on the non-saturating ``-log D(G(z))`` for fresh noise, judged by the discriminator as
just updated. Each network has its own optimizer (``GANOptimizers``), so the discriminator can learn at
its own rate. A conditional GAN feeds the class labels (``fit``'s second input) to both networks.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from designer.training.recipes import alternating
from designer.training.recipes.common import PACKAGE, RecipeTrainer


@keras.saving.register_keras_serializable(package=PACKAGE)
class GANOptimizers(keras.optimizers.Optimizer):
    """The generator's and the discriminator's optimizers as the one ``model.optimizer`` that Keras saves
    with a checkpoint, restores on resume and, on JAX, carries through the training state. Each steps only
    its own network's variables; the trainer's ``compile`` tells them which (``pair``)."""

    def __init__(self, generator: Any, discriminator: Any, name: str = "gan_optimizers") -> None:
        generator, discriminator = keras.optimizers.get(generator), keras.optimizers.get(discriminator)
        schedule = generator._learning_rate  # a schedule is shared (the events read it); a rate is read from it
        super().__init__(learning_rate=schedule if callable(schedule) else 0.0, name=name)
        self.generator, self.discriminator = generator, discriminator

    def pair(self, generator: list[Any], discriminator: list[Any]) -> None:
        """Build each optimizer's state for its network's variables."""
        if not self.built:
            self.generator.build(generator)
            self.discriminator.build(discriminator)
            super().build([*generator, *discriminator])

    def scale_losses(self) -> None:
        """Each optimizer scales its own network's loss (for mixed float16), as Keras does for a model's one."""
        self.generator, self.discriminator = (
            o if isinstance(o, keras.optimizers.LossScaleOptimizer) else keras.optimizers.LossScaleOptimizer(o)
            for o in (self.generator, self.discriminator))

    def build(self, variables: list[Any]) -> None:
        if not self.built:  # Keras builds the optimizer it was compiled with; only the trainer knows the split
            raise ValueError("GANOptimizers are built by GANTrainer.compile, which knows each network's variables")

    @property
    def variables(self) -> list[Any]:
        return [*self._variables, *self.generator.variables, *self.discriminator.variables]

    @property
    def learning_rate(self) -> Any:
        """The generator's (the training options' learning rate); the discriminator's may differ."""
        return self.generator.learning_rate

    @learning_rate.setter
    def learning_rate(self, rate: Any) -> None:
        self.generator.learning_rate = rate

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "generator": keras.optimizers.serialize(self.generator),
                "discriminator": keras.optimizers.serialize(self.discriminator)}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> GANOptimizers:
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class GANTrainer(RecipeTrainer):
    ROLES = ("generator", "discriminator")

    def __init__(self, network: keras.Model, options: dict[str, Any], seed: int = 0, **kwargs: Any) -> None:
        super().__init__(network, options, seed, **kwargs)
        self.conditional = len(self.part("generator").inputs) == 2
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, optimizer: GANOptimizers, auto_scale_loss: bool = True, **kwargs: Any) -> None:
        if auto_scale_loss and self.dtype_policy.name == "mixed_float16":
            optimizer.scale_losses()
        optimizer.pair(self.part("generator").trainable_variables, self.part("discriminator").trainable_variables)
        super().compile(optimizer=optimizer, auto_scale_loss=False, **kwargs)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Keras leaves a custom ``compile`` to the model on load: the optimizers come back built, to take
        their saved state."""
        self.compile(**keras.saving.deserialize_keras_object(config))

    def fake(self, n: Any, labels: Any) -> Any:
        """``n`` generated images from fresh noise (and the class labels of a conditional GAN)."""
        z = keras.random.normal((n, *self.part("generator").inputs[0].shape[1:]), seed=self.noise)
        return self.part("generator")([z, labels] if self.conditional else z, training=True)

    def judge(self, images: Any, labels: Any) -> Any:
        """The discriminator's logits: real (high) or generated (low)."""
        return self.part("discriminator")([images, labels] if self.conditional else images, training=True)

    def d_loss(self, images: Any, labels: Any) -> Any:
        fake = ops.stop_gradient(self.fake(ops.shape(images)[0], labels))  # this step moves the discriminator
        real, fake = self.judge(images, labels), self.judge(fake, labels)
        smooth = float(self.options["label_smoothing"])
        return (ops.mean(ops.binary_crossentropy(ops.full_like(real, 1 - smooth), real, from_logits=True))
                + ops.mean(ops.binary_crossentropy(ops.zeros_like(fake), fake, from_logits=True)))

    def g_loss(self, n: Any, labels: Any) -> Any:
        return ops.mean(ops.softplus(-self.judge(self.fake(n, labels), labels)))  # -log sigmoid(logit)

    def updates(self, data: Any) -> list[alternating.Update]:
        """The batch's two steps, in order: the discriminator's, then the generator's."""
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        images, labels = x if self.conditional else (x, None)
        optimizers = self.optimizer
        return [(self.part("discriminator").trainable_variables, optimizers.discriminator,
                 lambda: self.d_loss(images, labels)),
                (self.part("generator").trainable_variables, optimizers.generator,
                 lambda: self.g_loss(ops.shape(images)[0], labels))]

    def track(self, d_loss: Any, g_loss: Any) -> dict[str, Any]:
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    def train_step(self, *args: Any) -> Any:
        return alternating.train_step(self, *args)
