"""What a run writes after each epoch: progress lines, metrics.jsonl and TensorBoard rows, sample
grids, evaluations and checkpoints, each on its own schedule from the config."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from tqdm import tqdm

from jaxgan import checkpoint
from jaxgan.config import Config
from jaxgan.files import write_json_atomic
from jaxgan.runlog import MetricsLog, epoch_summary, progress_lines
from jaxgan.sampling import generate, grid_labels, latents, save_png_atomic, tile
from jaxgan.step import GANState
from jaxgan.tensorboard import SummaryWriter
from jaxgan.workdir import RunDir

GRID_SIZE = 64  # the reference's 8x8 sample grid
EVAL_SCALARS = ("fid", "classifier_score", "kl_to_uniform", "classes_covered")


def save_checkpoint(manager, run: RunDir | None, state: Any, epochs_done: int, **record: Any) -> None:
    """`checkpoint.save`, noted in the manifest of `run` (the main process's)."""
    if run is not None:
        run.record(f"checkpoints/{epochs_done}")
    checkpoint.save(manager, state, epoch=epochs_done, **record)


class RunOutputs:
    """The files of one run: only the main process writes; every process saves checkpoints.

    A population member's outputs have no checkpoints (the population saves one for all), print
    no progress lines and `say` through the population's progress bar."""

    def __init__(self, config: Config, run: RunDir, sample_key: jax.Array, run_key: jax.Array, *,
                 steps: int, start_epoch: int, is_main: bool, tensorboard: bool,
                 progress: bool | None, evaluator: Any = None, member: str | None = None,
                 say: Callable[[str], None] | None = None):
        self.config, self.run, self.run_key, self.is_main = config, run, run_key, is_main
        self.evaluator, self.member = evaluator, member
        self.log = MetricsLog(run.path)
        self.manager = None if member else checkpoint.make_manager(checkpoint.checkpoint_dir(run.path),
                                                                   keep=config.keep)
        self.writer = SummaryWriter(run.path / "tensorboard") if tensorboard and is_main else None
        self.fixed_z = latents(sample_key, GRID_SIZE, config.latent_dim)
        self.fixed_labels = grid_labels(GRID_SIZE, 8, 8) if config.conditional else None
        self.sample_fn = jax.jit(generate)
        self.bar = tqdm(total=config.epochs * steps, initial=start_epoch * steps, unit="step",
                        disable=None if progress is None else not progress, dynamic_ncols=True)
        self.say = say or (self.bar.write if not self.bar.disable else functools.partial(print, flush=True))
        self.steps, self.last_saved = steps, start_epoch
        if is_main:
            self._start(start_epoch)

    def _start(self, start_epoch: int) -> None:
        (self.run.path / "images").mkdir(exist_ok=True)
        write_json_atomic(self.run.path / "config.json", self.config.to_json())
        self.run.record("config.json", "metrics.jsonl")
        if self.log.path.exists():
            self.log.truncate_after(start_epoch)

    def end_of_epoch(self, state: GANState, epoch: int, metrics: dict[str, np.ndarray],
                     seconds: float, save: bool = False) -> None:
        """Everything due after `epoch` (0-based): the record, then grid, evaluation, and a
        checkpoint when one is due or `save` asks for it."""
        self.bar.update(self.steps)
        last = epoch + 1 == self.config.epochs
        if self.is_main:
            self.record(epoch, metrics, seconds)
            if epoch % self.config.sample_every == 0 or last:
                self.grid(state, epoch)
            if self.evaluator and ((epoch + 1) % self.config.eval_every == 0 or last):
                self.evaluate(state, epoch)
        if (epoch + 1) % self.config.checkpoint_every == 0 or last or save:
            self.checkpoint(state, epoch + 1)

    def record(self, epoch: int, metrics: dict[str, np.ndarray], seconds: float) -> None:
        if not self.member:
            for line in progress_lines(epoch, self.config.epochs, metrics, self.config.log_every):
                self.say(line)
        summary = epoch_summary(metrics)
        self.log.append({"kind": "train", "epoch": epoch + 1, "step": (epoch + 1) * self.steps,
                         **summary, "seconds": round(seconds, 4)})
        if self.writer:
            self.writer.scalars(epoch + 1, {f"train/{k}": v for k, v in summary.items()})

    def grid(self, state: GANState, epoch: int) -> None:
        self.save_grid(np.asarray(self.sample_fn(state, self.fixed_z, self.fixed_labels)), epoch)

    def save_grid(self, images: np.ndarray, epoch: int) -> None:
        """images/{epoch}.png (and TensorBoard's image) of the grid's 64 samples."""
        grid = tile(images, 8, 8)
        self.run.record(f"images/{epoch}.png")
        save_png_atomic(self.run.path / "images" / f"{epoch}.png", grid)
        if self.writer:
            self.writer.image(epoch + 1, "samples", grid)
            self.run.record(*(str(p.relative_to(self.run.path)) for p in self.writer.files()))

    def evaluate(self, state: GANState, epoch: int) -> None:
        config = self.config
        scores = self.evaluator.score_generator(state, config.eval_samples, config.seed)
        self.log.append({"kind": "eval", "epoch": epoch + 1, **scores})
        who = f"member {self.member} " if self.member else ""
        self.say(f"{who}Epoch [{epoch}/{config.epochs}] MNIST-FID ({config.eval_samples} samples): "
                 f"{scores['fid']:.2f}, classifier score: {scores['classifier_score']:.2f}, "
                 f"classes covered: {scores['classes_covered']}/10")
        if self.writer:
            self.writer.scalars(epoch + 1, {f"eval/{k}": scores[k] for k in EVAL_SCALARS})

    def checkpoint(self, state: GANState, epochs_done: int) -> None:
        save_checkpoint(self.manager, self.run if self.is_main else None, state, epochs_done,
                        config=self.config, run_key=self.run_key)
        self.last_saved = epochs_done

    def close(self) -> None:
        """Idempotent: the loop closes the outputs when it ends, and again on any exit."""
        self.bar.close()
        if self.writer:
            self.writer.close()
            self.writer = None

