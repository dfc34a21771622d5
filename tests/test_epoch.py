"""The compiled epoch: one program that takes exactly the steps of the per-batch loop."""

import functools

import jax
import numpy as np
import pytest

from jaxgan.epoch import train_epoch, train_epoch_stepwise

from conftest import TINY, assert_trees_equal, fns, init, uint8_images


@pytest.mark.parametrize("changes", [
    {},
    {"arch": "dcgan", "channels": 4, "conditional": True, "d_dropout": 0.5},
    {"conditional": True, "ema_decay": 0.5},
    {"codes": 4, "depth": 2},
    {"d_dropout": 0.3, "loss": "hinge"},
], ids=["mlp", "dcgan", "conditional", "codes", "dropout"])
def test_compiled_epoch_equals_stepping_one_batch_at_a_time(changes):
    """Bit-identical for the MLPs; the DCGAN's to float round-off only (XLA may fuse its patch
    matmuls differently inside the scanned program), and bit-identical from run to run."""
    config = TINY.replace(**changes)
    # A partial last batch (6 x 32 + 8, 2 x 32 + 8) except for the DCGAN, whose per-step programs
    # are slow to compile: the partial batch is handled alike for every architecture.
    num_examples = 200 if not changes else 64 if config.arch == "dcgan" else 72
    images, labels = uint8_images(num_examples)
    labels = labels if config.conditional else None
    # Adam divides by the gradients' size, so the DCGAN's round-off grows to ~1e-4 in a few steps.
    tolerance = {"rtol": 1e-3, "atol": 1e-3} if config.arch == "dcgan" else {}
    fast = jax.jit(functools.partial(train_epoch, fns(config).step, batch_size=32, drop_last=False))
    slow = functools.partial(train_epoch_stepwise, fns(config).step, batch_size=32, drop_last=False)
    a = b = init(config)
    epochs = 2 if not changes else 1
    for epoch in range(epochs):
        key = jax.random.fold_in(jax.random.key(1), epoch)
        a, ma = fast(a, images, key, labels)
        b, mb = slow(b, images, key, labels)
        steps = -(-num_examples // 32)
        assert ma["d_loss"].shape == (steps,) and np.isfinite(ma["g_loss"]).all()
        assert_trees_equal(ma, mb, **tolerance)
    assert_trees_equal(a, b, **tolerance)
    assert int(a.step) == steps * epochs
    if tolerance:
        key = jax.random.fold_in(jax.random.key(1), 0)
        again, _ = fast(init(config), images, key, labels)
        assert_trees_equal(again, a)


def test_drop_last_skips_the_partial_batch():
    fast = jax.jit(functools.partial(train_epoch, fns(TINY).step, batch_size=32, drop_last=True))
    state, metrics = fast(init(TINY), uint8_images(200)[0], jax.random.key(1))
    assert metrics["g_loss"].shape == (6,) and int(state.step) == 6
