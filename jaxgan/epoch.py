"""A whole training epoch as one compiled function, and the plain per-step loop it must equal.

Both derive the epoch's data order and per-step noise keys from the epoch key in the same way, so
they take identical steps: `train_epoch` is only a faster schedule of `train_epoch_stepwise`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import jax
import jax.numpy as jnp

from jaxgan.data import epoch_order, normalize
from jaxgan.step import Batch, GANState, Metrics, train_step


def epoch_plan(epoch_key: jax.Array, num_examples: int, batch_size: int, drop_last: bool):
    """(full-batch indices (S, B), last partial batch or None, one key per step)."""
    order_key, steps_key = jax.random.split(epoch_key)
    full, rest = epoch_order(order_key, num_examples, batch_size, drop_last)
    keys = jax.random.split(steps_key, full.shape[0] + (rest is not None))
    return full, rest, keys


def batch_of(images: jax.Array, labels: jax.Array | None, idx: jax.Array,
             sharding: jax.sharding.Sharding | None = None) -> Batch:
    """The examples `idx` of the uint8 dataset, normalised, split over devices by `sharding`."""
    batch = {"image": normalize(images[idx])}
    if labels is not None:
        batch["label"] = labels[idx].astype(jnp.int32)
    if sharding is not None:
        batch = jax.lax.with_sharding_constraint(batch, sharding)
    return batch


def step_on(state: GANState, images: jax.Array, labels: jax.Array | None, idx: jax.Array,
            key: jax.Array) -> tuple[GANState, Metrics]:
    """`train_step` on the examples `idx`: what one iteration of the epoch's scan does."""
    return train_step(state, batch_of(images, labels, idx), key)


def train_epoch(
    state: GANState,
    images: jax.Array,
    epoch_key: jax.Array,
    labels: jax.Array | None = None,
    *,
    batch_size: int = 64,
    drop_last: bool = False,
    data_sharding: jax.sharding.Sharding | None = None,
    step: Callable[[Any, Batch, jax.Array], tuple[Any, Metrics]] = train_step,
) -> tuple[Any, Metrics]:
    """Shuffle, normalise, batch and train one epoch on the device; metrics are per step (S,).

    `labels` (N,) are needed only by a conditional GAN. `step` updates the carried `state`
    (default `train_step`: a GANState)."""
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
    state: GANState,
    images: jax.Array,
    epoch_key: jax.Array,
    labels: jax.Array | None = None,
    *,
    batch_size: int,
    drop_last: bool,
    step_fn: Callable[..., tuple[GANState, Metrics]] | None = None,
) -> tuple[GANState, Metrics]:
    """The same epoch as `train_epoch`, one jitted `step_on` call per batch from Python."""
    step_fn = step_fn or jax.jit(step_on)
    full, rest, keys = epoch_plan(epoch_key, images.shape[0], batch_size, drop_last)
    batches = list(full) + ([rest] if rest is not None else [])
    history = []
    for idx, key in zip(batches, keys, strict=False):
        state, metrics = step_fn(state, images, labels, idx, key)
        history.append(metrics)
    return state, jax.tree.map(lambda *xs: jnp.stack(xs), *history)


class RunKeys(TypedDict):
    root: jax.Array  # key(seed): the others are split from it
    init: jax.Array  # both networks' initialisation
    train: jax.Array  # epoch e's data order and noise: fold_in(train, e)
    sample: jax.Array  # the fixed noise of the sample grids


def run_keys(seed: int) -> RunKeys:
    """Independent key streams of a run: initialisation, training and sample grids."""
    root = jax.random.key(seed)
    init, train, sample = jax.random.split(root, 3)
    return {"root": root, "init": init, "train": train, "sample": sample}


def epoch_key(train_key: jax.Array, epoch: int) -> jax.Array:
    """Data order and noise of epoch `epoch` (0-based): a pure function of seed and epoch."""
    return jax.random.fold_in(train_key, epoch)
