"""Options beyond the reference: objectives, EMA, depth, presets, class-conditional GAN."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_script
from jaxgan import cli
from jaxgan.config import Config
from jaxgan.epoch import train_epoch, train_epoch_stepwise
from jaxgan.errors import ConfigError
from jaxgan.evaluation import Evaluator, classification_accuracy_score
from jaxgan.loop import train_and_evaluate
from jaxgan.sampling import generate
from jaxgan.step import create_train_state, train_step

SMALL = Config(batch_size=16, hidden_dim=32, latent_dim=8)


def batch(n: int = 16) -> jax.Array:
    return jax.random.uniform(jax.random.key(0), (n, 784), minval=-1, maxval=1)


@pytest.mark.parametrize("changes, message", [
    ({"loss": "wasserstein"}, "--loss must be one of"),
    ({"ema_decay": 1.0}, "--ema-decay"),
    ({"label_smoothing": 0.7}, "--label-smoothing"),
    ({"depth": 0}, "--depth"),
    ({"arch": "resnet"}, "--arch must be one of"),
    ({"channels": 0}, "--channels"),
    ({"d_dropout": 1.0}, "--d-dropout"),
    ({"d_lr": -1e-4}, "--d-lr"),
    ({"d_lr": float("nan")}, "--d-lr"),
    ({"r1_gamma": -1.0}, "--r1-gamma"),
    ({"codes": 1}, "--codes must be 0"),
    ({"codes": 100}, "--codes must be 0 \\(off\\) or 2 .. latent_dim - 1 = 99"),
    ({"info_weight": -1.0}, "--info-weight"),
    ({"g_depth": -1}, "--g-depth"),
    ({"g_hidden_dim": 2.5}, "--g-hidden-dim"),
])
def test_invalid_options_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        Config(**changes).validate()


def test_presets():
    assert Config.preset("reference") == Config()
    quality = Config.preset("quality").validate()
    assert quality.hidden_dim > 128 and quality.ema_decay > 0 and quality.beta1 < 0.9
    assert 0 < quality.codes < quality.latent_dim and quality.arch == "mlp"
    with pytest.raises(ConfigError, match="unknown --preset"):
        Config.preset("best")


def test_depth_and_conditioning_change_the_networks():
    def count(params):
        return sum(x.size for x in jax.tree.leaves(params))

    h = 32
    deep = create_train_state(Config(hidden_dim=h, depth=2), jax.random.key(0))
    assert count(deep.g_params) == 100 * h + h + h * h + h + h * 784 + 784
    assert count(deep.d_params) == 784 * h + h + h * h + h + h + 1
    cond = create_train_state(Config(hidden_dim=h, conditional=True), jax.random.key(0))
    assert cond.g_params["hidden"]["kernel"].shape == (110, h)  # z and a one-hot label
    assert cond.d_params["embed"]["embedding"].shape == (10, h)  # projection discriminator
    z = jax.random.normal(jax.random.key(1), (2, 100))
    sevens, ones = (generate(cond, z, jnp.array([d, d])) for d in (7, 1))
    assert not np.allclose(sevens, ones)


@pytest.mark.parametrize("loss, initial", [("hinge", 2.0), ("lsgan", 0.5)])
def test_alternative_objectives_start_where_their_formula_says(loss, initial):
    """At init the logits are near 0: hinge D = relu(1-0)+relu(1+0) = 2; LSGAN D = 0.5*1 + 0."""
    state = create_train_state(SMALL.replace(loss=loss), jax.random.key(0))
    step = jax.jit(train_step)
    _, metrics = step(state, batch(), jax.random.key(1))
    assert float(metrics["d_loss"]) == pytest.approx(initial, abs=0.25)
    for i in range(5):
        state, metrics = step(state, batch(), jax.random.key(i))
    assert all(math.isfinite(float(v)) for v in metrics.values())


def test_label_smoothing_lowers_the_real_target():
    plain = create_train_state(SMALL, jax.random.key(0))
    smooth = create_train_state(SMALL.replace(label_smoothing=0.2), jax.random.key(0))
    _, a = jax.jit(train_step)(plain, batch(), jax.random.key(1))
    _, b = jax.jit(train_step)(smooth, batch(), jax.random.key(1))
    assert float(a["d_loss"]) != float(b["d_loss"]) and float(a["g_loss"]) != float(b["g_loss"])


def test_generator_ema_follows_its_formula():
    state = create_train_state(SMALL.replace(ema_decay=0.9), jax.random.key(0))
    new, _ = jax.jit(train_step)(state, batch(), jax.random.key(1))
    for ema, old, cur in zip(jax.tree.leaves(new.g_ema_params), jax.tree.leaves(state.g_params),
                             jax.tree.leaves(new.g_params)):
        np.testing.assert_allclose(ema, 0.9 * old + 0.1 * cur, rtol=1e-6, atol=1e-7)
    assert new.sampling_params is new.g_ema_params
    off = create_train_state(SMALL, jax.random.key(0))
    assert off.g_ema_params == {} and off.sampling_params is off.g_params


def test_conditional_compiled_epoch_is_bit_identical_to_stepping():
    config = Config(batch_size=32, hidden_dim=16, latent_dim=8, conditional=True, ema_decay=0.5)
    images = jax.random.randint(jax.random.key(5), (100, 784), 0, 256).astype(np.uint8)
    labels = jax.random.randint(jax.random.key(6), (100,), 0, 10).astype(np.uint8)
    state = create_train_state(config, jax.random.key(0))
    fast = jax.jit(functools.partial(train_epoch, batch_size=32, drop_last=False))
    a, ma = fast(state, images, jax.random.key(1), labels)
    b, mb = train_epoch_stepwise(state, images, jax.random.key(1), labels, batch_size=32,
                                 drop_last=False)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(ma["d_loss"], mb["d_loss"])


def test_conditional_run_samples_digits_and_scores_them(idx_mnist, tmp_path, capsys):
    config = Config(batch_size=32, hidden_dim=16, latent_dim=8, epochs=1, conditional=True)
    state = train_and_evaluate(config, tmp_path / "run", data_dir=idx_mnist, progress=False)
    sample = load_script("sample")
    npz = tmp_path / "s.npz"
    assert cli.run(sample.main, ["--workdir", str(tmp_path / "run"), "--digit", "7", "--grid",
                                 "2x5", "--export", str(npz)]) == 0
    exported = np.load(npz)
    assert exported["images"].shape == (10, 28, 28) and (exported["labels"] == 7).all()
    assert cli.run(sample.main, ["--workdir", str(tmp_path / "run"), "--grid", "10x4",
                                 "--export", str(npz)]) == 0
    assert np.load(npz)["labels"].reshape(10, 4)[:, 0].tolist() == list(range(10))

    from jaxgan import classifier

    params = classifier.Classifier().init(jax.random.key(0), jnp.zeros((1, 784)))["params"]
    pixels = np.random.default_rng(0).integers(0, 256, (100, 784), dtype=np.uint8)
    scores = Evaluator(params, pixels).score_generator(state, n=100)
    assert 0 <= scores["conditional_accuracy"] <= 1
    cas = classification_accuracy_score(state, pixels, np.arange(100) % 10, n=200)
    assert 0 <= cas <= 1

    plain = tmp_path / "plain"
    train_and_evaluate(config.replace(conditional=False), plain, data_dir=idx_mnist, progress=False)
    assert cli.run(sample.main, ["--workdir", str(plain), "--digit", "3"]) == 2
    assert "needs a conditional model" in capsys.readouterr().err
