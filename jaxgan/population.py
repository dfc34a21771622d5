"""Populations: many GANs of one config that differ in seed and in the numbers a state carries
(`--seeds`, `--sweep`). `Population` is the spec and `Member` one row of it; their states are
stacked on a leading axis and trained as one program, `jax.vmap` of the single run's functions.
Member `i` uses exactly the keys and numbers of the single run of its config (initialisation, data
order, noise), so a population is N single runs computed side by side; members never interact."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import checkpoint, parallel
from jaxgan.checkpoint import structure_changes
from jaxgan.config import MAX_SEED, POSITIVE_INT, Config
from jaxgan.epoch import TrainFunctions, make_train, run_keys
from jaxgan.errors import CheckpointError, ConfigError, arg, on_command_line, one_line
from jaxgan.record import CheckpointRecord
from jaxgan.step import SWEEPABLE, GANState, hyperparams

Sweep = tuple[tuple[str, tuple[Any, ...]], ...]


@dataclasses.dataclass(frozen=True)
class Member:
    id: str
    config: Config
    values: dict[str, Any]  # the member's seed and swept values


@dataclasses.dataclass(frozen=True)
class Population:
    """`seeds` seeds of `base` for every combination of the `sweep` values (seeds vary fastest)."""

    base: Config
    seeds: int = 1
    sweep: Sweep = ()

    @property
    def swept(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.sweep)

    @property
    def size(self) -> int:
        return self.seeds * math.prod(len(values) for _, values in self.sweep)

    def members(self) -> list[Member]:
        combos = itertools.product(*(values for _, values in self.sweep))
        points = [
            (dict(zip(self.swept, combo, strict=True)), self.base.seed + s)
            for combo in combos
            for s in range(self.seeds)
        ]
        width = len(str(len(points) - 1))
        return [
            Member(
                f"{i:0{width}d}", self.base.replace(seed=seed, **values), {"seed": seed, **values}
            )
            for i, (values, seed) in enumerate(points)
        ]

    def validate(self) -> Population:
        """Every member's config is valid, and all have the same arrays (one stacked state).

        The checks that need only numbers come first, so a population too large to hold is
        refused before any member is built."""
        self.base.validate()
        if not POSITIVE_INT.ok(self.seeds):
            raise ConfigError(f"{arg('seeds')} must be {POSITIVE_INT.wants}, got {self.seeds!r}")
        if self.base.seed + self.seeds - 1 > MAX_SEED:
            raise ConfigError(
                f"{arg('seed', self.base.seed)} with {arg('seeds', self.seeds)} passes the "
                f"largest seed, {MAX_SEED}"
            )
        names = self.swept
        if repeated := sorted({n for n in names if names.count(n) > 1}):
            raise ConfigError(
                f"{arg('sweep')} {repeated[0]} is given more than once; give all its values in one "
                f"{arg('sweep')} {repeated[0]}=V1,V2,..."
            )
        # The members spread over every device at best: if that does not fit, nothing will.
        parallel.check_fits(self.base, jax.devices()[0], -(-self.size // jax.device_count()))
        for name, values in self.sweep:
            if name in SWEEPABLE:
                continue
            shapes = any(
                structure_changes(self.base, self.base.replace(**{name: v})) for v in values
            )
            why = (
                "changes the model's arrays"
                if shapes
                else "changes the compiled program, not just a number"
            )
            raise ConfigError(
                f"{arg('sweep')} {name}: {arg(name)} {why}; members of one population can differ "
                f"only in {', '.join(SWEEPABLE)} (train one population per value)"
            )
        points = [
            dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(v for _, v in self.sweep))
        ]
        for name, values in self.sweep:
            for value in values:
                try:
                    self.base.replace(**{name: value})
                except ConfigError as e:
                    raise ConfigError(f"{arg('sweep')} {name}: {e}") from None
        for values in points:  # seeds change no array: one config per swept point
            self.base.replace(**values).validate()
            if changed := structure_changes(
                self.base.replace(**points[0]), self.base.replace(**values)
            ):
                raise ConfigError(
                    f"{arg('sweep')} {changed[0]}: {points[0][changed[0]]} and "
                    f"{values[changed[0]]} "
                    f"give the model different arrays; members must share them "
                    f"(train one population per value)"
                )
        return self

    def program_config(self) -> Config:
        """The config whose program trains every member: a term that any member weighs is computed
        for all (weighed 0 where a member's value is 0)."""
        return self.base.replace(**{name: max(values, key=abs) for name, values in self.sweep})

    def describe(self) -> str:
        if not on_command_line():
            return (
                f"seeds={self.seeds}, sweep={ {name: list(values) for name, values in self.sweep} }"
            )
        sweeps = " ".join(
            f"--sweep {name}={','.join(map(str, values))}" for name, values in self.sweep
        )
        return f"--seeds {self.seeds}" + (f" {sweeps}" if sweeps else "")

    def with_base(self, base: Config) -> Population:
        return dataclasses.replace(self, base=base)

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base.to_json(),
            "seeds": self.seeds,
            "sweep": [[name, list(values)] for name, values in self.sweep],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Population:
        return cls(
            Config.from_json(data["base"]),
            data["seeds"],
            tuple((name, tuple(values)) for name, values in data["sweep"]),
        )


def sweep_from_dict(sweep: Any) -> Sweep:
    """{"lr": [2e-4, 1e-3], ...} -> the spec's sweep, each entry checked as `--sweep` is (what
    may be swept is checked by `Population.validate`)."""
    if not isinstance(sweep, dict):
        raise ConfigError(
            f"{arg('sweep')} must be a dict such as {{'lr': [2e-4, 1e-3]}}, got {sweep!r}"
        )
    entries = []
    for name, values in sweep.items():
        if not isinstance(values, (list, tuple, range, np.ndarray)) or not len(values):
            raise ConfigError(f"{arg('sweep')} {name}: a non-empty list of values, got {values!r}")
        values = tuple(v.item() if isinstance(v, np.generic) else v for v in values)
        if bad := [v for v in values if not isinstance(v, (bool, int, float, str))]:
            raise ConfigError(
                f"{arg('sweep')} {name}: values are numbers, strings or booleans, got {bad[0]!r}"
            )
        entries.append(_checked_sweep(str(name), values))
    return tuple(entries)


def _checked_sweep(name: str, values: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """One sweep entry: a Config field other than the seed, its values without repeats."""
    if name not in {f.name for f in dataclasses.fields(Config)}:
        raise ConfigError(f"{arg('sweep')}: no option {arg(name)}")
    if name == "seed":
        raise ConfigError(
            f"{arg('sweep')} seed: use {arg('seed')} and {arg('seeds')} for the seeds"
        )
    if len(set(values)) != len(values):
        raise ConfigError(f"{arg('sweep')} {name}: a value is repeated in {list(values)!r}")
    return name, values


def parse_sweep(text: str) -> tuple[str, tuple[Any, ...]]:
    """`NAME=V1,V2,...` (NAME as the flag or the field: d-lr, --d-lr, d_lr) -> (field, values)."""
    name, sep, values = text.partition("=")
    name = name.strip().lstrip("-").replace("-", "_")
    if not sep or not values.strip():
        raise ConfigError(f"{arg('sweep')} wants NAME=V1,V2,..., got {text!r}")
    types = {f.name: f.type for f in dataclasses.fields(Config)}
    if name not in types or name == "seed":
        return _checked_sweep(name, ())
    parse = {
        "int": int,
        "float": float,
        "str": str,
        "bool": lambda v: {"true": True, "false": False}[v.lower()],
    }
    try:
        parsed = tuple(parse[types[name]](v.strip()) for v in values.split(","))
    except (ValueError, KeyError):
        raise ConfigError(
            f"{arg('sweep')} {name}: values must be of type {types[name]}, got {values!r}"
        ) from None
    return _checked_sweep(name, parsed)


# --- the stacked state ------------------------------------------------------------------------


def init_population(population: Population, fns: TrainFunctions) -> GANState:
    """Each member's fresh state, exactly as its single run would create it, stacked."""
    keys = jnp.stack([run_keys(m.config.seed)["init"] for m in population.members()])
    return jax.jit(jax.vmap(fns.init))(keys, population_hyperparams(population))


def population_hyperparams(population: Population) -> dict[str, np.ndarray]:
    """Every member's numbers (`step.hyperparams`), stacked."""
    return jax.tree.map(
        lambda *v: np.stack(v), *[hyperparams(m.config) for m in population.members()]
    )


def member_state(states: GANState, index: int) -> GANState:
    """Member `index` of stacked states: a single run's state."""
    return jax.tree.map(lambda x: x[index], states)


def run_record(manager: Any, epoch: int) -> CheckpointRecord:
    """A checkpoint's record, verified as `checkpoint.read_record` does; a population's also checked
    from numbers, and against the stored arrays, before any member is built."""
    record = checkpoint.read_record(manager, epoch)
    if record.population is None:
        return record
    try:
        population = Population.from_json(record.population).validate()
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"its record's population is invalid ({one_line(e)})") from None
    members = checkpoint.stored_shapes(Path(manager.directory) / str(epoch) / "state").get(
        ("alive",), ((),)
    )[0]
    if members != (population.size,):
        raise CheckpointError(
            f"its record names {population.size} members, its arrays {members}: corrupt or edited"
        )
    return record


def population_template(population: Population, fns: TrainFunctions | None = None) -> GANState:
    """The population's stacked state as shapes and dtypes."""
    fns = fns or make_train(population.program_config())
    return jax.eval_shape(lambda: init_population(population, fns))


def restore_population(
    workdir: str | Path,
    expected: Population | None = None,
    fns: TrainFunctions | None = None,
    make: Callable[[Config], TrainFunctions] = make_train,
) -> tuple[GANState, CheckpointRecord, Population]:
    """A population's newest readable checkpoint, from its workdir, as `expected` (default: as saved),
    into the arrays of `fns` (default: `make(program config)`, the built-in modules')."""
    directory = checkpoint.checkpoint_dir(workdir)
    record = checkpoint.saved_record(directory, read=run_record, warn=True)
    if record.population is None:
        raise CheckpointError(f"{directory} holds a single run's checkpoints, not a population's")
    saved = Population.from_json(record.population)
    asked = expected or saved
    if (asked.seeds, asked.sweep) != (saved.seeds, saved.sweep):
        raise ConfigError(
            f"this population was started with {saved.describe()}; you passed "
            f"{asked.describe()}: its members cannot change"
        )
    template = population_template(asked, fns or make(asked.program_config()))
    state, restored = checkpoint.restore_latest(
        directory, asked.base, template=template, epoch=record.epoch
    )
    return state, restored, Population.from_json(restored.population).with_base(asked.base)


# --- what a path given to the tools names --------------------------------------------------
