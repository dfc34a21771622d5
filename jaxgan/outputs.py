"""What a run writes after each epoch, each on its schedule from the config: progress lines; per
member, its metrics.jsonl and TensorBoard rows, sample grids and evaluations; then one checkpoint
of the whole state. A single run is one member whose folder is the workdir; a population's members
have WORKDIR/members/<id>/ each, beside WORKDIR/population.json. Only the main process writes
files; every process takes part in the checkpoint."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from jaxgan import checkpoint, parallel
from jaxgan.config import Config
from jaxgan.epoch import TrainFunctions, run_keys
from jaxgan.files import write_json_atomic
from jaxgan.images import save_png_atomic, tile
from jaxgan.population import Member, Population, member_state
from jaxgan.runlog import (
    MetricsLog,
    SummaryWriter,
    describe_scores,
    epoch_summary,
    progress_lines,
)
from jaxgan.sampling import generate, generate_members, grid_labels, latents
from jaxgan.step import GANState
from jaxgan.workdir import MEMBER_FILE, POPULATION_FILE, Workdir, write_index

GRID_SIZE = 64  # the reference's 8x8 sample grid
Failures = dict[str, dict[str, Any]]  # member id -> {"epoch", "batch", "loss"}


class MemberFiles:
    """One member's run folder: config.json, metrics.jsonl, images/{epoch}.png, TensorBoard."""

    def __init__(
        self,
        config: Config,
        folder: Workdir,
        *,
        label: str,
        start_epoch: int,
        steps: int,
        tensorboard: bool,
        evaluator: Any,
        say: Callable[[str], None],
    ):
        self.config, self.folder, self.label, self.steps = config, folder, label, steps
        self.evaluator, self.say = evaluator, say
        self.log = MetricsLog(folder.path)
        self.writer = SummaryWriter(folder.path / "tensorboard") if tensorboard else None
        (folder.path / "images").mkdir(exist_ok=True)
        write_json_atomic(folder.path / "config.json", config.to_json())
        folder.add_to_manifest("config.json", "metrics.jsonl")
        if self.log.path.exists():
            self.log.truncate_after(start_epoch)

    def record(self, epoch: int, metrics: dict[str, np.ndarray], seconds: float) -> None:
        summary = epoch_summary(metrics)
        self.log.append(
            {
                "kind": "train",
                "epoch": epoch + 1,
                "step": (epoch + 1) * self.steps,
                **summary,
                "seconds": round(seconds, 4),
            }
        )
        if self.writer:
            self.writer.scalars(epoch + 1, {f"train/{k}": v for k, v in summary.items()})

    def save_grid(self, images: np.ndarray, epoch: int) -> None:
        """images/{epoch}.png (and TensorBoard's image) of the grid's 64 samples."""
        grid = tile(images, 8, 8)
        self.folder.add_to_manifest(f"images/{epoch}.png")
        save_png_atomic(self.folder.path / "images" / f"{epoch}.png", grid)
        if self.writer:
            self.writer.image(epoch + 1, "samples", grid)
            self.folder.add_to_manifest(
                *(str(p.relative_to(self.folder.path)) for p in self.writer.files())
            )

    def evaluate(self, fns: TrainFunctions, state: GANState, epoch: int) -> None:
        config = self.config
        scores = self.evaluator.score_generator(fns, state, config.eval_samples, config.seed)
        self.log.append({"kind": "eval", "epoch": epoch + 1, **scores})
        self.say(
            f"{self.label}Epoch [{epoch}/{config.epochs}] {describe_scores(scores, config.dataset)}"
        )
        if self.writer:
            scalars = {k: v for k, v in scores.items() if isinstance(v, (int, float))}
            self.writer.scalars(epoch + 1, {f"eval/{k}": v for k, v in scalars.items()})

    def close(self) -> None:
        if self.writer:
            self.writer.close()
            self.writer = None


def member_means(metrics: dict[str, np.ndarray], alive: np.ndarray) -> dict[str, np.ndarray]:
    """Per-step means over the members that were training at that step."""
    count = np.maximum(alive.astype(np.float64).sum(0), 1)
    return {k: np.where(alive, v, 0).sum(0) / count for k, v in metrics.items() if k != "alive"}


