"""`make_train(config)`: the pure functions of one GAN — init, step, a whole epoch as one compiled
function, and a whole run — each jit- and vmap-able, with no I/O. A population is `jax.vmap` of them.

The epoch derives its data order and per-step noise keys from the epoch key the same way as the
plain per-step loop `train_epoch_stepwise`, so both take identical steps: the compiled epoch is
only a faster schedule.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, TypedDict

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.config import Config
from jaxgan.data import epoch_order, normalize
from jaxgan.models import make_models
from jaxgan.step import Batch, GANState, Metrics, Step, make_init, make_step


class RunKeys(TypedDict):
    root: jax.Array  # the run's key: the others are split from it
    init: jax.Array  # both networks' initialisation
    train: jax.Array  # epoch e's data order and noise: fold_in(train, e)
    sample: jax.Array  # the fixed noise of the sample grids


def run_keys(seed: int | jax.Array) -> RunKeys:
    """Independent key streams of a run (of a seed, or of a key): initialisation, training and
    sample grids."""
    is_key = isinstance(seed, jax.Array) and jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key)
    root = seed if is_key else jax.random.key(seed)
    init, train, sample = jax.random.split(root, 3)
    return {"root": root, "init": init, "train": train, "sample": sample}


def epoch_key(train_key: jax.Array, epoch: int | jax.Array) -> jax.Array:
    """Data order and noise of epoch `epoch` (0-based): a pure function of seed and epoch."""
    return jax.random.fold_in(train_key, epoch)


def epoch_plan(epoch_key: jax.Array, num_examples: int, batch_size: int, drop_last: bool):
    """(full-batch indices (S, B), last partial batch or None, one key per step)."""
    order_key, steps_key = jax.random.split(epoch_key)
    full, rest = epoch_order(order_key, num_examples, batch_size, drop_last)
    keys = jax.random.split(steps_key, full.shape[0] + (rest is not None))
    return full, rest, keys


def batch_of(
    images: jax.Array,
    labels: jax.Array | None,
    idx: jax.Array,
    sharding: jax.sharding.Sharding | None = None,
) -> Batch:
    """The examples `idx` of the uint8 dataset (rows, or images of any layout), normalised as rows
    (B, H*W*C), split over devices by `sharding`."""
    batch = {"image": normalize(images[idx]).reshape(idx.shape[0], -1)}
    if labels is not None:
        batch["label"] = labels[idx].astype(jnp.int32)
    if sharding is not None:
        batch = jax.lax.with_sharding_constraint(batch, sharding)
    return batch


def train_epoch(
    step: Step,
    state: Any,
    images: jax.Array,
    epoch_key: jax.Array,
    labels: jax.Array | None = None,
    *,
    batch_size: int = 64,
    drop_last: bool = False,
    data_sharding: jax.sharding.Sharding | None = None,
) -> tuple[Any, Metrics]:
    """Shuffle, normalise, batch and `step` through one epoch on the device; metrics are per step
    (S,). `labels` (N,) are needed only by a conditional GAN."""
    full, rest, keys = epoch_plan(epoch_key, images.shape[0], batch_size, drop_last)

    def body(state, xs):
        idx, key = xs
        return step(state, batch_of(images, labels, idx, data_sharding), key)

    state, metrics = jax.lax.scan(body, state, (full, keys[: full.shape[0]]))
    if rest is not None:  # a second, smaller shape: the reference keeps the last partial batch
        state, last = step(state, batch_of(images, labels, rest, data_sharding), keys[-1])
        metrics = jax.tree.map(lambda m, x: jnp.concatenate([m, x[None]]), metrics, last)
    return state, metrics


def train_epoch_stepwise(
    step: Step,
    state: GANState,
    images: jax.Array,
    epoch_key: jax.Array,
    labels: jax.Array | None = None,
    *,
    batch_size: int,
    drop_last: bool,
) -> tuple[GANState, Metrics]:
    """The same epoch as `train_epoch`, one jitted step per batch from Python."""
    step_on = jax.jit(
        lambda state, idx, key: step(state, batch_of(images, labels, idx), key), donate_argnums=0
    )
    full, rest, keys = epoch_plan(epoch_key, images.shape[0], batch_size, drop_last)
    batches = list(full) + ([rest] if rest is not None else [])
    history = []
    for idx, key in zip(batches, keys, strict=False):
        state, metrics = step_on(state, idx, key)
        history.append(metrics)
    return state, jax.tree.map(lambda *xs: jnp.stack(xs), *history)


class TrainFunctions(NamedTuple):
    """The pure functions of one GAN config (`make_train`); every one jit- and vmap-able."""

    config: Config
    generator: nn.Module
    discriminator: nn.Module
    init: Callable[..., GANState]  # (key, hparams=None) -> a fresh state
    step: Step  # (state, batch, key) -> (state, metrics)
    epoch: Callable[
        ..., tuple[GANState, Metrics]
    ]  # (state, images, epoch_key, labels=None) -> (state, (S,))
    train: Callable[
        ..., tuple[GANState, Metrics]
    ]  # (key, images, labels=None, hparams=None) -> (state, (E, S))


def make_train(
    config: Config, *, generator: nn.Module | None = None, discriminator: nn.Module | None = None
) -> TrainFunctions:
    """The pure functions that train `config`'s GAN. `generator`/`discriminator`: Flax modules
    with the built-in ones' call contract (`G(z, labels)` -> (B, H*W*C) image rows;
    `D(x, labels, train)` -> `Logits`) in their place.

    `train(key, images, labels=None, hparams=None)` is a whole run on uint8 images of
    `config.image_shape` ((N, 28, 28) for MNIST, or rows (N, H*W*C); `data.with_data` sets the
    config for an array):
    with `key = jax.random.key(seed)` exactly the steps of `jaxgan.train` with that seed. `hparams`
    (default `step.hyperparams(config)`) are the numbers the state carries; a population is
    `jax.vmap(train, in_axes=(0, None, None, 0))(keys, images, labels, stacked_hparams)`."""
    config.validate()
    built = make_models(config)
    generator, discriminator = generator or built[0], discriminator or built[1]
    init = make_init(config, generator, discriminator)
    step = make_step(config, generator, discriminator)

    def epoch(
        state: GANState,
        images: jax.Array,
        key: jax.Array,
        labels: jax.Array | None = None,
        *,
        data_sharding: jax.sharding.Sharding | None = None,
    ) -> tuple[GANState, Metrics]:
        return train_epoch(
            step,
            state,
            images,
            key,
            labels,
            batch_size=config.batch_size,
            drop_last=config.drop_last,
            data_sharding=data_sharding,
        )

    def train(
        key: jax.Array,
        images: jax.Array,
        labels: jax.Array | None = None,
        hparams: dict[str, Any] | None = None,
    ) -> tuple[GANState, Metrics]:
        keys = run_keys(key)
        return jax.lax.scan(
            lambda state, e: epoch(state, images, epoch_key(keys["train"], e), labels),
            init(keys["init"], hparams),
            jnp.arange(config.epochs),
        )

    return TrainFunctions(config, generator, discriminator, init, step, epoch, train)


@functools.lru_cache(maxsize=16)
def state_template(config: Config) -> GANState:
    """The state's arrays as shapes and dtypes, without computing them (traced once per config)."""
    return jax.eval_shape(make_train(config).init, jax.random.key(0))
