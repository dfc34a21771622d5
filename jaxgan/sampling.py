"""Drawing samples from a generator: latents, digits and codes, the generator over any number of
them, and a trained run loaded back as a `Model` from any path the tools are given."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import checkpoint
from jaxgan.config import POSITIVE_INT, Config, checked_seed
from jaxgan.data import in_batches
from jaxgan.debuglog import quiet_libraries
from jaxgan.epoch import TrainFunctions, make_train
from jaxgan.errors import (
    CheckpointError,
    ConfigError,
    IncompatibleCheckpointError,
    arg,
    checked_path,
    one_line,
)
from jaxgan.images import SAMPLE_BYTES
from jaxgan.models import latent_codes, make_models
from jaxgan.parallel import check_host_memory
from jaxgan.population import member_state, restore_population
from jaxgan.record import CheckpointRecord
from jaxgan.runlog import EpochMetrics, MetricsLog
from jaxgan.step import GANState
from jaxgan.workdir import MEMBER_FILE, is_population, workdir_of


def generate(
    generator: nn.Module,
    state: GANState,
    z: jax.Array,
    labels: jax.Array | None = None,
    shape: tuple[int, ...] = (28, 28),
) -> jax.Array:
    """Images (N, *shape) in [-1, 1] (`Config.sample_shape`: MNIST's (28, 28)) for latents z
    (N, latent_dim) and, for a conditional model only, its class labels (N,) in 0..K-1
    (`check_conditioning`: here they are traced).

    Uses the generator's EMA weights (the trained weights themselves when EMA is off)."""
    return generator.apply({"params": state.sampling_params}, z, labels).reshape(-1, *shape)


_jit_generate = jax.jit(generate, static_argnums=(0, 4))


def generate_in_batches(
    generator: nn.Module,
    state: GANState,
    z: jax.Array,
    labels: jax.Array | None = None,
    shape: tuple[int, ...] = (28, 28),
    batch_size: int = 1000,
) -> np.ndarray:
    """`generate` over any number of latents, `batch_size` at a time."""
    return in_batches(
        lambda z, labels: _jit_generate(generator, state, z, labels, shape),
        z,
        labels,
        size=batch_size,
    )


def generate_members(
    generator: nn.Module,
    states: GANState,
    z: jax.Array,
    labels: jax.Array | None = None,
    shape: tuple[int, ...] = (28, 28),
) -> jax.Array:
    """`generate` for each member of stacked `states`: from latents of its own (M, N, D) or
    shared (N, D); (M, N, *shape)."""
    draw = functools.partial(generate, generator, shape=shape)
    return jax.vmap(draw, in_axes=(0, 0 if z.ndim == 3 else None, None))(states, z, labels)


def grid_labels(
    n: int, rows: int, cols: int, digit: int | None = None, classes: int = 10
) -> jax.Array:
    """Class labels (or InfoGAN codes) for a grid: one per row (0..classes-1 cycling), or all `digit`."""
    if digit is not None:
        return jnp.full((n,), digit, jnp.int32)
    return (jnp.arange(n) // cols % classes).astype(jnp.int32)


def with_codes(z: jax.Array, codes: int, code: jax.Array) -> jax.Array:
    """Latents z (N, D) whose InfoGAN code (the argmax of the first `codes` coordinates) is `code` (N,).

    Swaps each row's largest head coordinate with coordinate `code`: a permutation of i.i.d.
    coordinates, so z keeps its N(0, I) law conditioned on the code."""
    rows = jnp.arange(z.shape[0])
    current = latent_codes(z, codes)
    top, there = z[rows, current], z[rows, code]
    return z.at[rows, current].set(there).at[rows, code].set(top)


def latents(key: jax.Array, n: int, latent_dim: int) -> jax.Array:
    return jax.random.normal(key, (n, latent_dim), jnp.float32)


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical interpolation between latent rows a and b at fractions t (T,) -> (T, D)."""
    a_n, b_n = a / jnp.linalg.norm(a), b / jnp.linalg.norm(b)
    omega = jnp.arccos(jnp.clip(jnp.dot(a_n, b_n), -1.0, 1.0))
    so = jnp.sin(omega)
    t = t[:, None]
    lerp = (1 - t) * a + t * b  # the limit for (anti-)parallel vectors
    return jnp.where(so < 1e-6, lerp, (jnp.sin((1 - t) * omega) * a + jnp.sin(t * omega) * b) / so)


def interpolation_latents(key: jax.Array, rows: int, cols: int, latent_dim: int) -> jax.Array:
    """rows x cols latents: each row walks a great circle between two random latents."""
    ends = latents(key, 2 * rows, latent_dim).reshape(rows, 2, latent_dim)
    t = jnp.linspace(0.0, 1.0, cols)
    return jnp.concatenate([slerp(a, b, t) for a, b in ends])


def choices(
    value: Any, n: int, name: str, count: int, error: type[Exception] = ConfigError
) -> np.ndarray:
    """`value` (one int, or n ints: digits, labels, codes) as n int32 in 0 .. count-1, or an
    `error` of one line naming `name`."""
    array = np.asarray(value)
    if array.ndim == 0:
        array = np.full((n,), array)
    if array.shape != (n,) or not np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
        raise error(
            f"{name} must be an integer or {n} integers, got {array.dtype} of shape {array.shape}"
        )
    if n and (array.min() < 0 or array.max() >= count):
        raise error(
            f"{name} must be in 0 .. {count - 1}, got values {array.min()} .. {array.max()}"
        )
    return array.astype(np.int32)


def check_conditioning(
    config: Config,
    n: int,
    digit: Any = None,
    code: Any = None,
) -> tuple[jax.Array | None, jax.Array | None]:
    """The asked digits (a conditional model's labels) and InfoGAN codes as n int32 each (None
    where not asked), or a ConfigError naming the argument the model cannot take."""
    if digit is not None and not config.conditional:
        raise ConfigError(
            f"{arg('digit')} needs a conditional model (trained with {arg('conditional', True)}); "
            f"this one is not conditional"
        )
    if code is not None and not config.codes:
        raise ConfigError(
            f"{arg('code')} needs an InfoGAN model (trained with {arg('codes')}); this one has no "
            f"InfoGAN code"
        )
    return tuple(
        None if value is None else jnp.asarray(choices(value, n, arg(name), count))
        for name, value, count in (
            ("digit", digit, config.num_classes),
            ("code", code, config.codes),
        )
    )


@dataclasses.dataclass(frozen=True)
class Model:
    """A trained generator: its config, state, per-epoch metrics and checkpoint record (and the
    generator module, where it is one of your own)."""

    config: Config
    state: GANState
    metrics: list[EpochMetrics]
    record: CheckpointRecord
    generator: nn.Module | None = None

    def sample(self, n: int, *, seed: int = 0, digit: Any = None, code: Any = None) -> np.ndarray:
        """n images (n, *config.sample_shape; MNIST: (n, 28, 28)) float32 in [-1, 1] from the noise
        of `seed`. `digit` (an int or n ints in 0..num_classes-1: the class) is required for a
        conditional model and refused otherwise; `code` (in 0..codes-1) fixes an InfoGAN model's
        categorical code."""
        if not POSITIVE_INT.ok(n):
            raise ConfigError(f"n must be {POSITIVE_INT.wants}, got {n!r}")
        check_host_memory(n, SAMPLE_BYTES, f"n={n:,} samples")
        seed = checked_seed(seed)
        if self.config.conditional and digit is None:
            raise ConfigError(
                f"digit: this model is conditional; pass digit=0..{self.config.num_classes - 1} "
                "(or n of them) to choose them"
            )
        labels, codes = check_conditioning(self.config, n, digit, code)
        z = latents(jax.random.key(seed), n, self.config.latent_dim)
        if codes is not None:
            z = with_codes(z, self.config.codes, codes)
        generator = self.generator or make_models(self.config)[0]
        return generate_in_batches(generator, self.state, z, labels, self.config.sample_shape)


def load(
    path: str | Path, *, generator: nn.Module | None = None, discriminator: nn.Module | None = None
) -> Model:
    """The model of a run folder (its newest readable checkpoint), of one checkpoint folder
    (WORKDIR/checkpoints/N) or of a population member's folder (WORKDIR/members/ID).
    `generator`/`discriminator`: the modules of your own the run was trained with."""
    quiet_libraries()
    own = generator is not None or discriminator is not None
    make = (
        functools.partial(make_train, generator=generator, discriminator=discriminator)
        if own
        else None
    )
    state, record = restore_path(path, make)
    folder = Path(path) if (Path(path) / "metrics.jsonl").is_file() else workdir_of(path)
    return Model(
        record.config, state, MetricsLog(folder).epochs() if folder else [], record, generator
    )


def restore_member(
    path: Path,
    make: Callable[[Config], TrainFunctions] = make_train,
) -> tuple[GANState, CheckpointRecord]:
    """One member of a population, from its folder WORKDIR/members/<id>/, as a single run's state
    (of the modules `make` builds)."""
    try:
        entry = json.loads((path / MEMBER_FILE).read_text())
        index, member_id = int(entry["index"]), str(entry["id"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path / MEMBER_FILE} is unreadable ({one_line(e)})") from None
    state, record, population = restore_population(path.parent.parent, make=make)
    listed = population.members()
    if not 0 <= index < len(listed) or listed[index].id != member_id:
        raise CheckpointError(
            f"{path} names member {member_id!r}, which its population does not have"
        )
    member = listed[index]
    return member_state(state, index), dataclasses.replace(
        record, config=member.config, member=member.id
    )


def is_checkpoint(path: Path) -> bool:
    """`path` is one saved checkpoint: an epoch's folder with its arrays and record."""
    return path.name.isdigit() and (path / "state").is_dir() and (path / "meta").is_dir()


def restore_path(
    path: str | Path,
    make: Callable[[Config], TrainFunctions] | None = None,
) -> tuple[GANState, CheckpointRecord]:
    """A single run's state, from its workdir, its checkpoints/ folder, one saved step's folder
    or a population member's folder; into the arrays of `make(config)`'s modules (default: the
    built-in ones)."""
    path = checked_path(path, "path")

    def own_template(config: Config) -> GANState:
        return jax.eval_shape(make(config).init, jax.random.key(0))

    template = None if make is None else own_template
    if (path / MEMBER_FILE).is_file():
        return restore_member(path, make or make_train)
    if is_population(path):
        raise IncompatibleCheckpointError(
            f"{path} is a population; open one member's folder ({path / 'members'}/ID)"
        )
    if (path / "checkpoints").is_dir():
        return checkpoint.restore_latest(path / "checkpoints", template=template)
    if is_checkpoint(path):
        return checkpoint.restore_latest(path.parent, template=template, epoch=int(path.name))
    if path.is_dir() and any(is_checkpoint(p) for p in path.iterdir()):
        return checkpoint.restore_latest(path, template=template)
    raise CheckpointError(
        f"no checkpoints in {path}: it is not a jaxgan run, a checkpoints/ folder, "
        f"one checkpoint or a population member's folder"
    )
