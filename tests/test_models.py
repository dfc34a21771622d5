"""Generators and discriminators: shapes, PyTorch's initialisation, conditioning, codes, convs."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.config import Config
from jaxgan.models import Discriminator, Generator, latent_codes
from jaxgan.sampling import generate, with_codes

from conftest import count, fns, init, real_batch

DCGAN = Config(arch="dcgan", channels=4, latent_dim=8, batch_size=16)
INFO = Config(batch_size=16, hidden_dim=32, latent_dim=12, codes=10)


@pytest.fixture(scope="module")
def state():
    return init(Config())


def test_parameter_counts_match_the_reference(state):
    assert count(state.g_params) == 114_064  # 100*128+128 + 128*784+784
    assert count(state.d_params) == 100_609  # 784*128+128 + 128*1+1


def test_shapes_and_output_ranges(state):
    z = jax.random.normal(jax.random.key(1), (5, 100)) * 10  # large z saturates tanh
    images = Generator().apply({"params": state.g_params}, z)
    assert images.shape == (5, 784) and images.dtype == jnp.float32
    assert float(images.min()) >= -1.0 and float(images.max()) <= 1.0
    logits, code_logits, class_logits = Discriminator().apply({"params": state.d_params}, images)
    assert logits.shape == (5,) and code_logits is None and class_logits is None


def test_initialisation_is_pytorch_linear_default(state):
    layers = {
        **{f"G{k}": v for k, v in state.g_params.items()},
        **{f"D{k}": v for k, v in state.d_params.items()},
    }
    assert len(layers) == 4
    for name, layer in layers.items():
        bound = 1 / math.sqrt(layer["kernel"].shape[0])
        for leaf in (layer["kernel"], layer["bias"]):
            values = np.asarray(leaf).ravel()
            assert np.abs(values).max() <= bound, name
            if values.size >= 100:  # U(-b, b): spans the interval, std b/sqrt(3)
                assert np.abs(values).max() > 0.9 * bound, name
                assert abs(values.std() - bound / math.sqrt(3)) < 0.1 * bound, name
                assert abs(values.mean()) < 0.1 * bound, name


def test_generator_and_discriminator_get_independent_keys(state):
    g0 = np.asarray(state.g_params["hidden"]["kernel"]).ravel()[:100]
    d0 = np.asarray(state.d_params["hidden"]["kernel"]).ravel()[:100]
    assert not np.allclose(g0 * math.sqrt(100), d0 * math.sqrt(784))


@pytest.mark.slow
def test_depth_and_conditioning_change_the_networks():
    h = 32
    deep = init(Config(hidden_dim=h, depth=2))
    assert count(deep.g_params) == 100 * h + h + h * h + h + h * 784 + 784
    assert count(deep.d_params) == 784 * h + h + h * h + h + h + 1
    cond = init(Config(hidden_dim=h, conditional=True))
    assert cond.g_params["hidden"]["kernel"].shape == (110, h)  # z and a one-hot label
    assert cond.d_params["embed"]["embedding"].shape == (10, h)  # projection discriminator
    z = jax.random.normal(jax.random.key(1), (2, 100))
    sevens, ones = (
        generate(fns(Config(hidden_dim=h, conditional=True)).generator, cond, z, jnp.array([d, d]))
        for d in (7, 1)
    )
    assert not np.allclose(sevens, ones)


@pytest.mark.slow
def test_dcgan_shapes_parameters_and_conditioning():
    c = 4
    state, gan = init(DCGAN), fns(DCGAN)
    assert count(state.g_params) == (8 + 1) * 49 * 2 * c + (9 * 2 * c + 1) * c + (9 * c + 1)
    assert count(state.d_params) == (16 + 1) * c + (16 * c + 1) * 2 * c + 49 * 2 * c + 1
    z = 10 * jax.random.normal(jax.random.key(1), (3, 8))
    images = generate(gan.generator, state, z)
    assert images.shape == (3, 28, 28) and float(jnp.abs(images).max()) <= 1
    logits = gan.discriminator.apply({"params": state.d_params}, images.reshape(3, 784)).logit
    assert logits.shape == (3,)
    cond, cond_g = (
        init(DCGAN.replace(conditional=True)),
        fns(DCGAN.replace(conditional=True)).generator,
    )
    assert cond.d_params["embed"]["embedding"].shape == (10, 49 * 2 * c)  # projection D
    assert not np.allclose(
        generate(cond_g, cond, z, jnp.full(3, 7)), generate(cond_g, cond, z, jnp.full(3, 1))
    )


def test_d_dropout_is_off_outside_training():
    config = Config(hidden_dim=64, latent_dim=8)
    plain, dropped = init(config), init(config.replace(d_dropout=0.5))
    images = real_batch()["image"]
    apply = functools.partial(
        fns(config.replace(d_dropout=0.5)).discriminator.apply, {"params": dropped.d_params}, images
    )
    assert_equal = np.testing.assert_array_equal
    assert_equal(apply()[0], fns(config).discriminator.apply({"params": plain.d_params}, images)[0])
    trained = apply(train=True, rngs={"dropout": jax.random.key(1)})[0]
    assert not np.allclose(trained, apply()[0])


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


@pytest.mark.slow
def test_generator_reads_the_code_only_through_its_argmax():
    state, generator = init(INFO), fns(INFO).generator
    assert state.g_params["hidden"]["kernel"].shape == (12, 32)  # 2 noise + 10 one-hot
    assert state.d_params["q"]["kernel"].shape == (32, 10)
    z = jax.random.normal(jax.random.key(1), (8, 12))
    code = latent_codes(z, 10)
    flattened = z.at[:, :10].set(jax.nn.one_hot(code, 10))  # other head values: gone
    np.testing.assert_array_equal(
        generate(generator, state, z), generate(generator, state, flattened)
    )
    other = with_codes(z, 10, (code + 1) % 10)
    assert not np.allclose(generate(generator, state, z), generate(generator, state, other))


# --- modulation, ADC-GAN's classifier head ----------------------------------------------------


def test_modulation_and_the_class_head_add_their_parameters():
    config = Config(hidden_dim=16, latent_dim=8, conditional=True)
    extended_config = config.replace(modulation=True, class_loss=1.0)
    plain, extended = init(config), init(extended_config)
    assert set(extended.g_params["hidden"]) == {"linear", "gamma", "beta"}
    assert extended.g_params["hidden"]["gamma"]["kernel"].shape == (
        8 + 10,
        16,
    )  # z and the one-hot label
    assert extended.d_params["classes"]["kernel"].shape == (16, 20)  # real and generated digit k
    images = jnp.zeros((4, 784))
    out = fns(extended_config).discriminator.apply(
        {"params": extended.d_params}, images, jnp.arange(4)
    )
    assert out.class_logits.shape == (4, 20)
    assert (
        fns(config)
        .discriminator.apply({"params": plain.d_params}, images, jnp.arange(4))
        .class_logits
        is None
    )
