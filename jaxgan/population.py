"""Populations: members of one config that differ in seed and in the hyper-parameters that change
no array (`--seeds`, `--sweep`), and their folders' names. `members.py` trains them."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import jax

from jaxgan import parallel
from jaxgan.checkpoint import structure_changes
from jaxgan.config import MAX_SEED, Config, flag
from jaxgan.errors import ConfigError
from jaxgan.step import TRACEABLE

Sweep = tuple[tuple[str, tuple[Any, ...]], ...]
POPULATION_FILE = "population.json"  # in the population's workdir: the spec and the members
MEMBER_FILE = "member.json"  # in WORKDIR/members/<id>/: which member of ../.. the folder is


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
        points = [(dict(zip(self.swept, combo, strict=True)), self.base.seed + s)
                  for combo in combos for s in range(self.seeds)]
        width = len(str(len(points) - 1))
        return [Member(f"{i:0{width}d}", self.base.replace(seed=seed, **values), {"seed": seed, **values})
                for i, (values, seed) in enumerate(points)]

    def validate(self) -> Population:
        """Every member's config is valid, and all have the same arrays (one stacked state).

        The checks that need only numbers come first, so a population too large to hold is
        refused before any member is built."""
        self.base.validate()
        if self.base.seed + self.seeds - 1 > MAX_SEED:
            raise ConfigError(f"--seed {self.base.seed} with --seeds {self.seeds} passes the largest seed, {MAX_SEED}")
        names = self.swept
        if repeated := sorted({n for n in names if names.count(n) > 1}):
            raise ConfigError(f"--sweep {repeated[0]} is given more than once; give all its values in one "
                              f"--sweep {repeated[0]}=V1,V2,...")
        # The members spread over every device at best: if that does not fit, nothing will.
        parallel.check_fits(self.base, jax.devices()[0], -(-self.size // jax.device_count()))
        for name, values in self.sweep:
            if name in TRACEABLE:
                continue
            shapes = any(structure_changes(self.base, self.base.replace(**{name: v})) for v in values)
            why = "changes the model's arrays" if shapes else "changes the compiled program, not just a number"
            raise ConfigError(f"--sweep {name}: {flag(name)} {why}; members of one population can differ "
                              f"only in {', '.join(TRACEABLE)} (train one population per value)")
        points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(v for _, v in self.sweep))]
        for values in points:  # seeds change no array: one config per swept point
            self.base.replace(**values).validate()
            if changed := structure_changes(self.base.replace(**points[0]), self.base.replace(**values)):
                raise ConfigError(f"--sweep {changed[0]}: {points[0][changed[0]]} and {values[changed[0]]} "
                                  f"give the model different arrays; members must share them "
                                  f"(train one population per value)")
        return self

    def describe(self) -> str:
        sweeps = " ".join(f"--sweep {name}={','.join(map(str, values))}" for name, values in self.sweep)
        return f"--seeds {self.seeds}" + (f" {sweeps}" if sweeps else "")

    def with_base(self, base: Config) -> Population:
        return dataclasses.replace(self, base=base)

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base.to_json(), "seeds": self.seeds,
                "sweep": [[name, list(values)] for name, values in self.sweep]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Population:
        return cls(Config.from_json(data["base"]), data["seeds"],
                   tuple((name, tuple(values)) for name, values in data["sweep"]))


def parse_sweep(text: str) -> tuple[str, tuple[Any, ...]]:
    """`NAME=V1,V2,...` (NAME as the flag or the field: d-lr, --d-lr, d_lr) -> (field, values)."""
    name, sep, values = text.partition("=")
    name = name.strip().lstrip("-").replace("-", "_")
    if not sep or not values.strip():
        raise ConfigError(f"--sweep wants NAME=V1,V2,..., got {text!r}")
    types = {f.name: f.type for f in dataclasses.fields(Config)}
    if name not in types:
        raise ConfigError(f"--sweep: no option {flag(name)}")
    if name == "seed":
        raise ConfigError("--sweep seed: use --seed and --seeds for the seeds")
    parse = {"int": int, "float": float, "str": str, "bool": lambda v: {"true": True, "false": False}[v.lower()]}
    try:
        parsed = tuple(parse[types[name]](v.strip()) for v in values.split(","))
    except (ValueError, KeyError):
        raise ConfigError(f"--sweep {name}: values must be of type {types[name]}, got {values!r}") from None
    if len(set(parsed)) != len(parsed):
        raise ConfigError(f"--sweep {name}: a value is repeated in {values!r}")
    return name, parsed
