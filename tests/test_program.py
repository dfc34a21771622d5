"""An epoch of every member compiled as one program: each member equals its single run, and a
population of one is its single run bit for bit."""

from __future__ import annotations

import jax
import pytest

from jaxgan.config import Config
from jaxgan.epoch import epoch_key, run_keys
from jaxgan.population import (
    Population,
    init_population,
    member_state,
)
from jaxgan.program import compile_epoch, population_epoch_keys
from jaxgan.step import SWEEPABLE

from conftest import (
    assert_trees_equal,
    fns,
    uint8_images,
)


def train_single(config: Config, images, labels, epochs: int):
    state = fns(config).init(run_keys(config.seed)["init"])
    state, epoch_fn = compile_epoch(config, state, images, labels)
    for epoch in range(epochs):
        state, _ = epoch_fn(state, epoch)
    return state


def train_population(population: Population, images, labels, epochs: int):
    members, epoch_fn = compile_epoch(
        population.base,
        init_population(population, fns(population.program_config())),
        images,
        labels,
        population=population,
    )
    for epoch in range(epochs):
        members, metrics = epoch_fn(members, epoch)
    return members, metrics


# Every swept hyper-parameter on, so that each one's path through the step is exercised.
BASE = Config(
    batch_size=16,
    hidden_dim=8,
    latent_dim=8,
    codes=4,
    ema_decay=0.9,
    d_dropout=0.2,
    conditional=True,
    class_loss=1.0,
    mode_seeking=0.1,
)


@pytest.mark.slow
def test_each_member_equals_its_single_run():
    """Every swept hyper-parameter differs from the base; each member is compared with the single
    run of its own config. vmap's batched kernels round differently, so to float tolerance."""
    images, labels = uint8_images(64)
    values = {
        "lr": 1e-3,
        "d_lr": 5e-4,
        "beta1": 0.5,
        "beta2": 0.99,
        "eps": 1e-6,
        "ema_decay": 0.8,
        "info_weight": 2.0,
        "d_dropout": 0.4,
        "class_loss": 2.0,
        "mode_seeking": 0.3,
    }
    assert set(values) == set(SWEEPABLE)
    sweep = (
        ("lr", (1e-3, 3e-3)),
        *((name, (value,)) for name, value in values.items() if name != "lr"),
    )
    population = Population(BASE.replace(seed=1), sweep=sweep)
    members, metrics = train_population(population, images, labels, epochs=2)
    assert metrics["d_loss"].shape == (2, 4) and bool(members.alive.all())
    for i, member in enumerate(population.members()):
        single = train_single(member.config, images, labels, epochs=2)
        assert_trees_equal(member_state(members, i), single, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_a_population_of_one_is_its_single_run_bit_for_bit(xla_optimized):
    """Without vmap, and with a swept learning rate, the reference MLP's program rounds alike.
    (A conditional model's label projection is fused differently, so it agrees to round-off.)"""
    images, _ = uint8_images(64)
    population = Population(
        Config(batch_size=16, hidden_dim=8, latent_dim=8, seed=3), sweep=(("lr", (1e-3,)),)
    )
    members, _ = train_population(population, images, None, epochs=2)
    member = population.members()[0]
    assert_trees_equal(member_state(members, 0), train_single(member.config, images, None, 2))


@pytest.mark.slow
def test_a_population_of_one_is_its_single_run_bit_for_bit_whatever_it_sweeps(xla_optimized):
    """Every number lives in the state for a single run too, so sweeping them changes no rounding
    (Adam's and the EMA's 1 - v included); class_loss needs a conditional model (see above)."""
    images, _ = uint8_images(64)
    base = Config(
        batch_size=16,
        hidden_dim=8,
        latent_dim=8,
        seed=3,
        ema_decay=0.5,
        d_dropout=0.1,
        codes=3,
        mode_seeking=0.1,
    )
    values = {
        "lr": 1e-3,
        "d_lr": 5e-4,
        "beta1": 0.5,
        "beta2": 0.99,
        "eps": 1e-6,
        "ema_decay": 0.8,
        "info_weight": 2.0,
        "d_dropout": 0.4,
        "mode_seeking": 0.3,
    }
    assert set(values) == set(SWEEPABLE) - {"class_loss"}
    population = Population(base, sweep=tuple((name, (value,)) for name, value in values.items()))
    members, _ = train_population(population, images, None, epochs=2)
    assert_trees_equal(
        member_state(members, 0), train_single(population.members()[0].config, images, None, 2)
    )


def test_each_members_epoch_keys_are_its_single_runs():
    population = Population(Config(seed=3), seeds=2, sweep=(("lr", (1e-3, 2e-3)),))
    keys = population_epoch_keys(population, 5)
    for key, member in zip(keys, population.members(), strict=True):
        want = epoch_key(run_keys(member.config.seed)["train"], 5)
        assert (jax.random.key_data(key) == jax.random.key_data(want)).all()
