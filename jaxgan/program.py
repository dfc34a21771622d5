"""One epoch of a run, or of every member of a population, as one XLA program on a device mesh:
the state placed, the epoch compiled once (its buffers donated), and each epoch's keys derived
from the run's (each member's) seed."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxgan import parallel
from jaxgan.config import Config
from jaxgan.epoch import TrainFunctions, epoch_key, make_train, run_keys
from jaxgan.population import Population
from jaxgan.step import GANState, Metrics


def population_epoch(
    fns: TrainFunctions,
    states: GANState,
    images: jax.Array,
    epoch_keys: jax.Array,
    labels: jax.Array | None = None,
    *,
    data_sharding: jax.sharding.Sharding | None = None,
    member_axis: str | None = None,
) -> tuple[GANState, Metrics]:
    """One epoch of every member: `fns.epoch` vmapped (metrics (N, S)); `member_axis` names the
    mesh axis members are split over."""

    def member_epoch(state: GANState, key: jax.Array) -> tuple[GANState, Metrics]:
        return fns.epoch(state, images, key, labels, data_sharding=data_sharding)

    if (
        epoch_keys.shape[0] == 1
    ):  # XLA's batched matmuls with a batch of one are slower than plain ones
        return jax.tree.map(
            lambda x: x[None], member_epoch(*jax.tree.map(lambda x: x[0], (states, epoch_keys)))
        )
    return jax.vmap(member_epoch, spmd_axis_name=member_axis)(states, epoch_keys)


def population_epoch_keys(population: Population, epoch: int) -> jax.Array:
    return jnp.stack(
        [epoch_key(run_keys(m.config.seed)["train"], epoch) for m in population.members()]
    )


@dataclasses.dataclass(frozen=True)
class CompiledEpoch:
    """One epoch of a run (or of every member) as one XLA program: `epoch_fn(state, epoch)`. The
    data order and noise of each epoch come from the run's seed (each member's own)."""

    compiled: Any  # jax.stages.Compiled: its memory_analysis() and cost_analysis() are XLA's
    images: Any
    labels: Any
    keys: Callable[[int], jax.Array]

    def __call__(self, state: GANState, epoch: int) -> tuple[GANState, dict[str, jax.Array]]:
        return self.compiled(state, self.images, self.keys(epoch), self.labels)


def compile_epoch(
    config: Config,
    state: GANState,
    images: Any,
    labels: Any = None,
    *,
    population: Population | None = None,
    mesh: jax.sharding.Mesh | None = None,
    first_epoch: int = 0,
    fns: TrainFunctions | None = None,
) -> tuple[GANState, CompiledEpoch]:
    """`state` placed on `mesh` (default: one device), and its epoch compiled now, the state's
    buffers donated: `fns.epoch` (default: `make_train(config)`'s), vmapped over a population's members."""
    mesh = mesh or parallel.make_mesh(1, members=population.size if population else 0)
    fns = fns or make_train(population.program_config() if population else config)
    data_sharding = parallel.batch_sharded(mesh) if mesh.shape[parallel.DATA_AXIS] > 1 else None
    if population is None:
        sharding, fn = (
            parallel.replicated(mesh),
            functools.partial(fns.epoch, data_sharding=data_sharding),
        )
        keys = functools.partial(epoch_key, run_keys(config.seed)["train"])
    else:
        sharding, keys = (
            parallel.member_sharded(mesh),
            functools.partial(population_epoch_keys, population),
        )
        fn = functools.partial(
            population_epoch,
            fns,
            data_sharding=data_sharding,
            member_axis=parallel.MEMBERS_AXIS if mesh.size > 1 else None,
        )
    state = jax.device_put(state, sharding)
    compiled = (
        jax.jit(fn, donate_argnums=0, out_shardings=sharding)
        .lower(state, images, keys(first_epoch), labels)
        .compile()
    )
    return state, CompiledEpoch(compiled, images, labels, keys)
