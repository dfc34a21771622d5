"""The GAN state and its pure, jit-able training step (the reference's update order)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypedDict

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxgan.config import Config
from jaxgan.mnist import IMAGE_PIXELS, NUM_CLASSES
from jaxgan.models import Logits, latent_codes, make_models


class _Images(TypedDict):
    image: jax.Array  # (B, 784) float32 in [-1, 1]


class Batch(_Images, total=False):
    """One training batch: `image` always; `label` (B,) int32 in 0..9 for a conditional model."""

    label: jax.Array


class Metrics(TypedDict, total=False):
    """A step's scalars (an epoch's: one per step): D's and G's losses, D's mean outputs."""

    d_loss: jax.Array
    g_loss: jax.Array
    d_real: jax.Array  # mean D(x) on the real images, in (0, 1)
    d_fake: jax.Array  # mean D(G(z)) before D's update
    info_loss: jax.Array  # InfoGAN's code cross-entropy, with --codes
    class_loss: jax.Array  # D's ADC-GAN classifier cross-entropy on real and generated digits, with --class-loss


SweptHParams = dict[str, jax.Array]  # a population member's own values of some SWEEPABLE hyper-parameters


@dataclasses.dataclass(frozen=True)
class HParams:
    """The numbers the step reads, static: each setting compiles its own program. A population
    overrides some of them per member with swept values (`SweptHParams`)."""

    loss: str = "bce"
    info_weight: float = 1.0
    class_loss: float = 0.0
    mode_seeking: float = 0.0
    ema_decay: float = 0.0
    d_dropout: float = 0.0
    lr: float = 2e-4
    d_lr: float = 2e-4
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    @classmethod
    def of(cls, config: Config) -> HParams:
        return cls(config.loss, config.info_weight, config.class_loss, config.mode_seeking, config.ema_decay,
                   config.d_dropout, config.lr, config.d_lr or config.lr, config.beta1, config.beta2, config.eps)


# The hyper-parameters that can differ between the members of one compiled population: they
# change no array's shape and enter the step only as numbers.
SWEEPABLE = ("lr", "d_lr", "beta1", "beta2", "eps", "ema_decay", "info_weight", "d_dropout")
OPTIMISER = frozenset({"lr", "d_lr", "beta1", "beta2", "eps"})


def adam_pair(value: Callable[[str], Any]) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
    """G's and D's Adam, from hyper-parameter values (Python numbers or traced arrays)."""
    betas = {"b1": value("beta1"), "b2": value("beta2"), "eps": value("eps")}
    return optax.adam(value("lr"), **betas), optax.adam(value("d_lr"), **betas)


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
    hparams: HParams = struct.field(pytree_node=False, default=HParams())

    def hparam_values(self, swept: SweptHParams | None) -> dict[str, Any]:
        """The step's hyper-parameters: the static ones, overridden by a member's `swept` values."""
        return {**dataclasses.asdict(self.hparams), **(swept or {})}

    def optimisers(self, swept: SweptHParams | None,
                   ) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
        if not OPTIMISER & (swept or {}).keys():
            return self.g_tx, self.d_tx
        return adam_pair(self.hparam_values(swept).__getitem__)

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
        return self.g_ema_params if self.hparams.ema_decay else self.g_params


def create_train_state(config: Config, key: jax.Array) -> GANState:
    """Initialise G and D (PyTorch-default init) and one Adam per network."""
    g_key, d_key = jax.random.split(key)
    generator, discriminator = make_models(config)
    labels = jnp.zeros((1,), jnp.int32) if config.conditional else None
    g_params = generator.init(g_key, jnp.zeros((1, config.latent_dim)), labels)["params"]
    d_params = discriminator.init(d_key, jnp.zeros((1, IMAGE_PIXELS)), labels)["params"]
    hparams = HParams.of(config)
    g_tx, d_tx = adam_pair(functools.partial(getattr, hparams))
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
        hparams=hparams,
    )


def bce_with_logits(logits: jax.Array, label: float) -> jax.Array:
    """Mean binary cross-entropy of sigmoid(logits) against a constant label (nn.BCELoss)."""
    return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)).mean()


def d_objective(loss: str, real: jax.Array, fake: jax.Array) -> jax.Array:
    if loss == "hinge":
        return jax.nn.relu(1 - real).mean() + jax.nn.relu(1 + fake).mean()
    if loss == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    return bce_with_logits(real, 1.0) + bce_with_logits(fake, 0.0)


def g_objective(loss: str, fake: jax.Array) -> jax.Array:
    if loss == "hinge":
        return -fake.mean()
    if loss == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    return bce_with_logits(fake, 1.0)  # non-saturating, as the reference


def info_loss(state: GANState, code_logits: jax.Array | None, z: jax.Array,
              weight: Any) -> jax.Array | float:
    """InfoGAN's mutual-information bound as a loss: info_weight * CE(Q(G(z)), code(z)); 0 without
    codes. D (which holds Q) and G both minimise it."""
    if code_logits is None:
        return 0.0
    ce = optax.softmax_cross_entropy_with_integer_labels(code_logits, latent_codes(z, state.codes))
    return weight * ce.mean()


def _class_ce(class_logits: jax.Array, labels: jax.Array, generated: bool) -> jax.Array:
    """Mean cross-entropy of ADC-GAN's 2K-way classifier against digit k, real (k) or generated (K + k)."""
    return optax.softmax_cross_entropy_with_integer_labels(class_logits, labels + NUM_CLASSES * generated).mean()


