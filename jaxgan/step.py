"""The GAN state and its pure, jit-able training step (reference update order)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxgan.config import Config
from jaxgan.models import IMAGE_SIZE, Discriminator, Generator

Metrics = dict[str, jax.Array]


class GANState(struct.PyTreeNode):
    """Both networks' parameters and Adam states, and the number of steps taken."""

    step: jax.Array
    g_params: Any
    d_params: Any
    g_opt_state: optax.OptState
    d_opt_state: optax.OptState
    generator: nn.Module = struct.field(pytree_node=False)
    discriminator: nn.Module = struct.field(pytree_node=False)
    g_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    d_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    latent_dim: int = struct.field(pytree_node=False)


def create_train_state(config: Config, key: jax.Array) -> GANState:
    """Initialise G and D (PyTorch-default init) and one Adam per network."""
    g_key, d_key = jax.random.split(key)
    generator = Generator(config.hidden_dim)
    discriminator = Discriminator(config.hidden_dim)
    g_params = generator.init(g_key, jnp.zeros((1, config.latent_dim)))["params"]
    d_params = discriminator.init(d_key, jnp.zeros((1, IMAGE_SIZE)))["params"]
    g_tx = optax.adam(config.lr, b1=config.beta1, b2=config.beta2, eps=config.eps)
    d_tx = optax.adam(config.lr, b1=config.beta1, b2=config.beta2, eps=config.eps)
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params,
        d_params=d_params,
        g_opt_state=g_tx.init(g_params),
        d_opt_state=d_tx.init(d_params),
        generator=generator,
        discriminator=discriminator,
        g_tx=g_tx,
        d_tx=d_tx,
        latent_dim=config.latent_dim,
    )


def bce_with_logits(logits: jax.Array, label: float) -> jax.Array:
    """Mean binary cross-entropy of sigmoid(logits) against a constant label (nn.BCELoss)."""
    return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)).mean()


def train_step(
    state: GANState,
    batch: jax.Array,
    key: jax.Array,
    noise_sharding: jax.sharding.Sharding | None = None,
) -> tuple[GANState, Metrics]:
    """One reference iteration: D step on real (1) and G(z) (0), then G step on the same z.

    `batch` is (B, 784) float32 in [-1, 1]; `key` draws z ~ N(0, I). The G step scores the same
    fake images against the *updated* D with label 1 (non-saturating loss). G is run forward once:
    its VJP is kept for the G step.
    """
    z = jax.random.normal(key, (batch.shape[0], state.latent_dim), batch.dtype)
    if noise_sharding is not None:
        z = jax.lax.with_sharding_constraint(z, noise_sharding)
    fake, g_vjp = jax.vjp(lambda p: state.generator.apply({"params": p}, z), state.g_params)

    def d_loss_fn(d_params):
        real_logits = state.discriminator.apply({"params": d_params}, batch)
        fake_logits = state.discriminator.apply({"params": d_params}, fake)
        loss = bce_with_logits(real_logits, 1.0) + bce_with_logits(fake_logits, 0.0)
        return loss, (real_logits, fake_logits)

    (d_loss, (real_logits, fake_logits)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
        state.d_params)
    d_updates, d_opt_state = state.d_tx.update(d_grads, state.d_opt_state, state.d_params)
    d_params = optax.apply_updates(state.d_params, d_updates)

    def g_loss_fn(images):
        return bce_with_logits(state.discriminator.apply({"params": d_params}, images), 1.0)

    g_loss, dloss_dfake = jax.value_and_grad(g_loss_fn)(fake)
    (g_grads,) = g_vjp(dloss_dfake)
    g_updates, g_opt_state = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)

    new_state = state.replace(
        step=state.step + 1,
        g_params=g_params,
        d_params=d_params,
        g_opt_state=g_opt_state,
        d_opt_state=d_opt_state,
    )
    metrics = {
        "d_loss": d_loss,
        "g_loss": g_loss,
        "d_real": jax.nn.sigmoid(real_logits).mean(),  # D(x)
        "d_fake": jax.nn.sigmoid(fake_logits).mean(),  # D(G(z)) before the D update
    }
    return new_state, metrics
