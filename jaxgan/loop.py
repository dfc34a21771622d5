"""The training loop: data, a run's compiled epochs and its outputs, composed."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxgan import parallel
from jaxgan.config import Config
from jaxgan.data import default_cache_dir, load_dataset, steps_per_epoch
from jaxgan.errors import ConfigError
from jaxgan.guards import deferred_interrupts, failures_as_one_line
from jaxgan.jobs import SingleRun
from jaxgan.population import Population
from jaxgan.population_run import PopulationRun
from jaxgan.runlog import installed_debug_log
from jaxgan.workdir import RunDir, check_writable, open_run_dir

Job = SingleRun | PopulationRun


def _load_checked(job: Job, workdir: Path, data_dir: str | None, cache_dir: str | Path | None,
                  num_devices: int | None) -> tuple[np.ndarray, np.ndarray, jax.sharding.Mesh]:
    """The data and the device mesh, after every check that needs no workdir."""
    config = job.config
    job.validate()
    check_writable(workdir)
    images, labels = load_dataset("train", data_dir, cache_dir)
    if config.batch_size > len(images):
        raise ConfigError(f"--batch-size {config.batch_size} is larger than the dataset "
                          f"({len(images)} examples)")
    mesh = job.mesh(num_devices)
    parallel.check_divisible(mesh, len(images), config.batch_size, config.drop_last)
    job.check_fits(mesh)
    return images, labels, mesh


def train_and_evaluate(config: Config, workdir: str | Path, *, population: Population | None = None,
                       data_dir: str | None = None, cache_dir: str | Path | None = None,
                       num_devices: int | None = None, resume: bool = False, overwrite: bool = False,
                       progress: bool | None = None, tensorboard: bool = True) -> Any:
    """Train the GAN of `config`, or with a `population` (jaxgan.population.Population, whose
    base is `config`) all its members in one program, writing grids, metrics and checkpoints
    under `workdir`. Returns the final state (a population's: stacked `Members`).

    Everything that can be checked is checked before the workdir is touched: the config, the
    data, the devices and the memory the model needs."""
    t_start = time.perf_counter()
    workdir = Path(workdir).absolute()
    job = SingleRun(config) if population is None else PopulationRun(population.with_base(config))
    images, labels, mesh = _load_checked(job, workdir, data_dir, cache_dir, num_devices)
    is_main = jax.process_index() == 0
    run = open_run_dir(workdir, resume=resume, overwrite=overwrite) if is_main else RunDir(workdir)
    try:
        if is_main and (debug_log := installed_debug_log()) is not None:
            debug_log.attach(workdir / "debug.log")
            run.record("debug.log")
        state, start_epoch = job.start(run, resume)
        if start_epoch >= config.epochs:
            print(f"nothing to do: the run already has {start_epoch} of {config.epochs} epochs",
                  file=sys.stderr)
            return state
        evaluator = None
        if config.eval_every and is_main:
            from jaxgan.evaluation import Evaluator  # the classifier is only needed when asked for

            evaluator = Evaluator.for_mnist(cache_dir or default_cache_dir(), data_dir)
        outputs = job.outputs(run, steps=steps_per_epoch(len(images), config.batch_size, config.drop_last),
                              start_epoch=start_epoch, is_main=is_main, tensorboard=tensorboard,
                              progress=progress, evaluator=evaluator)
        try:
            return _train(job, state, start_epoch, images, labels, mesh, outputs, t_start)
        finally:
            outputs.close()
    finally:
        run.unlock()


def _train(job: Job, state: Any, start_epoch: int, images: np.ndarray, labels: np.ndarray,
           mesh: jax.sharding.Mesh, outputs: Any, t_start: float) -> Any:
    config, replicated = job.config, parallel.replicated(mesh)
    images = jax.device_put(images, replicated)
    labels = jax.device_put(labels, replicated) if config.conditional else None
    t_ready, workdir = time.perf_counter(), outputs.run.path
    with failures_as_one_line(workdir, lambda: outputs.last_saved):
        state, epoch_fn = job.compile(mesh, state, images, labels, start_epoch)
    print(f"{len(images)} examples, {outputs.steps} steps/epoch on {mesh.size} "
          f"{mesh.devices.flat[0].platform} device(s); data and state ready in "
          f"{t_ready - t_start:.1f} s, epoch compiled in {time.perf_counter() - t_ready:.1f} s",
          file=sys.stderr)
    seconds, t_train = [], time.perf_counter()
    with deferred_interrupts() as interrupted, failures_as_one_line(workdir, lambda: outputs.last_saved):
        for epoch in range(start_epoch, config.epochs):
            t0 = time.perf_counter()
            state, metrics = epoch_fn(state, epoch)
            metrics = jax.device_get(metrics)  # the one host sync of the epoch
            job.check(metrics, epoch, outputs)
            seconds.append(time.perf_counter() - t0)
            stop = bool(interrupted)  # read once: a signal during the outputs waits an epoch
            outputs.end_of_epoch(state, epoch, metrics, seconds[-1], save=stop)
            if stop:
                print(f"interrupted: saved a checkpoint at epoch {epoch + 1}", file=sys.stderr)
                raise KeyboardInterrupt
    outputs.close()
    train_s = time.perf_counter() - t_train
    print(f"trained {len(seconds)} epochs in {train_s:.1f} s ({train_s / len(seconds):.2f} s/epoch); "
          f"{time.perf_counter() - t_start:.1f} s wall in all", file=sys.stderr)
    job.finish(outputs)
    return state


