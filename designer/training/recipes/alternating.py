"""One optimizer step per network in turn, per backend: the only backend-specific part of the GAN recipe.

A trainer lists its updates for a batch as ``(variables, optimizer, loss)`` triples, ``loss`` a function of
nothing written in ``keras.ops`` that draws its own noise; each update takes the gradient of its loss for
its variables alone and applies it with its optimizer before the next loss is computed (so the generator
meets the discriminator as just updated). Keras 3 has no backend-agnostic gradient, so each backend gets its
own ``train_step``, after Keras's guides on writing one: a gradient tape (TensorFlow), ``backward`` (PyTorch)
and, for JAX, a pure function of the variables' values: the state comes in and goes out, the trainer's
Python code runs under a ``keras.StatelessScope`` that maps every variable to its current value, and each
optimizer steps by its ``stateless_apply``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

Update = tuple[Sequence[Any], Any, Callable[[], Any]]  # (variables, optimizer, loss)


def train_step(trainer: Any, *args: Any) -> Any:
    """``trainer.train_step`` on the backend in use: ``(data)``, or ``(state, data)`` on JAX."""
    return _BACKENDS[keras.backend.backend()](trainer, *args)


def _tensorflow(trainer: Any, data: Any) -> dict[str, Any]:
    import tensorflow as tf

    losses = []
    for variables, optimizer, loss_of in trainer.updates(data):
        with tf.GradientTape() as tape:
            loss = loss_of()
            scaled = optimizer.scale_loss(loss)  # the loss itself but under mixed float16
        optimizer.apply(tape.gradient(scaled, variables), variables)
        losses.append(loss)
    return trainer.track(*losses)


def _torch(trainer: Any, data: Any) -> dict[str, Any]:
    import torch

    losses = []
    for variables, optimizer, loss_of in trainer.updates(data):
        trainer.zero_grad()  # the previous update's backward left gradients in these variables too
        loss = loss_of()
        optimizer.scale_loss(loss).backward()  # the loss itself but under mixed float16
        with torch.no_grad():
            optimizer.apply([v.value.grad for v in variables], variables)
        losses.append(loss.detach())
    return trainer.track(*losses)


def _jax(trainer: Any, state: Sequence[Sequence[Any]], data: Any) -> tuple[dict[str, Any], tuple[list[Any], ...]]:
    import jax

    groups = (trainer.trainable_variables, trainer.non_trainable_variables, trainer.optimizer.variables,
              trainer.metrics_variables)  # the order of Keras's JAX training state
    everything = [v for group in groups for v in group]
    current = {id(v): value for group, values in zip(groups, state, strict=True)
               for v, value in zip(group, values, strict=True)}

    def run(fn: Callable[[], Any], given: Sequence[tuple[Any, Any]] = ()) -> tuple[Any, dict[int, Any]]:
        """``fn()`` with every variable at its current value (``given`` overriding); what they are after it."""
        with keras.StatelessScope(state_mapping=[(v, current[id(v)]) for v in everything] + list(given)) as scope:
            result = fn()
        return result, {id(v): scope.get_current_value(v) for v in everything}

    losses = []
    for variables, optimizer, loss_of in trainer.updates(data):
        def scaled_loss(values: list[Any], variables: Sequence[Any] = variables, optimizer: Any = optimizer,
                        loss_of: Callable[[], Any] = loss_of) -> tuple[Any, tuple[Any, dict[int, Any]]]:
            def both() -> tuple[Any, Any]:
                loss = loss_of()
                return optimizer.scale_loss(loss), loss  # the loss itself but under mixed float16

            (scaled, loss), after = run(both, list(zip(variables, values, strict=True)))
            return scaled, (loss, {k: v for k, v in after.items() if k not in {id(w) for w in variables}})

        (_, (loss, after)), grads = jax.value_and_grad(scaled_loss, has_aux=True)([current[id(v)] for v in variables])
        current.update(after)  # the noise seed and any moving statistics the forward pass moved on
        state = optimizer.variables  # its share of the trainer's optimizer variables
        values, moved = optimizer.stateless_apply([current[id(v)] for v in state], grads,
                                                  [current[id(v)] for v in variables])
        current.update({**dict(zip(map(id, variables), values, strict=True)),
                        **dict(zip(map(id, state), moved, strict=True))})
        losses.append(loss)
    logs, after = run(lambda: trainer.track(*losses))
    current.update(after)
    return logs, tuple([current[id(v)] for v in group] for group in groups)


_BACKENDS: dict[str, Callable[..., Any]] = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}
