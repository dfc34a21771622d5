"""The training loop: data, compiled epochs, logging, sample grids and checkpoints, composed."""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import jax
import numpy as np
from tqdm import tqdm

from jaxgan import checkpoint, parallel
from jaxgan.config import Config
from jaxgan.data import default_cache_dir, load_dataset, steps_per_epoch
from jaxgan.epoch import train_epoch
from jaxgan.errors import ConfigError, TrainingError
from jaxgan.files import write_json_atomic
from jaxgan.runlog import MetricsLog, epoch_summary, installed_debug_log, progress_lines
from jaxgan.sampling import generate, grid_labels, latents, save_png_atomic, tile
from jaxgan.step import GANState, create_train_state
from jaxgan.tensorboard import SummaryWriter
from jaxgan.workdir import RunDir, check_writable, open_run_dir

GRID_SIZE = 64  # the reference's 8x8 sample grid


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
    shapes = jax.eval_shape(functools.partial(create_train_state, config), jax.random.key(0))
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes))
    params = sum(x.size for x in jax.tree.leaves((shapes.g_params, shapes.d_params)))
    stats = device.memory_stats() if device.platform != "cpu" else None
    available = (stats or {}).get("bytes_limit") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if 2 * state_bytes > available:  # the state, and the gradients and updates of one step
        raise ConfigError(f"the model does not fit: {params:,} parameters need "
                          f"{2 * state_bytes / 2**30:,.1f} GiB to train (weights, Adam moments, "
                          f"gradients), more than the {available / 2**30:,.1f} GiB of {device.platform} memory")


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"


@contextlib.contextmanager
def failures_as_one_line(workdir: Path, last_saved: Callable[[], int]) -> Iterator[None]:
    """Disk-full, unwritable-file and out-of-memory failures mid-run become one TrainingError that
    says which checkpoints survive; the details go to WORKDIR/debug.log."""
    try:
        yield
    except (OSError, jax.errors.JaxRuntimeError, checkpoint.CheckpointSaveError) as e:
        logging.getLogger("jaxgan").error("run failed", exc_info=e)
        text = str(e)
        if "No space left" in text or getattr(e, "errno", None) == errno.ENOSPC:
            reason = f"no space left on the device of {workdir}"
        elif "RESOURCE_EXHAUSTED" in text:
            reason = "out of device memory (try a smaller --batch-size or model)"
        else:
            reason = _one_line(e)
        saved = last_saved()
        kept = f"checkpoints up to epoch {saved} are intact" if saved else "no checkpoint was saved"
        raise TrainingError(f"training stopped: {reason}; {kept} (details: {workdir / 'debug.log'})") from None


def _finite_or_raise(metrics: dict[str, np.ndarray], epoch: int, last_saved: int,
                     workdir: Path) -> None:
    bad = [k for k in ("d_loss", "g_loss") if not np.all(np.isfinite(metrics[k]))]
    if bad:
        step = int(np.argmin(np.isfinite(metrics[bad[0]])))
        kept = (f"the last checkpoint (epoch {last_saved}) is kept in "
                f"{checkpoint.checkpoint_dir(workdir)}" if last_saved else "no checkpoint was saved")
        raise TrainingError(f"{bad[0]} became NaN/Inf in epoch {epoch} at batch {step}; training "
                            f"stopped and {kept}")


def train_and_evaluate(
    config: Config,
    workdir: str | Path,
    *,
    data_dir: str | None = None,
    cache_dir: str | Path | None = None,
    num_devices: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    tensorboard: bool = True,
) -> GANState:
    """Train the GAN of `config`, writing grids, metrics and checkpoints under `workdir`.

    Everything that can be checked is checked before the workdir is touched: the config, the
    data, the devices and the memory the model needs."""
    t_start = time.perf_counter()
    config.validate()
    workdir = Path(workdir).absolute()
    check_writable(workdir)
    images, labels = load_dataset(config.dataset, "train", data_dir, cache_dir)
    if config.batch_size > len(images):
        raise ConfigError(f"--batch-size {config.batch_size} is larger than the dataset "
                          f"({len(images)} examples)")
    mesh = parallel.make_mesh(num_devices)
    parallel.check_divisible(mesh, len(images), config.batch_size, config.drop_last)
    check_fits(config, mesh.devices.flat[0])
    is_main = jax.process_index() == 0
    run = open_run_dir(workdir, resume=resume, overwrite=overwrite) if is_main else RunDir(workdir)
    try:
        if is_main and (debug_log := installed_debug_log()) is not None:
            debug_log.attach(workdir / "debug.log")
            run.record("debug.log")
        return _train(config, run, images, labels, mesh, data_dir=data_dir, cache_dir=cache_dir,
                      resume=resume, progress=progress, tensorboard=tensorboard, t_start=t_start)
    finally:
        run.unlock()


