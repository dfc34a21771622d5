"""The training loop: data, compiled epochs and the run's outputs, composed."""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path

import jax
import numpy as np

from jaxgan import checkpoint, parallel
from jaxgan.config import Config
from jaxgan.data import default_cache_dir, load_dataset, steps_per_epoch
from jaxgan.epoch import train_epoch
from jaxgan.errors import ConfigError, TrainingError
from jaxgan.guards import check_finite, deferred_interrupts, failures_as_one_line
from jaxgan.outputs import RunOutputs
from jaxgan.runlog import installed_debug_log
from jaxgan.step import GANState, create_train_state
from jaxgan.workdir import RunDir, check_writable, has_checkpoints, open_run_dir


def run_keys(seed: int) -> dict[str, jax.Array]:
    """Independent key streams of a run, all derived from its seed."""
    root = jax.random.key(seed)
    init, train, sample = jax.random.split(root, 3)
    return {"root": root, "init": init, "train": train, "sample": sample}


def epoch_key(train_key: jax.Array, epoch: int) -> jax.Array:
    """Data order and noise of epoch `epoch` (0-based): a pure function of seed and epoch."""
    return jax.random.fold_in(train_key, epoch)


def check_fits(config: Config, device: jax.Device) -> None:
    """Refuse, before allocating anything, a state that cannot fit in the device's memory."""
    shapes = checkpoint.state_template(config)
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes))
    params = sum(x.size for x in jax.tree.leaves((shapes.g_params, shapes.d_params)))
    stats = device.memory_stats() if device.platform != "cpu" else None
    available = (stats or {}).get("bytes_limit") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if 2 * state_bytes > available:  # the state, and the gradients and updates of one step
        raise ConfigError(f"the model does not fit: {params:,} parameters need "
                          f"{2 * state_bytes / 2**30:,.1f} GiB to train (weights, Adam moments, "
                          f"gradients), more than the {available / 2**30:,.1f} GiB of {device.platform} memory")


def _load_checked(config: Config, workdir: Path, data_dir: str | None, cache_dir: str | Path | None,
                  num_devices: int | None) -> tuple[np.ndarray, np.ndarray, jax.sharding.Mesh]:
    """The data and the device mesh, after every check that needs no workdir."""
    config.validate()
    check_writable(workdir)
    images, labels = load_dataset("train", data_dir, cache_dir)
    if config.batch_size > len(images):
        raise ConfigError(f"--batch-size {config.batch_size} is larger than the dataset "
                          f"({len(images)} examples)")
    mesh = parallel.make_mesh(num_devices)
    parallel.check_divisible(mesh, len(images), config.batch_size, config.drop_last)
    check_fits(config, mesh.devices.flat[0])
    return images, labels, mesh


def train_and_evaluate(config: Config, workdir: str | Path, *, data_dir: str | None = None,
                       cache_dir: str | Path | None = None, num_devices: int | None = None,
                       resume: bool = False, overwrite: bool = False, progress: bool | None = None,
                       tensorboard: bool = True) -> GANState:
    """Train the GAN of `config`, writing grids, metrics and checkpoints under `workdir`.

    Everything that can be checked is checked before the workdir is touched: the config, the
    data, the devices and the memory the model needs."""
    t_start = time.perf_counter()
    workdir = Path(workdir).absolute()
    images, labels, mesh = _load_checked(config, workdir, data_dir, cache_dir, num_devices)
    is_main = jax.process_index() == 0
    run = open_run_dir(workdir, resume=resume, overwrite=overwrite) if is_main else RunDir(workdir)
    try:
        if is_main and (debug_log := installed_debug_log()) is not None:
            debug_log.attach(workdir / "debug.log")
            run.record("debug.log")
        state, start_epoch = restore_or_init(config, run, resume)
        if start_epoch >= config.epochs:
            print(f"nothing to do: the run already has {start_epoch} of {config.epochs} epochs",
                  file=sys.stderr)
            return state
        evaluator = None
        if config.eval_every and is_main:
            from jaxgan.evaluation import Evaluator  # the classifier is only needed when asked for

            evaluator = Evaluator.for_mnist(cache_dir or default_cache_dir(), data_dir)
        keys = run_keys(config.seed)
        outputs = RunOutputs(config, run, keys["sample"], keys["root"],
                             steps=steps_per_epoch(len(images), config.batch_size, config.drop_last),
                             start_epoch=start_epoch, is_main=is_main, tensorboard=tensorboard,
                             progress=progress, evaluator=evaluator)
        try:
            return _train(config, state, start_epoch, images, labels, mesh, outputs, t_start)
        finally:
            outputs.close()
    finally:
        run.unlock()


