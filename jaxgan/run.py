"""`jaxgan.train`: one run, or a population of seeds and swept numbers, from Python; and what it
returns, the final state with every epoch's metrics (each member's, for a population)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import flax.linen as nn

from jaxgan import parallel
from jaxgan.config import POSITIVE_INT, Config
from jaxgan.debuglog import quiet_libraries
from jaxgan.errors import ConfigError, arg, check_type
from jaxgan.loop import train_and_evaluate
from jaxgan.population import (
    Population,
    member_state,
    sweep_from_dict,
)
from jaxgan.runlog import EpochMetrics, MetricsLog, mean_epochs
from jaxgan.step import GANState
from jaxgan.workdir import saved_failures


@dataclasses.dataclass(frozen=True)
class MemberResult:
    """One member of a trained population."""

    id: str
    seed: int
    values: dict[str, Any]  # its swept values (and seed)
    metrics: list[EpochMetrics]
    state: GANState
    failed: dict[str, Any] | None  # where its losses became NaN/Inf: epoch, batch, loss


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What `train` returns: the final state (a population's stacked one), one dict per epoch as
    in metrics.jsonl (a population's: the mean over its members that trained that epoch), the
    workdir, and a population's members (None for a single run)."""

    state: GANState
    metrics: list[EpochMetrics]
    workdir: Path
    members: list[MemberResult] | None = None


def train(
    config: Config,
    workdir: str | Path,
    *,
    seeds: int | None = None,
    sweep: dict[str, list[Any]] | None = None,
    data: Any = None,
    data_dir: str | None = None,
    cache_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    generator: nn.Module | None = None,
    discriminator: nn.Module | None = None,
) -> TrainResult:
    """Train `config` into `workdir`; with `seeds` (N seeds from config.seed) and/or `sweep`
    ({"lr": [2e-4, 1e-3]}: every combination, times the seeds) a population in one program.
    `data`: images uint8 (N, H, W[, C]) or (images, labels) in place of the config's TFDS
    dataset (the run records a digest of them). `progress=False` prints nothing per batch; None
    shows a bar where stderr is a terminal and the reference's batch lines. `generator`,
    `discriminator`: modules of your own in place of the built-in ones (`make_train`); `load` and
    the tools rebuild the built-in ones."""
    quiet_libraries().begin()
    parallel.deterministic_gpu()  # effective when no JAX backend has started yet
    population = None
    if seeds is not None or not (sweep is None or isinstance(sweep, dict) and not sweep):
        if seeds is not None and not POSITIVE_INT.ok(seeds):
            raise ConfigError(f"{arg('seeds')} must be {POSITIVE_INT.wants}, got {seeds!r}")
        population = Population(
            check_type(config, Config, "config"),
            seeds=1 if seeds is None else seeds,
            sweep=sweep_from_dict({} if sweep is None else sweep),
        )
    state = train_and_evaluate(
        config,
        workdir,
        population=population,
        data=data,
        data_dir=data_dir,
        cache_dir=cache_dir,
        resume=resume,
        overwrite=overwrite,
        progress=progress,
        batch_lines=progress is not False,
        generator=generator,
        discriminator=discriminator,
    )
    workdir = Path(workdir).absolute()  # checked by train_and_evaluate
    if population is None:
        return TrainResult(state, MetricsLog(workdir).epochs(), workdir)
    failures = saved_failures(workdir)
    members = [
        MemberResult(
            m.id,
            m.values["seed"],
            {k: v for k, v in m.values.items() if k != "seed"},
            MetricsLog(workdir / "members" / m.id).epochs(),
            member_state(state, i),
            failures.get(m.id),
        )
        for i, m in enumerate(population.members())
    ]
    return TrainResult(state, mean_epochs([m.metrics for m in members]), workdir, members)