def _train(config: Config, run: RunDir, images: np.ndarray, labels: np.ndarray, mesh, *,
           data_dir: str | None, cache_dir: str | Path | None, resume: bool,
           progress: bool | None, tensorboard: bool, t_start: float) -> GANState:
    workdir, is_main = run.path, jax.process_index() == 0
    replicated = parallel.replicated(mesh)
    images = jax.device_put(images, replicated)
    labels = jax.device_put(labels, replicated) if config.conditional else None
    steps = steps_per_epoch(len(images), config.batch_size, config.drop_last)

    keys = run_keys(config.seed)
    ckpt_dir = checkpoint.checkpoint_dir(workdir)
    start_epoch = 0
    if resume and ckpt_dir.is_dir() and any(p.name.isdigit() for p in ckpt_dir.iterdir()):
        state, meta = checkpoint.restore_latest(ckpt_dir, expected=config)
        _check_resumable(Config.from_json(meta["config"]), config, meta)
        start_epoch = meta["epoch"]
        for path in checkpoint.set_aside_newer(ckpt_dir, start_epoch):
            if is_main:
                run.record(str(path.relative_to(workdir)))
            print(f"warning: moved unreadable checkpoint to {path}", file=sys.stderr)
        print(f"resuming from epoch {start_epoch} (step {meta['step']})", file=sys.stderr)
    else:
        if resume:
            print(f"no checkpoint in {ckpt_dir}; starting a new run", file=sys.stderr)
        state = create_train_state(config, keys["init"])
    state = jax.device_put(state, replicated)
    if start_epoch >= config.epochs:
        print(f"nothing to do: the run already has {start_epoch} of {config.epochs} epochs",
              file=sys.stderr)
        return state

    log = MetricsLog(workdir)
    manager = checkpoint.make_manager(ckpt_dir, keep=config.keep)
    if is_main:
        (workdir / "images").mkdir(exist_ok=True)
        write_json_atomic(workdir / "config.json", config.to_json())
        run.record("config.json", "metrics.jsonl")
        if log.path.exists():
            log.truncate_after(start_epoch)
    writer = SummaryWriter(workdir / "tensorboard") if tensorboard and is_main else None
    evaluator = None
    if config.eval_every and is_main:
        from jaxgan.evaluation import Evaluator  # the classifier is only needed when asked for

        evaluator = Evaluator.for_mnist(cache_dir or default_cache_dir(), data_dir)
    fixed_z = latents(keys["sample"], GRID_SIZE, config.latent_dim)
    fixed_labels = grid_labels(GRID_SIZE, 8, 8) if config.conditional else None
    sample_fn = jax.jit(generate)
    epoch_fn = jax.jit(
        functools.partial(train_epoch, batch_size=config.batch_size, drop_last=config.drop_last,
                          data_sharding=parallel.batch_sharded(mesh) if mesh.size > 1 else None),
        donate_argnums=0, out_shardings=replicated)
    t_ready = time.perf_counter()
    last_saved = start_epoch
    with failures_as_one_line(workdir, lambda: last_saved):
        epoch_fn = epoch_fn.lower(state, images, epoch_key(keys["train"], start_epoch), labels).compile()
    print(f"{len(images)} examples, {steps} steps/epoch on {mesh.size} "
          f"{mesh.devices.flat[0].platform} device(s); data and state ready in "
          f"{t_ready - t_start:.1f} s, epoch compiled in {time.perf_counter() - t_ready:.1f} s",
          file=sys.stderr)

    bar = tqdm(total=config.epochs * steps, initial=start_epoch * steps, unit="step",
               disable=None if progress is None else not progress, dynamic_ncols=True)
    say = bar.write if not bar.disable else functools.partial(print, flush=True)
    debug_log = installed_debug_log()
    quiet = debug_log.native_stderr if debug_log else contextlib.nullcontext

    def save(state: GANState, epoch: int) -> None:
        with quiet():
            checkpoint.save(manager, state, epoch=epoch, config=config, run_key=keys["root"])

    seconds, t_train = [], time.perf_counter()
    with deferred_interrupts() as interrupted, failures_as_one_line(workdir, lambda: last_saved):
        for epoch in range(start_epoch, config.epochs):
            t0 = time.perf_counter()
            state, metrics = epoch_fn(state, images, epoch_key(keys["train"], epoch), labels)
            metrics = jax.device_get(metrics)  # the one host sync of the epoch
            _finite_or_raise(metrics, epoch, last_saved, workdir)
            seconds.append(time.perf_counter() - t0)
            bar.update(steps)
            last = epoch + 1 == config.epochs
            if is_main:
                for line in progress_lines(epoch, config.epochs, metrics, config.log_every):
                    say(line)
                summary = epoch_summary(metrics)
                log.append({"kind": "train", "epoch": epoch + 1, "step": (epoch + 1) * steps,
                            **summary, "seconds": round(seconds[-1], 4)})
                if writer:
                    writer.scalars(epoch + 1, {f"train/{k}": v for k, v in summary.items()})
                if epoch % config.sample_every == 0 or last:
                    grid = tile(np.asarray(sample_fn(state, fixed_z, fixed_labels)), 8, 8)
                    run.record(f"images/{epoch}.png")
                    save_png_atomic(workdir / "images" / f"{epoch}.png", grid)
                    if writer:
                        writer.image(epoch + 1, "samples", grid)
                        run.record(*(str(p.relative_to(workdir)) for p in writer.files()))
                if evaluator and ((epoch + 1) % config.eval_every == 0 or last):
                    _evaluate(evaluator, state, config, epoch, log, writer, say)
            if (epoch + 1) % config.checkpoint_every == 0 or last or interrupted:
                if is_main:
                    run.record(f"checkpoints/{epoch + 1}")
                save(state, epoch=epoch + 1)
                last_saved = epoch + 1
            if interrupted:
                bar.close()
                print(f"interrupted: saved a checkpoint at epoch {epoch + 1}", file=sys.stderr)
                raise KeyboardInterrupt
    bar.close()
    if writer:
        writer.close()
    train_s = time.perf_counter() - t_train
    print(f"trained {len(seconds)} epochs in {train_s:.1f} s ({train_s / len(seconds):.2f} s/epoch); "
          f"{time.perf_counter() - t_start:.1f} s wall in all", file=sys.stderr)
    return state


