"""InfoGAN categorical codes and a generator shaped apart from the discriminator."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import load_script
from jaxgan import cli
from jaxgan.config import Config
from jaxgan.epoch import train_epoch, train_epoch_stepwise
from jaxgan.errors import IncompatibleCheckpointError
from jaxgan.evaluation import Evaluator, code_purity
from jaxgan.loop import train_and_evaluate
from jaxgan.models import latent_codes
from jaxgan.sampling import generate, with_codes
from jaxgan.step import create_train_state, train_step

INFO = Config(batch_size=16, hidden_dim=32, latent_dim=12, codes=10)


def batch(n: int = 16) -> jax.Array:
    return jax.random.uniform(jax.random.key(0), (n, 784), minval=-1, maxval=1)


def test_codes_are_uniform_and_with_codes_only_permutes_the_code_coordinates():
    z = jax.random.normal(jax.random.key(0), (20_000, 12))
    counts = np.bincount(np.asarray(latent_codes(z, 10)), minlength=10)
    assert counts.min() > 1800 and counts.max() < 2200  # 2,000 each; sd ~ 42
    target = jnp.arange(20_000) % 10
    moved = with_codes(z, 10, target)
    np.testing.assert_array_equal(latent_codes(moved, 10), target)
    np.testing.assert_array_equal(jnp.sort(moved[:, :10], -1), jnp.sort(z[:, :10], -1))
    np.testing.assert_array_equal(moved[:, 10:], z[:, 10:])
    unchanged = latent_codes(z, 10) == target
    np.testing.assert_array_equal(moved[unchanged], z[unchanged])


def test_generator_reads_the_code_only_through_its_argmax():
    state = create_train_state(INFO, jax.random.key(0))
    assert state.g_params["hidden"]["kernel"].shape == (12, 32)  # 2 noise + 10 one-hot
    assert state.d_params["q"]["kernel"].shape == (32, 10)
    z = jax.random.normal(jax.random.key(1), (8, 12))
    code = latent_codes(z, 10)
    flattened = z.at[:, :10].set(jax.nn.one_hot(code, 10))  # other head values: gone
    np.testing.assert_array_equal(generate(state, z), generate(state, flattened))
    other = with_codes(z, 10, (code + 1) % 10)
    assert not np.allclose(generate(state, z), generate(state, other))


def test_info_loss_is_q_cross_entropy_added_to_both_losses():
    on = create_train_state(INFO, jax.random.key(0))
    off = create_train_state(INFO.replace(info_weight=0.0), jax.random.key(0))
    key = jax.random.key(1)
    new_on, m_on = jax.jit(train_step)(on, batch(), key)
    new_off, m_off = jax.jit(train_step)(off, batch(), key)
    z = jax.random.normal(key, (16, 12))  # the step's draw
    fake = generate(on, z).reshape(16, 784)
    _, code_logits = on.discriminator.apply({"params": on.d_params}, fake, with_codes=True)
    ce = optax.softmax_cross_entropy_with_integer_labels(code_logits, latent_codes(z, 10)).mean()
    assert float(m_on["info_loss"]) == pytest.approx(float(ce), rel=1e-5)
    assert float(m_on["d_loss"] - m_off["d_loss"]) == pytest.approx(float(ce), rel=1e-4)
    # Weight 0: Q gets no gradient, so Adam leaves it exactly where it was; weight 1 trains it.
    np.testing.assert_array_equal(new_off.d_params["q"]["kernel"], off.d_params["q"]["kernel"])
    assert not np.allclose(new_on.d_params["q"]["kernel"], on.d_params["q"]["kernel"])


def test_infogan_epoch_with_dropout_is_bit_identical_to_stepping():
    config = INFO.replace(batch_size=32, d_dropout=0.3, g_depth=2, ema_decay=0.5)
    images = jax.random.randint(jax.random.key(5), (100, 784), 0, 256).astype(np.uint8)
    state = create_train_state(config, jax.random.key(0))
    fast = jax.jit(functools.partial(train_epoch, batch_size=32, drop_last=False))
    a, ma = fast(state, images, jax.random.key(1))
    b, mb = train_epoch_stepwise(state, images, jax.random.key(1), batch_size=32, drop_last=False)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(ma["info_loss"], mb["info_loss"])


def test_generator_width_and_depth_apart_from_the_discriminator():
    def count(params):
        return sum(x.size for x in jax.tree.leaves(params))

    config = Config(hidden_dim=16, g_hidden_dim=64, g_depth=2, latent_dim=8)
    state = create_train_state(config, jax.random.key(0))
    assert count(state.g_params) == 8 * 64 + 64 + 64 * 64 + 64 + 64 * 784 + 784
    assert count(state.d_params) == 784 * 16 + 16 + 16 + 1
    # 0 means "as D": spelling the same shape out is the same shape.
    assert Config(depth=2).shape_mismatches(Config(depth=2, g_depth=2)) == []
    assert Config(hidden_dim=64).shape_mismatches(Config(g_hidden_dim=64)) == ["hidden_dim"]
    assert Config().shape_mismatches(Config(g_depth=2)) == ["g_depth"]


def test_code_purity():
    scores = code_purity(np.array([0, 0, 0, 1, 1, 2]), np.array([3, 3, 5, 7, 7, 1]), num_codes=4)
    assert scores == {"code_purity": pytest.approx(5 / 6), "code_digits": [3, 7, 1, -1]}


def test_infogan_trains_samples_by_code_and_scores_codes(idx_mnist, tmp_path, capsys):
    workdir = tmp_path / "run"
    flags = ["--codes", "4", "--latent-dim", "6", "--hidden-dim", "16", "--g-depth", "2",
             "--batch-size", "32", "--epochs", "1", "--workdir", str(workdir),
             "--data-dir", idx_mnist, "--no-progress", "--no-tensorboard"]
    assert cli.run(load_script("train").main, flags) == 0
    sample = load_script("sample")
    npz = tmp_path / "s.npz"
    assert cli.run(sample.main, ["--workdir", str(workdir), "--grid", "8x3", "--export", str(npz)]) == 0
    assert np.load(npz)["codes"].reshape(8, 3)[:, 0].tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert cli.run(sample.main, ["--workdir", str(workdir), "--code", "2", "--n", "5",
                                 "--export", str(npz)]) == 0
    assert np.load(npz)["codes"].tolist() == [2] * 5
    assert cli.run(sample.main, ["--workdir", str(workdir), "--interpolate", "--grid", "2x3",
                                 "--export", str(npz)]) == 0
    assert np.load(npz)["codes"].tolist() == [0, 0, 0, 1, 1, 1]
    assert cli.run(sample.main, ["--workdir", str(workdir), "--code", "4"]) == 2
    assert "--code must be in 0..3" in capsys.readouterr().err

    from jaxgan import classifier
    from jaxgan.checkpoint import restore_path

    state, _ = restore_path(workdir)
    params = classifier.Classifier().init(jax.random.key(0), jnp.zeros((1, 784)))["params"]
    pixels = np.random.default_rng(0).integers(0, 256, (100, 784), dtype=np.uint8)
    scores = Evaluator(params, pixels).score_generator(state, n=200)
    assert 0.1 <= scores["code_purity"] <= 1 and len(scores["code_digits"]) == 4
    with pytest.raises(IncompatibleCheckpointError, match="--codes 4 \\(saved\\) vs 0"):
        train_and_evaluate(Config(latent_dim=6, hidden_dim=16, g_depth=2, batch_size=32, epochs=2),
                           workdir, data_dir=idx_mnist, resume=True, progress=False)