class Outputs:
    def __init__(
        self,
        fns: TrainFunctions,
        config: Config,
        population: Population | None,
        folder: Workdir,
        *,
        steps: int,
        start_epoch: int,
        failures: Failures,
        is_main: bool,
        tensorboard: bool,
        progress: bool | None,
        batch_lines: bool = True,
        evaluator: Any = None,
    ):
        self.fns, self.config, self.population, self.folder, self.steps = (
            fns,
            config,
            population,
            folder,
            steps,
        )
        self.is_main, self.evaluator, self.batch_lines = is_main, evaluator, batch_lines
        self.members = population.members() if population else []
        self.failures, self.last_saved = dict(failures), start_epoch
        self.manager = checkpoint.make_manager(
            checkpoint.checkpoint_dir(folder.path), keep=config.keep
        )
        self.bar = tqdm(
            total=config.epochs * steps,
            initial=start_epoch * steps,
            unit="step",
            disable=None if progress is None else not progress,
            dynamic_ncols=True,
        )
        self.say = self.bar.write if not self.bar.disable else functools.partial(print, flush=True)
        files = functools.partial(
            MemberFiles,
            start_epoch=start_epoch,
            steps=steps,
            tensorboard=tensorboard,
            evaluator=evaluator,
            say=self.say,
        )
        if not is_main:
            self.files = []
        elif population is None:
            self.files = [files(config, folder, label="")]
        else:
            self.files = [
                files(m.config, self._member_folder(i, m), label=f"member {m.id} ")
                for i, m in enumerate(self.members)
            ]
            self.write_index()
        self.sample_fn = jax.jit(
            functools.partial(
                generate if population is None else generate_members,
                fns.generator,
                shape=config.sample_shape,
            )
        )
        configs = [config] if population is None else [m.config for m in self.members]
        self.fixed_z = [
            latents(run_keys(c.seed)["sample"], GRID_SIZE, c.latent_dim) for c in configs
        ]
        self.fixed_labels = (
            grid_labels(GRID_SIZE, 8, 8, classes=config.num_classes) if config.conditional else None
        )

    def _member_folder(self, index: int, member: Member) -> Workdir:
        folder = self.folder.member(f"members/{member.id}")
        write_json_atomic(folder.path / MEMBER_FILE, {"format": 1, "id": member.id, "index": index})
        folder.add_to_manifest(MEMBER_FILE)
        return folder

    def end_of_epoch(
        self,
        state: Any,
        epoch: int,
        metrics: dict[str, np.ndarray],
        seconds: float,
        save: bool = False,
    ) -> None:
        """Everything due after `epoch` (0-based): progress lines (a population's: member means),
        each training member's record, grid and evaluation, then a checkpoint when one is due or
        `save` asks for it."""
        self.bar.update(self.steps)
        config, last = self.config, epoch + 1 == self.config.epochs
        images = (
            self.grids(state) if epoch % config.sample_every == 0 or last else None
        )  # every process
        if self.is_main:
            alive = metrics.get("alive")
            shown = metrics if alive is None else member_means(metrics, alive)
            for line in (
                progress_lines(epoch, config.epochs, shown, config.log_every)
                if self.batch_lines
                else []
            ):
                self.say(line)
            trained = [i for i in range(len(self.files)) if alive is None or alive[i].any()]
            for i in trained:
                mine = (
                    metrics
                    if alive is None
                    else {k: v[i][alive[i]] for k, v in metrics.items() if k != "alive"}
                )
                self.files[i].record(epoch, mine, seconds)
            for i in trained if images is not None else []:
                self.files[i].save_grid(images[i], epoch)
            if self.evaluator and ((epoch + 1) % config.eval_every == 0 or last):
                for i in trained:
                    self.files[i].evaluate(self.fns, self.member_view(state, i), epoch)
        if (epoch + 1) % config.checkpoint_every == 0 or last or save:
            self.checkpoint(state, epoch + 1)

    def grids(self, state: Any) -> np.ndarray:
        """Each member's 64 grid samples from its fixed noise, (members, 64, 28, 28)."""
        if self.population is None:
            return parallel.to_host(self.sample_fn(state, self.fixed_z[0], self.fixed_labels))[None]
        return parallel.to_host(self.sample_fn(state, jnp.stack(self.fixed_z), self.fixed_labels))

    def member_view(self, state: Any, index: int) -> GANState:
        if self.population is None:
            return state
        return member_state(state, index)

    def checkpoint(self, state: Any, epochs_done: int) -> None:
        if self.is_main:
            self.folder.add_to_manifest(f"checkpoints/{epochs_done}")
        extra = (
            None
            if self.population is None
            else {"population": self.population.to_json(), "failures": self.failures}
        )
        checkpoint.save(
            self.manager,
            state,
            epoch=epochs_done,
            config=self.config,
            run_key=run_keys(self.config.seed)["root"],
            extra=extra,
        )
        self.last_saved = epochs_done

    def write_index(self) -> None:
        write_index(self.folder.path, self.population, self.failures)
        self.folder.add_to_manifest(POPULATION_FILE)

    def note_failures(self, metrics: dict[str, np.ndarray], epoch: int) -> int:
        """Report the members that stopped in this epoch; the number still training."""
        alive = metrics["alive"]
        for i, member in enumerate(self.members):
            if member.id in self.failures or alive[i].all():
                continue
            batch = int(np.argmin(alive[i]))
            loss = next(k for k in ("d_loss", "g_loss") if not np.isfinite(metrics[k][i, batch]))
            self.failures[member.id] = {"epoch": epoch, "batch": batch, "loss": loss}
            values = ", ".join(f"{k} {v}" for k, v in member.values.items())
            self.say(
                f"member {member.id} ({values}): {loss} became NaN/Inf in epoch {epoch} at batch "
                f"{batch}; it keeps its state of that step and stops training "
                f"({int(alive[:, -1].sum())} of {len(self.members)} members train on)"
            )
            if self.is_main:
                self.write_index()
        return int(alive[:, -1].sum())

    def summary(self) -> str:
        if not self.failures:
            return f"all {len(self.members)} members trained"
        failed = ", ".join(f"{i} (epoch {f['epoch']})" for i, f in self.failures.items())
        trained = len(self.members) - len(self.failures)
        return f"{trained} of {len(self.members)} members trained; stopped: {failed}"

    def close(self) -> None:
        """Idempotent: the loop closes the outputs when it ends, and again on any exit."""
        self.bar.close()
        for files in self.files:
            files.close()
