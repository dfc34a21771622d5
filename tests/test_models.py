import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.config import Config
from jaxgan.models import Discriminator, Generator
from jaxgan.step import create_train_state


def count(params) -> int:
    return sum(x.size for x in jax.tree.leaves(params))


@pytest.fixture(scope="module")
def state():
    return create_train_state(Config(), jax.random.key(0))


def test_parameter_counts_match_the_reference(state):
    assert count(state.g_params) == 114_064  # 100*128+128 + 128*784+784
    assert count(state.d_params) == 100_609  # 784*128+128 + 128*1+1


def test_shapes_and_output_ranges(state):
    z = jax.random.normal(jax.random.key(1), (5, 100)) * 10  # large z saturates tanh
    images = Generator().apply({"params": state.g_params}, z)
    assert images.shape == (5, 784) and images.dtype == jnp.float32
    assert float(images.min()) >= -1.0 and float(images.max()) <= 1.0
    logits = Discriminator().apply({"params": state.d_params}, images)
    assert logits.shape == (5,)


def test_initialisation_is_pytorch_linear_default(state):
    layers = {**{f"G{k}": v for k, v in state.g_params.items()},
              **{f"D{k}": v for k, v in state.d_params.items()}}
    assert len(layers) == 4
    for name, layer in layers.items():
        fan_in = layer["kernel"].shape[0]
        bound = 1 / math.sqrt(fan_in)
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
