"""make_train's pure functions: the compiled epoch takes exactly the steps of the per-batch loop;
a whole run is a pure function of its key, a population its vmap, and modules of one's own fit."""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.data import from_arrays, with_data
from jaxgan.epoch import epoch_key, make_train, run_keys, train_epoch, train_epoch_stepwise
from jaxgan.models import Logits
from jaxgan.step import SWEEPABLE, GANState, hyperparams

from conftest import TINY, assert_trees_equal, digits, fns, init, uint8_images


@pytest.mark.slow
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"arch": "dcgan", "channels": 4, "conditional": True, "d_dropout": 0.5},
        {"conditional": True, "ema_decay": 0.5},
        {"codes": 4, "depth": 2},
        {"d_dropout": 0.3, "loss": "hinge"},
    ],
    ids=["mlp", "dcgan", "conditional", "codes", "dropout"],
)
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


# --- make_train: the pure functions, a population as their vmap, modules of one's own --------


class OwnGenerator(nn.Module):
    """A generator of the test's own: another width, another activation, Flax's own layers."""

    @nn.compact
    def __call__(self, z, labels=None):
        return jnp.tanh(nn.Dense(784)(nn.gelu(nn.Dense(24)(z))))


class OwnDiscriminator(nn.Module):
    @nn.compact
    def __call__(self, x, labels=None, train=False):
        return Logits(nn.Dense(1)(nn.swish(nn.Dense(12)(x)))[..., 0], None, None)


def test_the_state_holds_arrays_only_and_every_number_a_sweep_varies():
    state = init(TINY.replace(ema_decay=0.9, d_dropout=0.2))
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(state))
    # Nothing rides on the state outside its arrays: it rebuilds from its leaves alone.
    leaves, treedef = jax.tree.flatten(state)
    assert_trees_equal(jax.tree.unflatten(treedef, [np.asarray(x) for x in leaves]), state)
    assert all(f.metadata.get("pytree_node", True) for f in dataclasses.fields(GANState))
    numbers = state.hyperparameters()
    assert set(numbers) == {*SWEEPABLE, "d_lr"} and float(numbers["ema_decay"]) == np.float32(0.9)
    assert float(numbers["lr"]) == np.float32(2e-4) and float(numbers["d_dropout"]) == np.float32(
        0.2
    )


@pytest.mark.slow
def test_train_is_a_pure_whole_run_and_a_population_is_its_vmap():
    config = TINY.replace(epochs=2, batch_size=16)
    images, _ = uint8_images(48)
    gan = make_train(config)
    train = jax.jit(gan.train)
    one, metrics = train(jax.random.key(3), images)
    assert metrics["d_loss"].shape == (2, 3) and int(one.step) == 6
    assert_trees_equal(train(jax.random.key(3), images)[0], one)
    # The steps of the compiled epoch, epoch by epoch, from the run's key streams.
    keys = run_keys(jax.random.key(3))
    state = gan.init(keys["init"])
    for e in range(2):
        state, _ = jax.jit(gan.epoch)(state, images, epoch_key(keys["train"], e))
    assert_trees_equal(state, one)
    # Two seeds times two learning rates: stacked keys and numbers, one vmapped program.
    lrs, seeds = [2e-4, 1e-3], [3, 4]
    numbers = [hyperparams(config.replace(lr=lr)) for lr in lrs for _ in seeds]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *numbers)
    member_keys = jnp.stack([jax.random.key(s) for _ in lrs for s in seeds])
    states, metrics = jax.jit(jax.vmap(gan.train, in_axes=(0, None, None, 0)))(
        member_keys, images, None, stacked
    )
    assert metrics["d_loss"].shape == (4, 2, 3)
    np.testing.assert_array_equal(
        states.hyperparameters()["lr"], np.float32([2e-4, 2e-4, 1e-3, 1e-3])
    )
    members = [jax.tree.map(lambda x, i=i: x[i], states) for i in range(4)]
    for member, key, member_numbers in zip(members, member_keys, numbers, strict=True):
        assert_trees_equal(
            member, train(key, images, None, member_numbers)[0], rtol=1e-4, atol=1e-6
        )
    assert_trees_equal(members[0], one, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_modules_of_ones_own_train_as_pure_functions_and_as_a_run(idx_mnist, tmp_path):
    import jaxgan

    config = TINY.replace(epochs=1)
    own = {"generator": OwnGenerator(), "discriminator": OwnDiscriminator()}
    gan = make_train(config, **own)
    state, metrics = jax.jit(gan.train)(jax.random.key(0), uint8_images(64)[0])
    assert state.g_params["Dense_1"]["kernel"].shape == (8, 24)
    assert state.d_params["Dense_1"]["kernel"].shape == (784, 12)
    assert np.isfinite(metrics["g_loss"]).all() and int(state.step) == 2
    # The run's shell takes them as they are: checkpoints, resume, loading, sampling, scoring.
    result = jaxgan.train(config, tmp_path / "run", data_dir=idx_mnist, progress=False, **own)
    assert result.state.g_params["Dense_1"]["kernel"].shape == (8, 24)
    resumed = jaxgan.train(
        config.replace(epochs=2),
        tmp_path / "run",
        data_dir=idx_mnist,
        progress=False,
        resume=True,
        **own,
    )
    assert int(resumed.state.step) == 2 * int(result.state.step)
    model = jaxgan.load(tmp_path / "run", **own)
    assert_trees_equal(model.state, resumed.state)
    assert model.sample(5, seed=1).shape == (5, 28, 28)
    with pytest.raises(jaxgan.CheckpointError, match="no readable checkpoint"):
        jaxgan.load(tmp_path / "run")  # the built-in modules' arrays are not these
    scores = jaxgan.Evaluator.standard().score_generator(gan, resumed.state, 300, 0)
    assert np.isfinite(scores["fid"])
    pop = jaxgan.train(config, tmp_path / "pop", seeds=2, data_dir=idx_mnist, progress=False, **own)
    member = jaxgan.load(tmp_path / "pop" / "members" / "1", **own)
    assert_trees_equal(member.state, pop.members[1].state)


@pytest.mark.slow
def test_the_pure_train_takes_any_image_array_of_its_configs_shape():
    """The 8x8 digits as images or as rows: the same run, bit for bit."""
    images, labels = digits()
    images, labels = images[:96], labels[:96]
    config = with_data(TINY.replace(epochs=1, conditional=True), from_arrays(images, labels))
    train = jax.jit(make_train(config).train)
    state, metrics = train(jax.random.key(0), images, labels)
    rows, _ = train(jax.random.key(0), images.reshape(96, 64), labels)
    assert state.g_params["out"]["kernel"].shape == (16, 64) and metrics["d_loss"].shape == (1, 3)
    assert_trees_equal(state, rows)
