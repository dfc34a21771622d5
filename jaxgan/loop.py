"""The training loop, one driver for one GAN or a population of many: the checks that come before
any work, the start (fresh or resumed), the epoch compiled once, the outputs on their schedule, and
what stops a run (NaN/Inf losses, Ctrl-C or SIGTERM, a full disk), each as one line.

Both run the functions of `make_train`: a single run's state is one GANState, in memory and on
disk; a population's is its members' states stacked, the same epoch under `jax.vmap`. The branches
on that are the start, the compiled program, the NaN policy and the outputs' checkpoint record."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from jaxgan import checkpoint, parallel
from jaxgan.checkpoint import CheckpointRecord
from jaxgan.config import POSITIVE_INT, Config, check_type, checked_path
from jaxgan.data import load_dataset, steps_per_epoch
from jaxgan.debuglog import installed_debug_log, quiet_libraries
from jaxgan.epoch import TrainFunctions, make_train, run_keys
from jaxgan.errors import (
    ConfigError,
    TrainingError,
    arg,
    failures_as_one_line,
    kept_checkpoints,
)
from jaxgan.evaluation import Evaluator
from jaxgan.files import content_digest
from jaxgan.images import SAMPLE_BYTES
from jaxgan.outputs import Outputs
from jaxgan.population import (
    Population,
    init_population,
    member_state,
    population_hyperparams,
    restore_population,
    saved_failures,
    sweep_from_dict,
)
from jaxgan.program import compile_epoch
from jaxgan.runlog import EpochMetrics, MetricsLog, mean_epochs
from jaxgan.signals import StopSignals, stop_signals
from jaxgan.step import GANState, hyperparams, with_hyperparams
from jaxgan.workdir import Workdir, check_writable, has_checkpoints, open_workdir


def train_and_evaluate(
    config: Config,
    workdir: str | Path,
    *,
    population: Population | None = None,
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
    terminal); `batch_lines`: the reference's `Epoch [e/E] Batch i/N` lines; `generator`,
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
        images, labels, mesh, evaluator = _checked_inputs(
            config, population, workdir, data_dir, cache_dir, num_devices
        )
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
            parallel.check_same_on_every_process(
                content_digest(images, labels, np.frombuffer(settings.encode(), np.uint8))
            )
        stop.check()
        folder = parallel.on_process_0(
            lambda: open_workdir(workdir, resume=resume, overwrite=overwrite)
        )
        folder = folder or Workdir(workdir)
        debug_log = installed_debug_log() if is_main else None
        try:
            if debug_log is not None:
                debug_log.attach(workdir / "debug.log")
                folder.add_to_manifest("debug.log")
            state, record = _start(config, population, folder, resume, fns)
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
    `progress=False` prints nothing per batch; None shows a bar where stderr is a terminal and
    the reference's batch lines. `generator`, `discriminator`: modules of your own in place of the
    built-in ones (`make_train`); `load` and the tools rebuild the built-in ones."""
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


def _checked_inputs(
    config: Config,
    population: Population | None,
    workdir: Path,
    data_dir: str | None,
    cache_dir: str | Path | None,
    num_devices: int | None,
) -> tuple[np.ndarray, np.ndarray, jax.sharding.Mesh, Evaluator | None]:
    """The data, the device mesh and the evaluator (with `eval_every`), after every check that
    needs no workdir."""
    config.validate()
    if population is not None:
        population.validate()
        if jax.process_count() > 1 and config.eval_every:
            raise TrainingError(
                f"{arg('eval_every')} with a population across processes: evaluate its "
                f"members afterwards (evaluate.py --workdir WORKDIR)"
            )
    check_writable(workdir)
    evaluator = None
    if config.eval_every:
        parallel.check_host_memory(
            config.eval_samples, SAMPLE_BYTES, arg("eval_samples", config.eval_samples)
        )
        evaluator = Evaluator.standard()  # the shipped classifier, verified before any work
    data_dir = None if data_dir is None else str(checked_path(data_dir, "data_dir"))
    cache_dir = None if cache_dir is None else checked_path(cache_dir, "cache_dir")
    images, labels = load_dataset("train", data_dir, cache_dir)
    if config.batch_size > len(images):
        raise ConfigError(
            f"{arg('batch_size', config.batch_size)} is larger than the dataset ({len(images)} "
            "examples)"
        )
    mesh = parallel.make_mesh(num_devices, members=population.size if population else 0)
    parallel.check_divisible(mesh, len(images), config.batch_size, config.drop_last)
    per_device = population.size // mesh.shape[parallel.MEMBERS_AXIS] if population else 1
    parallel.check_fits(config, mesh.devices.flat[0], per_device)
    return images, labels, mesh, evaluator


def _start(
    config: Config,
    population: Population | None,
    folder: Workdir,
    resume: bool,
    fns: TrainFunctions,
) -> tuple[GANState, dict[str, Any] | None]:
    """The newest readable checkpoint's state and record on --resume (training on with the numbers
    of `config`), else a fresh state."""
    ckpt_dir = checkpoint.checkpoint_dir(folder.path)
    if not (resume and has_checkpoints(ckpt_dir)):
        if resume:
            print(f"no checkpoint in {ckpt_dir}; starting a new run", file=sys.stderr)
        if population is not None:
            return init_population(population, fns), None
        return fns.init(run_keys(config.seed)["init"]), None
    if population is not None:
        state, record, _ = restore_population(folder.path, population, fns)
        state = with_hyperparams(state, population_hyperparams(population))
    else:
        template = jax.eval_shape(fns.init, jax.random.key(0))
        state, record = checkpoint.restore_latest(ckpt_dir, expected=config, template=template)
        state = with_hyperparams(state, hyperparams(config))
    _check_resumable(record.config, config, record)
    for path in checkpoint.set_aside_newer(ckpt_dir, record.epoch):
        if jax.process_index() == 0:
            folder.add_to_manifest(str(path.relative_to(folder.path)))
        print(f"warning: moved unreadable checkpoint to {path}", file=sys.stderr)
    print(f"resuming from epoch {record.epoch} (step {record.step})", file=sys.stderr)
    return state, record


def _check_resumable(saved: Config, asked: Config, record: CheckpointRecord) -> None:
    """The seed defines the data order and noise a resumed run must continue."""
    if saved.seed != asked.seed:
        raise TrainingError(
            f"cannot resume with {arg('seed', asked.seed)}: the run was started with {saved.seed}"
        )
    if record.run_key != np.asarray(jax.random.key_data(run_keys(saved.seed)["root"])).tolist():
        raise TrainingError(
            "the checkpoint's RNG key does not match its seed; it was not "
            "written by this version of jaxgan"
        )


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
            stopping = parallel.any_process(
                bool(stop)
            )  # read once: a signal during the outputs waits an epoch
            outputs.end_of_epoch(state, epoch, metrics, seconds[-1], save=stopping)
            if stopping:
                raise KeyboardInterrupt(
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
