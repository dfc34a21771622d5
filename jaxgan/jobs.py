"""A run of the training loop: how its state starts or resumes, how its epoch compiles, and what a
non-finite loss does. `SingleRun` trains one GAN; `population_run.PopulationRun` many."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxgan import checkpoint, parallel
from jaxgan.config import Config
from jaxgan.epoch import train_epoch
from jaxgan.errors import TrainingError
from jaxgan.guards import check_finite
from jaxgan.keys import epoch_key, run_keys
from jaxgan.outputs import RunOutputs
from jaxgan.step import GANState, create_train_state
from jaxgan.workdir import RunDir, has_checkpoints


class SingleRun:
    """One GAN: its state, its compiled epoch, and a non-finite loss stops the run."""

    def __init__(self, config: Config):
        self.config = config

    def validate(self) -> None:
        self.config.validate()

    def mesh(self, num_devices: int | None) -> jax.sharding.Mesh:
        return parallel.make_mesh(num_devices)

    def check_fits(self, mesh: jax.sharding.Mesh) -> None:
        parallel.check_fits(self.config, mesh.devices.flat[0])

    def start(self, run: RunDir, resume: bool) -> tuple[GANState, int]:
        return restore_or_init(self.config, run, resume,
                               init=lambda: create_train_state(self.config, run_keys(self.config.seed)["init"]),
                               restore=lambda d: checkpoint.restore_latest(d, expected=self.config))

    def outputs(self, run: RunDir, **kwargs) -> RunOutputs:
        keys = run_keys(self.config.seed)
        return RunOutputs(self.config, run, keys["sample"], keys["root"], **kwargs)

    def compile(self, mesh: jax.sharding.Mesh, state: GANState, images: jax.Array,
                labels: jax.Array | None, first_epoch: int):
        """The state on the mesh, and the epoch as one program (compiled now; the state donated)."""
        replicated, train_key = parallel.replicated(mesh), run_keys(self.config.seed)["train"]
        epoch_fn = jax.jit(
            functools.partial(train_epoch, batch_size=self.config.batch_size, drop_last=self.config.drop_last,
                              data_sharding=parallel.batch_sharded(mesh) if mesh.size > 1 else None),
            donate_argnums=0, out_shardings=replicated)
        state = jax.device_put(state, replicated)
        compiled = epoch_fn.lower(state, images, epoch_key(train_key, first_epoch), labels).compile()
        return state, lambda state, epoch: compiled(state, images, epoch_key(train_key, epoch), labels)

    def check(self, metrics: dict[str, np.ndarray], epoch: int, outputs: RunOutputs) -> None:
        check_finite(metrics, epoch, outputs.last_saved)

    def finish(self, outputs: RunOutputs) -> None:
        pass


def restore_or_init(config: Config, run: RunDir, resume: bool, *, init: Callable[[], Any],
                    restore: Callable[[Path], tuple[Any, dict]]) -> tuple[Any, int]:
    """The newest readable checkpoint's state and epoch on --resume, else `init()`."""
    ckpt_dir = checkpoint.checkpoint_dir(run.path)
    if not (resume and has_checkpoints(ckpt_dir)):
        if resume:
            print(f"no checkpoint in {ckpt_dir}; starting a new run", file=sys.stderr)
        return init(), 0
    state, meta = restore(ckpt_dir)
    _check_resumable(Config.from_json(meta["config"]), config, meta)
    for path in checkpoint.set_aside_newer(ckpt_dir, meta["epoch"]):
        if jax.process_index() == 0:
            run.record(str(path.relative_to(run.path)))
        print(f"warning: moved unreadable checkpoint to {path}", file=sys.stderr)
    print(f"resuming from epoch {meta['epoch']} (step {meta['step']})", file=sys.stderr)
    return state, meta["epoch"]


def _check_resumable(saved: Config, asked: Config, meta: dict) -> None:
    """The seed defines the data order and noise a resumed run must continue."""
    if saved.seed != asked.seed:
        raise TrainingError(f"cannot resume with --seed {asked.seed}: the run was started with {saved.seed}")
    saved_key = meta.get("run_key")
    if saved_key is not None and saved_key != np.asarray(
            jax.random.key_data(run_keys(saved.seed)["root"])).tolist():
        raise TrainingError("the checkpoint's RNG key does not match its seed; it was not "
                            "written by this version of jaxgan")
