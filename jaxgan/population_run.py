"""A population as a run of the training loop: members split over the mesh's members axis, one
compiled epoch for all, and a member that fails is frozen while the others train on."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import jax
import numpy as np

from jaxgan import parallel
from jaxgan.errors import TrainingError
from jaxgan.jobs import restore_or_init
from jaxgan.members import Members, init_members, members_epoch_keys, restore_members, train_members_epoch
from jaxgan.population import Population
from jaxgan.population_outputs import PopulationOutputs
from jaxgan.workdir import RunDir


class PopulationRun:
    def __init__(self, population: Population):
        self.population, self.config = population, population.base
        self.failures: dict = {}

    def validate(self) -> None:
        self.population.validate()
        if jax.process_count() > 1:
            raise TrainingError("a population trains in one process; run it without --distributed")

    def mesh(self, num_devices: int | None) -> jax.sharding.Mesh:
        return parallel.make_mesh(num_devices, members=self.population.size)

    def check_fits(self, mesh: jax.sharding.Mesh) -> None:
        per_device = self.population.size // mesh.shape[parallel.MEMBERS_AXIS]
        parallel.check_fits(self.config, mesh.devices.flat[0], per_device)

    def start(self, run: RunDir, resume: bool) -> tuple[Members, int]:
        return restore_or_init(self.config, run, resume, init=lambda: init_members(self.population),
                               restore=self._restore)

    def _restore(self, directory: Path) -> tuple[Members, dict]:
        members, meta, _ = restore_members(directory, self.population)
        self.failures = meta.get("failures", {})
        return members, meta

    def outputs(self, run: RunDir, **kwargs) -> PopulationOutputs:
        return PopulationOutputs(self.population, run, failures=self.failures, **kwargs)

    def compile(self, mesh: jax.sharding.Mesh, members: Members, images: jax.Array,
                labels: jax.Array | None, first_epoch: int):
        """The members split over the mesh, and every member's epoch as one program."""
        config, split = self.config, parallel.member_sharded(mesh)
        data_split = mesh.shape[parallel.DATA_AXIS] > 1
        epoch_fn = jax.jit(
            functools.partial(train_members_epoch, batch_size=config.batch_size, drop_last=config.drop_last,
                              data_sharding=parallel.batch_sharded(mesh) if data_split else None,
                              member_axis=parallel.MEMBERS_AXIS if mesh.size > 1 else None),
            donate_argnums=0, out_shardings=split)
        members = jax.device_put(members, split)
        keys = functools.partial(members_epoch_keys, self.population)
        compiled = epoch_fn.lower(members, images, keys(first_epoch), labels).compile()
        return members, lambda members, epoch: compiled(members, images, keys(epoch), labels)

    def check(self, metrics: dict[str, np.ndarray], epoch: int, outputs: PopulationOutputs) -> None:
        """Report members that failed this epoch; stop when none is left training."""
        if outputs.note_failures(metrics, epoch) == 0:
            kept = (f"checkpoints up to epoch {outputs.last_saved} are intact" if outputs.last_saved
                    else "no checkpoint was saved")
            raise TrainingError(f"every member's training failed (NaN/Inf) by epoch {epoch}; {kept}")

    def finish(self, outputs: PopulationOutputs) -> None:
        print(outputs.summary(), file=sys.stderr)