def class_losses(real: jax.Array | None, fake: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """ADC-GAN's classifier losses (Hou et al., 2022), unweighted: D's, CE(real x, k) + CE(G(z, k),
    K + k), and G's, CE(G(z, k), k) - CE(G(z, k), K + k). `real` None: D's term on real images is 0."""
    d = _class_ce(fake, labels, True) + (0.0 if real is None else _class_ce(real, labels, False))
    g = _class_ce(fake, labels, False) - _class_ce(fake, labels, True)
    return d, g


def mode_seeking_loss(images: jax.Array, z: jax.Array, labels: jax.Array | None) -> jax.Array:
    """MSGAN's term (Mao et al., 2019): 1 / (mean |G(z_i) - G(z_j)| / mean |z_i - z_j| + 1e-5), the
    means over pairs of the batch given the same digit: each sample and the next of its digit
    (each and the next without labels), so the cost is linear in the batch."""
    digits = jnp.zeros(images.shape[0], jnp.int32) if labels is None else labels
    order = jnp.argsort(digits, stable=True)
    images, z, digits = images[order], z[order], digits[order]
    pair = digits[1:] == digits[:-1]
    image_distance = jnp.where(pair, jnp.abs(images[1:] - images[:-1]).mean(-1), 0).sum()
    latent_distance = jnp.where(pair, jnp.abs(z[1:] - z[:-1]).mean(-1), 0).sum()
    return 1 / (image_distance / jnp.maximum(latent_distance, 1e-12) + 1e-5)


def _discriminate(state: GANState, d_params: Any, images: jax.Array, labels: jax.Array | None,
                  dropout_key: jax.Array, dropout: Any) -> Logits:
    """D in training mode: its outputs on `images`."""
    discriminator = state.discriminator
    if isinstance(dropout, jax.Array):  # a member's swept rate
        discriminator = discriminator.clone(dropout=dropout)
    return discriminator.apply({"params": d_params}, images, labels, train=True,
                               rngs={"dropout": dropout_key})


def _d_update(state: GANState, batch: Batch, fake: jax.Array, z: jax.Array, keys: jax.Array,
              hparams: dict[str, Any], d_tx: optax.GradientTransformation,
              ) -> tuple[Any, optax.OptState, Metrics]:
    """D's Adam step on real (label 1) and fake (label 0) images; G is held fixed."""
    labels = batch.get("label")

    def loss_fn(d_params):
        real = _discriminate(state, d_params, batch["image"], labels, keys[0], hparams["d_dropout"])
        fake_out = _discriminate(state, d_params, fake, labels, keys[1], hparams["d_dropout"])
        info = info_loss(state, fake_out.code_logits, z, hparams["info_weight"])
        loss = d_objective(state.hparams.loss, real.logit, fake_out.logit) + info
        metrics = {"d_real": jax.nn.sigmoid(real.logit).mean(), "d_fake": jax.nn.sigmoid(fake_out.logit).mean(),
                   "info_loss": info}
        if fake_out.class_logits is not None:
            metrics["class_loss"], _ = class_losses(real.class_logits, fake_out.class_logits, labels)
            loss = loss + hparams["class_loss"] * metrics["class_loss"]
        return loss, {"d_loss": loss, **metrics}

    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.d_params)
    updates, opt_state = d_tx.update(grads, state.d_opt_state, state.d_params)
    return optax.apply_updates(state.d_params, updates), opt_state, metrics


def train_step(state: GANState, batch: Batch, key: jax.Array,
               swept: SweptHParams | None = None) -> tuple[GANState, Metrics]:
    """One reference iteration: D step on real (1) and G(z) (0), then G step on the same z.

    `key` draws z ~ N(0, I). The G step scores the same fake images against the *updated* D with
    label 1 (non-saturating loss); G runs forward once and its VJP is kept for the G step. A
    conditional GAN generates the fakes for the batch's labels; with InfoGAN codes both steps add
    `info_loss`, with an ADC-GAN classifier `class_losses`; G's step adds `mode_seeking_loss` when
    weighted. Metrics: the losses, D(x) and D(G(z)) before D's update, and the heads' losses.
    `swept` holds a population member's own hyper-parameter values."""
    images, labels = batch["image"], batch.get("label")
    z = jax.random.normal(key, (images.shape[0], state.latent_dim), images.dtype)
    fake, g_vjp = jax.vjp(lambda p: state.generator.apply({"params": p}, z, labels), state.g_params)
    dropout_keys = jax.random.split(jax.random.fold_in(key, 1), 3)  # z's key stays z's alone
    hparams, (g_tx, d_tx) = state.hparam_values(swept), state.optimisers(swept)
    d_params, d_opt_state, metrics = _d_update(state, batch, fake, z, dropout_keys[:2], hparams, d_tx)

    def g_loss_fn(images):
        out = _discriminate(state, d_params, images, labels, dropout_keys[2], hparams["d_dropout"])
        loss = g_objective(state.hparams.loss, out.logit) + info_loss(state, out.code_logits, z, hparams["info_weight"])
        if out.class_logits is not None:
            loss = loss + hparams["class_loss"] * class_losses(None, out.class_logits, labels)[1]
        if state.hparams.mode_seeking:
            loss = loss + hparams["mode_seeking"] * mode_seeking_loss(images, z, labels)
        return loss

    g_loss, dloss_dfake = jax.value_and_grad(g_loss_fn)(fake)
    (g_grads,) = g_vjp(dloss_dfake)
    g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)
    g_ema = state.g_ema_params
    if state.hparams.ema_decay:
        g_ema = optax.incremental_update(g_params, g_ema, 1 - hparams["ema_decay"])
    new_state = state.replace(step=state.step + 1, g_params=g_params, d_params=d_params,
                              g_opt_state=g_opt_state, d_opt_state=d_opt_state, g_ema_params=g_ema)
    if not state.codes:
        del metrics["info_loss"]
    return new_state, {**metrics, "g_loss": g_loss}