def restore_or_init(config: Config, run: RunDir, resume: bool) -> tuple[GANState, int]:
    """The newest readable checkpoint's state and epoch on --resume, else a fresh state."""
    ckpt_dir = checkpoint.checkpoint_dir(run.path)
    if not (resume and has_checkpoints(ckpt_dir)):
        if resume:
            print(f"no checkpoint in {ckpt_dir}; starting a new run", file=sys.stderr)
        return create_train_state(config, run_keys(config.seed)["init"]), 0
    state, meta = checkpoint.restore_latest(ckpt_dir, expected=config)
    _check_resumable(Config.from_json(meta["config"]), config, meta)
    for path in checkpoint.set_aside_newer(ckpt_dir, meta["epoch"]):
        if jax.process_index() == 0:
            run.record(str(path.relative_to(run.path)))
        print(f"warning: moved unreadable checkpoint to {path}", file=sys.stderr)
    print(f"resuming from epoch {meta['epoch']} (step {meta['step']})", file=sys.stderr)
    return state, meta["epoch"]


def compile_epoch(config: Config, mesh: jax.sharding.Mesh, state: GANState, images: jax.Array,
                  labels: jax.Array | None, key: jax.Array):
    """The whole epoch as one program, compiled ahead of the first epoch; the state is donated."""
    epoch_fn = jax.jit(
        functools.partial(train_epoch, batch_size=config.batch_size, drop_last=config.drop_last,
                          data_sharding=parallel.batch_sharded(mesh) if mesh.size > 1 else None),
        donate_argnums=0, out_shardings=parallel.replicated(mesh))
    return epoch_fn.lower(state, images, key, labels).compile()


def _train(config: Config, state: GANState, start_epoch: int, images: np.ndarray,
           labels: np.ndarray, mesh: jax.sharding.Mesh, outputs: RunOutputs, t_start: float) -> GANState:
    replicated, train_key = parallel.replicated(mesh), run_keys(config.seed)["train"]
    state = jax.device_put(state, replicated)
    images = jax.device_put(images, replicated)
    labels = jax.device_put(labels, replicated) if config.conditional else None
    t_ready, workdir = time.perf_counter(), outputs.run.path
    with failures_as_one_line(workdir, lambda: outputs.last_saved):
        epoch_fn = compile_epoch(config, mesh, state, images, labels, epoch_key(train_key, start_epoch))
    print(f"{len(images)} examples, {outputs.steps} steps/epoch on {mesh.size} "
          f"{mesh.devices.flat[0].platform} device(s); data and state ready in "
          f"{t_ready - t_start:.1f} s, epoch compiled in {time.perf_counter() - t_ready:.1f} s",
          file=sys.stderr)
    seconds, t_train = [], time.perf_counter()
    with deferred_interrupts() as interrupted, failures_as_one_line(workdir, lambda: outputs.last_saved):
        for epoch in range(start_epoch, config.epochs):
            t0 = time.perf_counter()
            state, metrics = epoch_fn(state, images, epoch_key(train_key, epoch), labels)
            metrics = jax.device_get(metrics)  # the one host sync of the epoch
            check_finite(metrics, epoch, outputs.last_saved)
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
    return state


def _check_resumable(saved: Config, asked: Config, meta: dict) -> None:
    """The seed defines the data order and noise a resumed run must continue."""
    if saved.seed != asked.seed:
        raise TrainingError(f"cannot resume with --seed {asked.seed}: the run was started with {saved.seed}")
    saved_key = meta.get("run_key")
    if saved_key is not None and saved_key != np.asarray(
            jax.random.key_data(run_keys(saved.seed)["root"])).tolist():
        raise TrainingError("the checkpoint's RNG key does not match its seed; it was not "
                            "written by this version of jaxgan")
