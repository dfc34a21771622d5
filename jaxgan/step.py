"""The GAN state and its pure, jit-able training step (reference update order)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxgan.config import Config
from jaxgan.models import IMAGE_SIZE, latent_codes, make_models

Metrics = dict[str, jax.Array]
NUM_CLASSES = 10


class GANState(struct.PyTreeNode):
    """Both networks' parameters and Adam states, the generator EMA, and the steps taken."""

    step: jax.Array
    g_params: Any
    d_params: Any
    g_opt_state: optax.OptState
    d_opt_state: optax.OptState
    g_ema_params: Any  # the generator's weight EMA; an empty dict when EMA is off
    generator: nn.Module = struct.field(pytree_node=False)
    discriminator: nn.Module = struct.field(pytree_node=False)
    g_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    d_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    latent_dim: int = struct.field(pytree_node=False)
    loss: str = struct.field(pytree_node=False, default="bce")
    label_smoothing: float = struct.field(pytree_node=False, default=0.0)
    ema_decay: float = struct.field(pytree_node=False, default=0.0)
    r1_gamma: float = struct.field(pytree_node=False, default=0.0)
    info_weight: float = struct.field(pytree_node=False, default=1.0)

    @property
    def conditional(self) -> bool:
        return bool(self.generator.num_classes)

    @property
    def codes(self) -> int:
        """Size of the generator's InfoGAN categorical code (0: none)."""
        return self.generator.codes

    @property
    def sampling_params(self) -> Any:
        """The generator weights that samples and evaluation use: the EMA when it is on."""
        return self.g_ema_params if self.ema_decay else self.g_params


def create_train_state(config: Config, key: jax.Array) -> GANState:
    """Initialise G and D (PyTorch-default init) and one Adam per network."""
    g_key, d_key = jax.random.split(key)
    classes = NUM_CLASSES if config.conditional else 0
    generator, discriminator = make_models(
        config.arch, hidden_dim=config.hidden_dim, depth=config.depth, channels=config.channels,
        num_classes=classes, dropout=config.d_dropout, g_depth=config.g_depth,
        g_hidden_dim=config.g_hidden_dim, codes=config.codes)
    labels = jnp.zeros((1,), jnp.int32) if classes else None
    g_params = generator.init(g_key, jnp.zeros((1, config.latent_dim)), labels)["params"]
    d_params = discriminator.init(d_key, jnp.zeros((1, IMAGE_SIZE)), labels)["params"]
    g_tx = optax.adam(config.lr, b1=config.beta1, b2=config.beta2, eps=config.eps)
    d_tx = optax.adam(config.d_lr or config.lr, b1=config.beta1, b2=config.beta2, eps=config.eps)
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params,
        d_params=d_params,
        g_opt_state=g_tx.init(g_params),
        d_opt_state=d_tx.init(d_params),
        g_ema_params=jax.tree.map(jnp.copy, g_params) if config.ema_decay else {},
        generator=generator,
        discriminator=discriminator,
        g_tx=g_tx,
        d_tx=d_tx,
        latent_dim=config.latent_dim,
        loss=config.loss,
        label_smoothing=config.label_smoothing,
        ema_decay=config.ema_decay,
        r1_gamma=config.r1_gamma,
        info_weight=config.info_weight,
    )


def bce_with_logits(logits: jax.Array, label: float) -> jax.Array:
    """Mean binary cross-entropy of sigmoid(logits) against a constant label (nn.BCELoss)."""
    return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)).mean()


def d_objective(loss: str, real: jax.Array, fake: jax.Array, smoothing: float) -> jax.Array:
    if loss == "hinge":
        return jax.nn.relu(1 - real).mean() + jax.nn.relu(1 + fake).mean()
    if loss == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    return bce_with_logits(real, 1.0 - smoothing) + bce_with_logits(fake, 0.0)


def g_objective(loss: str, fake: jax.Array) -> jax.Array:
    if loss == "hinge":
        return -fake.mean()
    if loss == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    return bce_with_logits(fake, 1.0)  # non-saturating, as the reference


