"""A run's random key streams, all derived from its seed."""

from __future__ import annotations

import jax


def run_keys(seed: int) -> dict[str, jax.Array]:
    """Independent key streams of a run: initialisation, training and sample grids."""
    root = jax.random.key(seed)
    init, train, sample = jax.random.split(root, 3)
    return {"root": root, "init": init, "train": train, "sample": sample}


def epoch_key(train_key: jax.Array, epoch: int) -> jax.Array:
    """Data order and noise of epoch `epoch` (0-based): a pure function of seed and epoch."""
    return jax.random.fold_in(train_key, epoch)
