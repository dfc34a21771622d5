"""A population's training state: every member's GANState stacked on a leading axis and trained
as one program by `jax.vmap`.

Member `i` uses exactly the keys of the single run with its seed (initialisation, data order,
noise), so a population of seeds is N single runs computed side by side; members never interact.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxgan import checkpoint
from jaxgan.checkpoint import state_template
from jaxgan.config import Config
from jaxgan.epoch import train_epoch
from jaxgan.errors import CheckpointError, ConfigError
from jaxgan.keys import epoch_key, run_keys
from jaxgan.population import Population
from jaxgan.step import Batch, GANState, Hyperparams, Metrics, Traced, create_train_state, train_step


def member_hparams(config: Config, names: tuple[str, ...]) -> dict[str, jax.Array]:
    """The traced values of the swept `names` (D's learning rate follows G's when it is not set)."""
    if "lr" in names:
        names = (*names, "d_lr")
    hyper = Hyperparams.of(config)
    return {name: jnp.float32(getattr(hyper, name)) for name in sorted(set(names))}


class Members(struct.PyTreeNode):
    """A population's training state: each GANState leaf stacked on a leading member axis, which
    members still train (a member whose losses became NaN/Inf is frozen), and each member's
    values of the swept hyper-parameters."""

    state: GANState
    alive: jax.Array  # (N,) bool
    traced: Traced  # name -> (N,) float32

    @property
    def step(self) -> jax.Array:
        return self.state.step.max()


def init_members(population: Population) -> Members:
    """Each member's fresh state, exactly as its single run would create it."""
    members = population.members()
    keys = jnp.stack([run_keys(m.config.seed)["init"] for m in members])
    hparams = jax.tree.map(lambda *v: jnp.stack(v), *[member_hparams(m.config, population.swept) for m in members])

    states = jax.jit(jax.vmap(functools.partial(create_train_state, members[0].config)))(keys)
    return Members(states, jnp.ones(len(members), bool), hparams)


def members_template(population: Population) -> Members:
    return jax.eval_shape(functools.partial(init_members, population))


def guarded_step(carry: tuple[GANState, jax.Array], batch: Batch, key: jax.Array,
                 traced: Traced) -> tuple[tuple[GANState, jax.Array], Metrics]:
    """`train_step`, applied only while the member's losses are finite: a member whose loss
    becomes NaN/Inf keeps the state it had at that step and stops training."""
    state, alive = carry
    new, metrics = train_step(state, batch, key, traced)
    alive = alive & jnp.isfinite(metrics["d_loss"]) & jnp.isfinite(metrics["g_loss"])
    state = jax.tree.map(lambda n, o: jnp.where(alive, n, o), new, state)
    return (state, alive), {**metrics, "alive": alive}


def train_members_epoch(members: Members, images: jax.Array, epoch_keys: jax.Array,
                        labels: jax.Array | None = None, *, batch_size: int, drop_last: bool,
                        data_sharding: jax.sharding.Sharding | None = None,
                        member_axis: str | None = None) -> tuple[Members, Metrics]:
    """One epoch of every member (metrics (N, S)); `member_axis` names the mesh axis members are
    split over."""
    def member_epoch(carry, traced, key):
        return train_epoch(carry, images, key, labels, batch_size=batch_size, drop_last=drop_last,
                           data_sharding=data_sharding, step=functools.partial(guarded_step, traced=traced))

    inputs = ((members.state, members.alive), members.traced, epoch_keys)
    if len(members.alive) == 1:  # XLA's batched matmuls with a batch of one are slower than plain ones
        outputs = member_epoch(*jax.tree.map(lambda x: x[0], inputs))
        (state, alive), metrics = jax.tree.map(lambda x: x[None], outputs)
    else:
        (state, alive), metrics = jax.vmap(member_epoch, spmd_axis_name=member_axis)(*inputs)
    return Members(state, alive, members.traced), metrics


def members_epoch_keys(population: Population, epoch: int) -> jax.Array:
    return jnp.stack([epoch_key(run_keys(m.config.seed)["train"], epoch) for m in population.members()])


def member_state(members: Members, index: int, config: Config) -> GANState:
    """Member `index` as the GANState of a single run of `config` (its own config)."""
    one = jax.tree.map(lambda x: x[index], members.state)
    return jax.tree.unflatten(jax.tree.structure(state_template(config)), jax.tree.leaves(one))


def restore_members(directory: str | Path, expected: Population | None = None,
                    ) -> tuple[Members, dict[str, Any], Population]:
    """The newest readable population checkpoint in `directory`, as `expected` (default: as saved)."""
    record = checkpoint.saved_record(directory)
    if "population" not in record:
        raise CheckpointError(f"{directory} holds a single run's checkpoints, not a population's")
    saved = Population.from_json(record["population"])
    asked = expected or saved
    if (asked.seeds, asked.sweep) != (saved.seeds, saved.sweep):
        raise ConfigError(f"this population was started with {saved.describe()}; you passed "
                          f"{asked.describe()}: its members cannot change")
    members, meta = checkpoint.restore_latest(directory, asked.base, template=members_template(asked))
    return members, meta, Population.from_json(meta["population"]).with_base(asked.base)
