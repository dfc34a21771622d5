"""The feature networks' shared machinery: training by a recipe, the cache keyed by recipe and
data, and shipped files verified before use."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import networks
from jaxgan.errors import DataError

from conftest import assert_trees_equal


class Linear(nn.Module):
    image_shape: tuple[int, int, int] = (28, 28, 1)

    @nn.compact
    def __call__(self, x):
        return nn.Dense(2)(x)


def _loss(module, params, images, labels):
    logits = module.apply({"params": params}, images)
    return jnp.mean(jnp.square(logits - labels[:, None]))


TINY = networks.Network(
    name="probe",
    loss=_loss,
    recipe={"arch": "linear", "epochs": 2, "batch_size": 32, "lr": 1e-2, "seed": 0},
    files={},
)
MODULE = Linear()


def images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 784), dtype=np.uint8), rng.integers(0, 2, n)


def test_fit_is_a_function_of_recipe_seed_and_data():
    x, y = images(100)
    a = networks.fit(TINY, MODULE, x, y, verbose=False)
    assert_trees_equal(a, networks.fit(TINY, MODULE, x, y, verbose=False))
    assert not np.array_equal(
        a["Dense_0"]["kernel"], networks.fit(TINY, MODULE, x, y, seed=1)["Dense_0"]["kernel"]
    )
    assert not np.array_equal(
        a["Dense_0"]["kernel"],
        networks.init(MODULE, jax.random.split(jax.random.key(0))[0])["Dense_0"]["kernel"],
    )
    with pytest.raises(DataError, match="the probe's recipe trains on batches of 32: 31 training"):
        networks.fit(TINY, MODULE, *images(31))


def test_the_cache_is_keyed_by_recipe_and_data_and_verified(tmp_path, capsys):
    x, y = images(64)
    params = networks.fit(TINY, MODULE, x, y, verbose=False)
    path = networks.cache_path(TINY, tmp_path, "ab" * 32)
    assert path.parent == tmp_path / "probe"
    assert path != networks.cache_path(TINY, tmp_path, "cd" * 32)
    other = networks.Network(**{**TINY.__dict__, "recipe": {**TINY.recipe, "epochs": 3}})
    assert path != networks.cache_path(other, tmp_path, "ab" * 32)
    networks.save(TINY, params, path, "ab" * 32, note=1)
    loaded, record = networks.load(TINY, MODULE, path, "ab" * 32)
    assert_trees_equal(loaded, params) and record["note"] == 1
    assert networks.load(TINY, MODULE, path, "cd" * 32) is None  # another dataset's entry
    assert "ignoring the cached probe" in capsys.readouterr().err
    assert networks.load(TINY, MODULE, tmp_path / "absent", "ab" * 32) is None


def test_flat_params_round_trip_through_npz_names():
    params = networks.init(MODULE, jax.random.key(3))
    flat = networks.flat_params(params)
    assert set(flat) == {"Dense_0/kernel", "Dense_0/bias"}
    assert_trees_equal(
        networks.params_from_flat(flat, networks.init(MODULE, jax.random.key(4))), params
    )


def test_small_data_trains_for_more_epochs_up_to_the_minimum_of_steps(capsys):
    x, y = images(64)  # 2 steps an epoch
    networks.fit(TINY, MODULE, x, y)
    assert "probe epoch 2/2:" in capsys.readouterr().err
    networks.fit(TINY, MODULE, x, y, min_steps=7)
    assert "probe epoch 4/4:" in capsys.readouterr().err