def _discriminate(state: GANState, d_params: Any, images: jax.Array, labels: jax.Array | None,
                  dropout_key: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """D's logits (B,) in training mode (dropout on when configured), and with InfoGAN codes the
    Q head's code logits (B, codes), else None."""
    rngs = {"dropout": dropout_key} if state.discriminator.dropout else None
    return state.discriminator.apply({"params": d_params}, images, labels, train=True, rngs=rngs,
                                     with_codes=True)


def info_loss(state: GANState, code_logits: jax.Array | None, z: jax.Array) -> jax.Array | float:
    """InfoGAN's mutual-information bound as a loss: info_weight * CE(Q(G(z)), code(z)); 0 without
    codes. D (which holds Q) and G both minimise it."""
    if code_logits is None:
        return 0.0
    codes = latent_codes(z, state.codes)
    return state.info_weight * optax.softmax_cross_entropy_with_integer_labels(code_logits, codes).mean()


def train_step(
    state: GANState,
    batch: jax.Array,
    key: jax.Array,
    noise_sharding: jax.sharding.Sharding | None = None,
    labels: jax.Array | None = None,
) -> tuple[GANState, Metrics]:
    """One reference iteration: D step on real (1) and G(z) (0), then G step on the same z.

    `batch` is (B, 784) float32 in [-1, 1]; `key` draws z ~ N(0, I). The G step scores the same
    fake images against the *updated* D with label 1 (non-saturating loss). G is run forward once:
    its VJP is kept for the G step. A conditional GAN gets the batch's class `labels` (B,) and
    generates the fakes for the same labels. With InfoGAN codes, both steps add `info_loss`.
    """
    z = jax.random.normal(key, (batch.shape[0], state.latent_dim), batch.dtype)
    if noise_sharding is not None:
        z = jax.lax.with_sharding_constraint(z, noise_sharding)
    fake, g_vjp = jax.vjp(lambda p: state.generator.apply({"params": p}, z, labels), state.g_params)

    # D's dropout masks: three independent draws from a key that leaves z's draw unchanged.
    real_key, fake_key, g_step_key = jax.random.split(jax.random.fold_in(key, 1), 3)

    def d_loss_fn(d_params):
        def real_logits_fn(images):
            return _discriminate(state, d_params, images, labels, real_key)[0]

        if state.r1_gamma:  # R1 (Mescheder et al., 2018): gamma/2 * E ||grad_x D(x)||^2 on reals
            real_logits, real_vjp = jax.vjp(real_logits_fn, batch)
            (grad_x,) = real_vjp(jnp.ones_like(real_logits))
            penalty = 0.5 * state.r1_gamma * jnp.sum(grad_x**2, -1).mean()
        else:
            real_logits, penalty = real_logits_fn(batch), 0.0
        fake_logits, code_logits = _discriminate(state, d_params, fake, labels, fake_key)
        loss = d_objective(state.loss, real_logits, fake_logits, state.label_smoothing)
        info = info_loss(state, code_logits, z)
        return loss + penalty + info, (real_logits, fake_logits, info)

    (d_loss, (real_logits, fake_logits, info)), d_grads = jax.value_and_grad(
        d_loss_fn, has_aux=True)(state.d_params)
    d_updates, d_opt_state = state.d_tx.update(d_grads, state.d_opt_state, state.d_params)
    d_params = optax.apply_updates(state.d_params, d_updates)

    def g_loss_fn(images):
        logits, code_logits = _discriminate(state, d_params, images, labels, g_step_key)
        return g_objective(state.loss, logits) + info_loss(state, code_logits, z)

    g_loss, dloss_dfake = jax.value_and_grad(g_loss_fn)(fake)
    (g_grads,) = g_vjp(dloss_dfake)
    g_updates, g_opt_state = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)
    g_ema = state.g_ema_params
    if state.ema_decay:
        g_ema = optax.incremental_update(g_params, g_ema, 1 - state.ema_decay)

    new_state = state.replace(
        step=state.step + 1,
        g_params=g_params,
        d_params=d_params,
        g_opt_state=g_opt_state,
        d_opt_state=d_opt_state,
        g_ema_params=g_ema,
    )
    metrics = {
        "d_loss": d_loss,
        "g_loss": g_loss,
        "d_real": jax.nn.sigmoid(real_logits).mean(),  # D(x)
        "d_fake": jax.nn.sigmoid(fake_logits).mean(),  # D(G(z)) before the D update
    }
    if state.codes:
        metrics["info_loss"] = info  # Q's code cross-entropy (in d_loss and g_loss), before the D update
    return new_state, metrics
