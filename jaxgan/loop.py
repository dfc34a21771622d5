"""The training loop, one driver for one GAN or a population of many: the checks and the start
(start.py), the epoch compiled once, the outputs on their schedule, and what stops a run (NaN/Inf
losses, Ctrl-C or SIGTERM, a full disk), each as one line.

Both run the functions of `make_train`: a single run's state is one GANState, in memory and on
disk; a population's is its members' states stacked, the same epoch under `jax.vmap`. The branches
on that are the start, the compiled program, the NaN policy and the outputs' checkpoint record."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from jaxgan import distributed, parallel
from jaxgan.config import Config
from jaxgan.data import steps_per_epoch
from jaxgan.debuglog import installed_debug_log
from jaxgan.epoch import TrainFunctions, make_train
from jaxgan.errors import (
    ConfigError,
    TrainingError,
    arg,
    check_type,
    checked_path,
    failures_as_one_line,
    kept_checkpoints,
)
from jaxgan.files import content_digest
from jaxgan.outputs import Outputs
from jaxgan.population import (
    Population,
)
from jaxgan.program import compile_epoch
from jaxgan.signals import StoppedAndSaved, StopSignals, stop_signals
from jaxgan.start import checked_inputs, start
from jaxgan.step import GANState
from jaxgan.workdir import Workdir, open_workdir


def train_and_evaluate(
    config: Config,
    workdir: str | Path,
    *,
    population: Population | None = None,
    data: Any = None,
    data_dir: str | None = None,
    cache_dir: str | Path | None = None,
    num_devices: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    batch_lines: bool = True,
    tensorboard: bool = True,
    generator: nn.Module | None = None,
    discriminator: nn.Module | None = None,
) -> GANState:
    """Train the GAN of `config`, or with a `population` (whose base becomes `config`) all its
    members in one program, writing grids, metrics and checkpoints under `workdir`. Returns the
    final state (a population's: stacked). `progress`: a progress bar (None: when stderr is a
    terminal); `batch_lines`: the reference's `Epoch [e/E] Batch i/N` lines; `data`: arrays
    (`jaxgan.train`) in place of the config's TFDS dataset; `generator`,
    `discriminator`: modules in place of the built-in ones (see `make_train`).

    Everything that can be checked is checked before the workdir is touched: the config, the
    data, the devices and the memory the model needs."""
    t_start = time.perf_counter()
    check_type(config, Config, "config")
    workdir = checked_path(workdir, "workdir").absolute()
    if resume and overwrite:
        raise ConfigError(
            f"{arg('resume', True)} and {arg('overwrite', True)} exclude each other: continue the "
            f"run or replace it"
        )
    population = population.with_base(config) if population is not None else None
    # A multi-process run stops only where every process agrees to (at an epoch's end).
    with stop_signals(defer=jax.process_count() > 1) as stop:
        config, images, labels, mesh, evaluator = checked_inputs(
            config, population, workdir, data, data_dir, cache_dir, num_devices, resume
        )
        population = population.with_base(config) if population is not None else None
        fns = make_train(
            population.program_config() if population else config,
            generator=generator,
            discriminator=discriminator,
        )
        is_main = jax.process_index() == 0
        if jax.process_count() > 1:
            settings = json.dumps(
                [
                    config.to_json(),
                    population and population.to_json(),
                    str(workdir),
                    resume,
                    overwrite,
                ]
            )
            distributed.check_same_on_every_process(
                content_digest(
                    *(a for a in (images, labels) if a is not None),
                    np.frombuffer(settings.encode(), np.uint8),
                )
            )
        stop.check()
        folder = distributed.on_process_0(
            lambda: open_workdir(workdir, resume=resume, overwrite=overwrite)
        )
        folder = folder or Workdir(workdir)
        debug_log = installed_debug_log() if is_main else None
        try:
            if debug_log is not None:
                debug_log.attach(workdir / "debug.log")
                folder.add_to_manifest("debug.log")
            state, record = start(config, population, folder, resume, fns)
            stop.check()
            start_epoch = record.epoch if record else 0
            if start_epoch >= config.epochs:
                print(
                    f"nothing to do: the run already has {start_epoch} of {config.epochs} epochs",
                    file=sys.stderr,
                )
                return state
            outputs = Outputs(
                fns,
                config,
                population,
                folder,
                steps=steps_per_epoch(len(images), config.batch_size, config.drop_last),
                start_epoch=start_epoch,
                failures=record.failures if record else {},
                is_main=is_main,
                tensorboard=tensorboard,
                progress=progress,
                batch_lines=batch_lines,
                evaluator=evaluator if is_main else None,
            )
            try:
                return _train(
                    fns,
                    config,
                    population,
                    state,
                    start_epoch,
                    images,
                    labels,
                    mesh,
                    outputs,
                    t_start,
                    stop,
                )
            finally:
                outputs.close()
        finally:
            if debug_log is not None:
                debug_log.detach()
            folder.unlock()


def _train(
    fns: TrainFunctions,
    config: Config,
    population: Population | None,
    state: GANState,
    start_epoch: int,
    images: np.ndarray,
    labels: np.ndarray,
    mesh: jax.sharding.Mesh,
    outputs: Outputs,
    t_start: float,
    stop: StopSignals,
) -> GANState:
    replicated = parallel.replicated(mesh)
    images = jax.device_put(images, replicated)
    labels = jax.device_put(labels, replicated) if config.conditional else None
    t_ready, workdir = time.perf_counter(), outputs.folder.path
    with failures_as_one_line(workdir, lambda: outputs.last_saved):
        state, epoch_fn = compile_epoch(
            config,
            state,
            images,
            labels,
            population=population,
            mesh=mesh,
            first_epoch=start_epoch,
            fns=fns,
        )
    print(
        f"{len(images)} examples, {outputs.steps} steps/epoch on {mesh.size} "
        f"{mesh.devices.flat[0].platform} device(s); data and state ready in "
        f"{t_ready - t_start:.1f} s, epoch compiled in {time.perf_counter() - t_ready:.1f} s",
        file=sys.stderr,
    )
    stop.check()
    stop.defer = True
    seconds, t_train = [], time.perf_counter()
    with failures_as_one_line(workdir, lambda: outputs.last_saved):
        for epoch in range(start_epoch, config.epochs):
            t0 = time.perf_counter()
            state, metrics = epoch_fn(state, epoch)
            metrics = parallel.to_host(metrics)  # the one host sync of the epoch
            if population is None:
                del metrics["alive"]
            _check_losses(population, metrics, epoch, outputs)
            seconds.append(time.perf_counter() - t0)
            # Read once: a signal that arrives during the outputs waits for the next epoch.
            stopping = distributed.any_process(bool(stop))
            outputs.end_of_epoch(state, epoch, metrics, seconds[-1], save=stopping)
            if stopping:
                raise StoppedAndSaved(
                    f"saved a checkpoint at epoch {epoch + 1}; continue with {arg('resume', True)}"
                )
    outputs.close()
    train_s = time.perf_counter() - t_train
    print(
        f"trained {len(seconds)} epochs in {train_s:.1f} s ({train_s / len(seconds):.2f} s/epoch); "
        f"{time.perf_counter() - t_start:.1f} s wall in all",
        file=sys.stderr,
    )
    if population is not None:
        print(outputs.summary(), file=sys.stderr)
    return state


# --- what stops a run -----------------------------------------------------------------------------


def _check_losses(
    population: Population | None, metrics: dict[str, np.ndarray], epoch: int, outputs: Outputs
) -> None:
    """A single run stops at the first epoch whose losses became NaN/Inf; a population reports
    the members that did (they are frozen in the step) and stops when none is left training."""
    if population is not None:
        if outputs.note_failures(metrics, epoch) == 0:
            raise TrainingError(
                f"every member's training failed (NaN/Inf) by epoch {epoch}; "
                f"{kept_checkpoints(outputs.last_saved)}"
            )
        return
    if bad := [k for k in ("d_loss", "g_loss") if not np.all(np.isfinite(metrics[k]))]:
        step = int(np.argmin(np.isfinite(metrics[bad[0]])))
        raise TrainingError(
            f"{bad[0]} became NaN/Inf in epoch {epoch} at batch {step}; training "
            f"stopped and {kept_checkpoints(outputs.last_saved)}"
        )
