"""The GAN state, all arrays, and the pure training step (the reference's update order).

The state carries every number the step reads (learning rates, Adam's betas and epsilon inside the
optimiser states; the EMA decay, dropout rate and loss weights in `hparams`), so members of a
population that differ only in those numbers are one program: `jax.vmap` over stacked states.
What is not a number (the networks, the loss, which terms are on, the shapes) comes from the config
and is closed over by `make_step`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxgan.config import Config
from jaxgan.losses import class_losses, d_objective, g_objective, info_loss, mode_seeking_loss
from jaxgan.models import Logits


class _Images(TypedDict):
    image: jax.Array  # (B, H*W*C) float32 in [-1, 1]


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
    class_loss: jax.Array  # D's ADC-GAN classifier cross-entropy, with --class-loss
    alive: jax.Array  # False from the step whose losses became NaN/Inf on


Step = Callable[["GANState", Batch, jax.Array], tuple["GANState", Metrics]]

# The config's numbers that the state carries as arrays: members of one population may differ in them.
SWEEPABLE = (
    *("lr", "d_lr", "beta1", "beta2", "eps", "ema_decay"),  # the optimisers' and the EMA's
    *("d_dropout", "info_weight", "class_loss", "mode_seeking"),  # the objective's
)
# Each enters the arithmetic also as 1 - value. That is computed here in float64 and rounded once, as
# optax and Python did with plain floats: 1 - float32(0.9) is not float32(1 - 0.9).
_COMPLEMENTED = ("beta1", "beta2", "ema_decay")
_OPTIMISER = frozenset({"lr", "d_lr", "beta1", "beta2", "eps", "1-beta1", "1-beta2"})  # Adam's


def hyperparams(config: Config) -> dict[str, np.ndarray]:
    """The numbers of `config` that a state carries, as float32 (see SWEEPABLE)."""
    values = {name: getattr(config, name) for name in SWEEPABLE}
    values["d_lr"] = config.d_lr or config.lr
    values.update({f"1-{name}": 1 - values[name] for name in _COMPLEMENTED})
    return {name: np.float32(v) for name, v in values.items()}


def adam(
    learning_rate: Any,
    b1: Any,
    b2: Any,
    eps: Any,
    one_minus_b1: Any,
    one_minus_b2: Any,
) -> optax.GradientTransformation:
    """optax.adam(learning_rate, b1, b2, eps), with 1 - b1 and 1 - b2 given (see _COMPLEMENTED)."""

    def init(params: Any) -> optax.ScaleByAdamState:
        return optax.ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=optax.tree.zeros_like(params),
            nu=optax.tree.zeros_like(params),
        )

    def update(grads: Any, state: optax.ScaleByAdamState, params: Any = None) -> tuple[Any, Any]:
        mu = jax.tree.map(lambda g, m: one_minus_b1 * g + b1 * m, grads, state.mu)
        nu = jax.tree.map(lambda g, v: one_minus_b2 * g**2 + b2 * v, grads, state.nu)
        count = optax.safe_int32_increment(state.count)
        mu_hat = optax.tree.bias_correction(mu, b1, count)
        nu_hat = optax.tree.bias_correction(nu, b2, count)
        step_size = -1 * learning_rate
        updates = jax.tree.map(
            lambda m, v: step_size * (m / (jnp.sqrt(v + 0.0) + eps)), mu_hat, nu_hat
        )
        return updates, optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init, update)


def _adam_numbers(hparams: dict[str, Any], lr: str) -> dict[str, jax.Array]:
    names = {
        "learning_rate": lr,
        "b1": "beta1",
        "b2": "beta2",
        "eps": "eps",
        "one_minus_b1": "1-beta1",
        "one_minus_b2": "1-beta2",
    }
    return {
        arg: jnp.array(hparams[name]) for arg, name in names.items()
    }  # copies: each buffer once in a state


def optimiser(hparams: dict[str, Any], lr: str) -> optax.GradientTransformation:
    """Adam with its numbers in its state (`optax.inject_hyperparams`); `lr`: "lr" (G) or "d_lr" (D)."""
    return optax.inject_hyperparams(adam)(**_adam_numbers(hparams, lr))


class GANState(struct.PyTreeNode):
    """Both networks' parameters and Adam states, the generator EMA, the steps taken, the step's
    own numbers and whether training goes on: arrays only, one member's or a population's stacked."""

    step: jax.Array
    g_params: Any
    d_params: Any
    g_opt_state: Any  # optax.inject_hyperparams state: .hyperparams holds lr, b1, b2, eps
    d_opt_state: Any
    g_ema_params: Any  # the generator's weight EMA; an empty dict when EMA is off
    hparams: dict[str, jax.Array]  # ema_decay, d_dropout, the loss weights (and their complements)
    alive: jax.Array  # False once a step's losses were NaN/Inf: the state is the one before it

    @property
    def sampling_params(self) -> Any:
        """The generator weights that samples and evaluation use: the EMA when it is on."""
        return self.g_ema_params or self.g_params

    def hyperparameters(self) -> dict[str, jax.Array]:
        """The config's numbers this state trains with (stacked: each member's), by Config name."""
        g, d = self.g_opt_state.hyperparams, self.d_opt_state.hyperparams
        return {
            "lr": g["learning_rate"],
            "d_lr": d["learning_rate"],
            "beta1": g["b1"],
            "beta2": g["b2"],
            "eps": g["eps"],
            **{k: v for k, v in self.hparams.items() if not k.startswith("1-")},
        }


def with_hyperparams(state: GANState, hparams: dict[str, Any]) -> GANState:
    """`state` training on with the numbers `hparams` (as `hyperparams(config)` gives them)."""
    hparams = {k: jnp.array(v) for k, v in hparams.items()}

    def numbers(opt_state: Any, lr: str) -> Any:
        return opt_state._replace(hyperparams=_adam_numbers(hparams, lr))

    return state.replace(
        g_opt_state=numbers(state.g_opt_state, "lr"),
        d_opt_state=numbers(state.d_opt_state, "d_lr"),
        hparams={k: v for k, v in hparams.items() if k not in _OPTIMISER},
    )


def make_init(
    config: Config,
    generator: nn.Module,
    discriminator: nn.Module,
) -> Callable[[jax.Array, dict[str, Any] | None], GANState]:
    """`init(key, hparams=None)`: G and D initialised from `key` (PyTorch's default init), one Adam
    per network; `hparams` (default: the config's, `hyperparams(config)`) go into the state."""
    labels = jnp.zeros((1,), jnp.int32) if config.conditional else None

    def init(key: jax.Array, hparams: dict[str, Any] | None = None) -> GANState:
        hparams = {
            k: jnp.array(v)
            for k, v in (hyperparams(config) if hparams is None else hparams).items()
        }
        g_key, d_key = jax.random.split(key)
        g_params = generator.init(g_key, jnp.zeros((1, config.latent_dim)), labels)["params"]
        d_params = discriminator.init(d_key, jnp.zeros((1, config.pixels)), labels)["params"]
        return GANState(
            step=jnp.zeros((), jnp.int32),
            g_params=g_params,
            d_params=d_params,
            g_opt_state=optimiser(hparams, "lr").init(g_params),
            d_opt_state=optimiser(hparams, "d_lr").init(d_params),
            g_ema_params=jax.tree.map(jnp.copy, g_params) if config.ema_decay else {},
            hparams={k: v for k, v in hparams.items() if k not in _OPTIMISER},
            alive=jnp.ones((), bool),
        )

    return init


def make_step(config: Config, generator: nn.Module, discriminator: nn.Module) -> Step:
    """`step(state, batch, key)`: one reference iteration. D steps on real (1) and G(z) (0), then
    G on the same z against the *updated* D with label 1 (non-saturating loss); G runs forward once
    and its VJP is kept for the G step.

    `key` draws z ~ N(0, I). A conditional GAN generates the fakes for the batch's labels; with
    InfoGAN codes both steps add `info_loss`, with an ADC-GAN classifier `class_losses`; G's step
    adds `mode_seeking_loss` when weighted. A step whose losses are NaN/Inf leaves the state as it
    was, with `alive` False: the run (or the member) stops there."""
    codes, dropout = config.codes, bool(config.d_dropout)
    # Adam reads its numbers from its state: these transformations' own values are never used.
    g_tx, d_tx = (optimiser(hyperparams(config), lr) for lr in ("lr", "d_lr"))

    def discriminate(
        d_params: Any,
        hparams: dict[str, jax.Array],
        images: jax.Array,
        labels: jax.Array | None,
        key: jax.Array,
    ) -> Logits:
        module = discriminator.clone(dropout=hparams["d_dropout"]) if dropout else discriminator
        return module.apply({"params": d_params}, images, labels, train=True, rngs={"dropout": key})

    def d_update(
        state: GANState,
        batch: Batch,
        fake: jax.Array,
        z: jax.Array,
        keys: jax.Array,
    ) -> tuple[Any, optax.OptState, Metrics]:
        labels, hp = batch.get("label"), state.hparams

        def loss_fn(d_params):
            real = discriminate(d_params, hp, batch["image"], labels, keys[0])
            fake_out = discriminate(d_params, hp, fake, labels, keys[1])
            info = info_loss(codes, fake_out.code_logits, z, hp["info_weight"])
            loss = d_objective(config.loss, real.logit, fake_out.logit) + info
            metrics = {
                "d_real": jax.nn.sigmoid(real.logit).mean(),
                "d_fake": jax.nn.sigmoid(fake_out.logit).mean(),
            }
            if codes:
                metrics["info_loss"] = info
            if fake_out.class_logits is not None:
                metrics["class_loss"], _ = class_losses(
                    real.class_logits, fake_out.class_logits, labels
                )
                loss = loss + hp["class_loss"] * metrics["class_loss"]
            return loss, {"d_loss": loss, **metrics}

        grads, metrics = jax.grad(loss_fn, has_aux=True)(state.d_params)
        updates, opt_state = d_tx.update(grads, state.d_opt_state, state.d_params)
        return optax.apply_updates(state.d_params, updates), opt_state, metrics

    def step(state: GANState, batch: Batch, key: jax.Array) -> tuple[GANState, Metrics]:
        images, labels, hp = batch["image"], batch.get("label"), state.hparams
        z = jax.random.normal(key, (images.shape[0], config.latent_dim), images.dtype)
        fake, g_vjp = jax.vjp(lambda p: generator.apply({"params": p}, z, labels), state.g_params)
        dropout_keys = jax.random.split(jax.random.fold_in(key, 1), 3)  # z's key stays z's alone
        d_params, d_opt_state, metrics = d_update(state, batch, fake, z, dropout_keys[:2])

        def g_loss_fn(images):
            out = discriminate(d_params, hp, images, labels, dropout_keys[2])
            loss = g_objective(config.loss, out.logit) + info_loss(
                codes, out.code_logits, z, hp["info_weight"]
            )
            if out.class_logits is not None:
                loss = loss + hp["class_loss"] * class_losses(None, out.class_logits, labels)[1]
            if config.mode_seeking:
                loss = loss + hp["mode_seeking"] * mode_seeking_loss(images, z, labels)
            return loss

        g_loss, dloss_dfake = jax.value_and_grad(g_loss_fn)(fake)
        (g_grads,) = g_vjp(dloss_dfake)
        g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
        g_params = optax.apply_updates(state.g_params, g_updates)
        g_ema = state.g_ema_params
        if config.ema_decay:
            g_ema = jax.tree.map(
                lambda new, old: hp["1-ema_decay"] * new + hp["ema_decay"] * old, g_params, g_ema
            )
        new = state.replace(
            step=state.step + 1,
            g_params=g_params,
            d_params=d_params,
            g_opt_state=g_opt_state,
            d_opt_state=d_opt_state,
            g_ema_params=g_ema,
        )
        alive = state.alive & jnp.isfinite(metrics["d_loss"]) & jnp.isfinite(g_loss)
        new = jax.tree.map(lambda n, o: jnp.where(alive, n, o), new, state).replace(alive=alive)
        return new, {**metrics, "g_loss": g_loss, "alive": alive}

    return step