def _evaluate(evaluator, state: GANState, config: Config, epoch: int, log: MetricsLog,
              writer: SummaryWriter | None, say: Callable[[str], None]) -> None:
    scores = evaluator.score_generator(state, config.eval_samples, config.seed)
    log.append({"kind": "eval", "epoch": epoch + 1, **scores})
    say(f"Epoch [{epoch}/{config.epochs}] MNIST-FID ({config.eval_samples} samples): "
        f"{scores['fid']:.2f}, classifier score: {scores['classifier_score']:.2f}, "
        f"classes covered: {scores['classes_covered']}/10")
    if writer:
        writer.scalars(epoch + 1, {f"eval/{k}": scores[k] for k in
                                   ("fid", "classifier_score", "kl_to_uniform", "classes_covered")})


@contextlib.contextmanager
def deferred_interrupts():
    """Turn the first Ctrl-C (or SIGTERM) into a flag the loop acts on between epochs.

    Raising mid-epoch could land after the state's buffers were donated to the running epoch;
    finishing the epoch and saving it is both safe and what the user wants. A second Ctrl-C
    aborts at once.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        print("\ninterrupt: finishing this epoch and saving a checkpoint (again to abort)",
              file=sys.stderr)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _check_resumable(saved: Config, asked: Config, meta: dict) -> None:
    """Seed and dataset define the data order and noise a resumed run must continue."""
    for name in ("seed", "dataset"):
        if getattr(saved, name) != getattr(asked, name):
            raise TrainingError(f"cannot resume with --{name} {getattr(asked, name)}: the run was "
                                f"started with {getattr(saved, name)}")
    saved_key = meta.get("run_key")
    if saved_key is not None and saved_key != np.asarray(
            jax.random.key_data(run_keys(saved.seed)["root"])).tolist():
        raise TrainingError("the checkpoint's RNG key does not match its seed; it was not "
                            "written by this version of jaxgan")
