"""What a population writes: member-mean progress lines, each member's ordinary run folder
(WORKDIR/members/<id>/: config.json, metrics.jsonl, images/, TensorBoard), WORKDIR/population.json,
and one checkpoint of the stacked state."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from jaxgan import checkpoint
from jaxgan.files import write_json_atomic
from jaxgan.keys import run_keys
from jaxgan.members import Members, member_state
from jaxgan.outputs import RunOutputs, save_checkpoint
from jaxgan.population import MEMBER_FILE, POPULATION_FILE, Population
from jaxgan.runlog import progress_lines
from jaxgan.sampling import generate
from jaxgan.workdir import RunDir

Failures = dict[str, dict[str, Any]]  # member id -> {"epoch", "batch", "loss"}


def member_means(metrics: dict[str, np.ndarray], alive: np.ndarray) -> dict[str, np.ndarray]:
    """Per-step means over the members that were training at that step."""
    weights = alive.astype(np.float64)
    count = np.maximum(weights.sum(0), 1)
    return {k: np.where(alive, v, 0).sum(0) / count for k, v in metrics.items() if k != "alive"}


class PopulationOutputs:
    def __init__(self, population: Population, run: RunDir, *, steps: int, start_epoch: int,
                 failures: Failures, is_main: bool, tensorboard: bool, progress: bool | None,
                 evaluator: Any = None):
        self.population, self.run, self.steps, self.is_main = population, run, steps, is_main
        self.config, self.members = population.base, population.members()
        self.failures, self.last_saved = dict(failures), start_epoch
        self.manager = checkpoint.make_manager(checkpoint.checkpoint_dir(run.path), keep=self.config.keep)
        self.bar = tqdm(total=self.config.epochs * steps, initial=start_epoch * steps, unit="step",
                        disable=None if progress is None else not progress, dynamic_ncols=True)
        self.say = self.bar.write if not self.bar.disable else functools.partial(print, flush=True)
        self.outputs = [self._member_outputs(i, m, start_epoch, tensorboard, evaluator)
                        for i, m in enumerate(self.members)] if is_main else []
        fixed = [o.fixed_z for o in self.outputs]
        self.fixed_z = jnp.stack(fixed) if fixed else None
        self.fixed_labels = self.outputs[0].fixed_labels if self.outputs else None
        self.grid_fn = jax.jit(jax.vmap(generate, in_axes=(0, 0, None)))
        if is_main:
            self.write_index()

    def _member_outputs(self, index: int, member, start_epoch: int, tensorboard: bool,
                        evaluator: Any) -> RunOutputs:
        folder = self.run.member(f"members/{member.id}")
        write_json_atomic(folder.path / MEMBER_FILE, {"format": 1, "id": member.id, "index": index})
        folder.record(MEMBER_FILE)
        keys = run_keys(member.config.seed)
        return RunOutputs(member.config, folder, keys["sample"], keys["root"], steps=self.steps,
                          start_epoch=start_epoch, is_main=True, tensorboard=tensorboard,
                          progress=False, evaluator=evaluator, member=member.id, say=self.say)

    def write_index(self) -> None:
        """WORKDIR/population.json: the spec, and each member's values and state."""
        rows = [{"id": m.id, "folder": f"members/{m.id}", **m.values,
                 "failed": self.failures.get(m.id)} for m in self.members]
        write_json_atomic(self.run.path / POPULATION_FILE, {"format": 1, **self.population.to_json(),
                                                            "members": rows})
        self.run.record(POPULATION_FILE)

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
            self.say(f"member {member.id} ({values}): {loss} became NaN/Inf in epoch {epoch} at batch "
                     f"{batch}; it keeps its state of that step and stops training "
                     f"({int(alive[:, -1].sum())} of {len(self.members)} members train on)")
            if self.is_main:
                self.write_index()
        return int(alive[:, -1].sum())

    def end_of_epoch(self, members: Members, epoch: int, metrics: dict[str, np.ndarray],
                     seconds: float, save: bool = False) -> None:
        """Member-mean progress lines, each training member's record, grid and evaluation, then
        the population's checkpoint when one is due."""
        self.bar.update(self.steps)
        config, last = self.config, epoch + 1 == self.config.epochs
        alive = metrics["alive"]
        for line in progress_lines(epoch, config.epochs, member_means(metrics, alive), config.log_every):
            self.say(line)
        trained = [i for i in range(len(self.outputs)) if alive[i].any()]
        for i in trained:
            mine = {k: v[i][alive[i]] for k, v in metrics.items() if k != "alive"}
            self.outputs[i].record(epoch, mine, seconds)
        if self.outputs and (epoch % config.sample_every == 0 or last):
            images = np.asarray(self.grid_fn(members.state, self.fixed_z, self.fixed_labels))
            for i in trained:
                self.outputs[i].save_grid(images[i], epoch)
        if self.outputs and self.outputs[0].evaluator and ((epoch + 1) % config.eval_every == 0 or last):
            for i in trained:
                self.outputs[i].evaluate(member_state(members, i, self.members[i].config), epoch)
        if (epoch + 1) % config.checkpoint_every == 0 or last or save:
            self.checkpoint(members, epoch + 1)

    def checkpoint(self, members: Members, epochs_done: int) -> None:
        save_checkpoint(self.manager, self.run if self.is_main else None, members, epochs_done,
                        config=self.config, run_key=run_keys(self.config.seed)["root"],
                        extra={"population": self.population.to_json(), "failures": self.failures})
        self.last_saved = epochs_done

    def close(self) -> None:
        self.bar.close()
        for outputs in self.outputs:
            outputs.close()

    def summary(self) -> str:
        if not self.failures:
            return f"all {len(self.members)} members trained"
        failed = ", ".join(f"{i} (epoch {f['epoch']})" for i, f in self.failures.items())
        return f"{len(self.members) - len(self.failures)} of {len(self.members)} members trained; stopped: {failed}"
