"""Runs: exact resume, what a resume may change, killed and interrupted runs, a run that diverges."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgan import checkpoint
from jaxgan.errors import (
    TrainingError,
)
from jaxgan.loop import train_and_evaluate

from conftest import (
    ROOT,
    TINY,
    TINY_FLAGS,
    assert_trees_equal,
    train_tiny,
)


def losses(workdir: Path) -> list[tuple]:
    rows = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [(r["epoch"], r["d_loss"], r["g_loss"]) for r in rows]


# --- resume is exact, and takes the run's config from its checkpoint -------------------------


def test_resume_is_exact(idx_mnist, tmp_path):
    whole = train_tiny(tmp_path / "whole", idx_mnist, epochs=4, sample_every=100)
    train_tiny(tmp_path / "split", idx_mnist, epochs=2, sample_every=100)
    resumed = train_tiny(tmp_path / "split", idx_mnist, epochs=4, sample_every=100, resume=True)
    assert_trees_equal(whole, resumed)
    assert losses(tmp_path / "whole") == losses(tmp_path / "split")
    assert int(resumed.step) == 4 * 3


@pytest.mark.slow
def test_keep_limits_the_checkpoints(idx_mnist, tmp_path):
    train_and_evaluate(
        TINY.replace(epochs=5, keep=2), tmp_path / "run", data_dir=idx_mnist, progress=False
    )
    kept = sorted(
        int(p.name) for p in (tmp_path / "run" / "checkpoints").iterdir() if p.name.isdigit()
    )
    assert kept == [4, 5]


def test_a_new_run_never_replaces_an_old_one_silently(idx_mnist, tmp_path):
    train_tiny(tmp_path / "run", idx_mnist, epochs=1, sample_every=100)
    with pytest.raises(TrainingError, match="resume=True .* overwrite=True"):
        train_tiny(tmp_path / "run", idx_mnist, epochs=1, sample_every=100)
    assert (tmp_path / "run" / "checkpoints" / "1").is_dir()
    train_tiny(tmp_path / "run", idx_mnist, epochs=1, sample_every=100, overwrite=True)
    assert len(losses(tmp_path / "run")) == 1


# --- a run that diverges ---------------------------------------------------------------------


def test_diverged_training_stops_and_keeps_the_last_good_checkpoint(idx_mnist, tmp_path):
    train_tiny(tmp_path / "run", idx_mnist, epochs=1, sample_every=100)
    with pytest.raises(
        TrainingError, match="NaN/Inf in epoch 1 .*checkpoints up to epoch 1 are intact"
    ):
        train_and_evaluate(
            TINY.replace(epochs=3, lr=1e30),
            tmp_path / "run",
            data_dir=idx_mnist,
            resume=True,
            progress=False,
        )
    restored, meta = checkpoint.restore_latest(tmp_path / "run" / "checkpoints")
    assert meta.epoch == 1
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(restored.g_params))


# --- the script as a process: killed, interrupted --------------------------------------------


def start_train(workdir, data_dir, *extra):
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            *TINY_FLAGS,
            "--workdir",
            str(workdir),
            "--data-dir",
            data_dir,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def wait_for(predicate, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError


def saved_epochs(workdir: Path) -> list[int]:
    d = workdir / "checkpoints"
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.is_dir() else []


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_resumable_run(idx_mnist, tmp_path):
    """Checkpoints every epoch, killed at several moments: saves are often in flight."""
    workdir = tmp_path / "run"
    for delay in (0.0, 0.31):
        proc = start_train(
            workdir,
            idx_mnist,
            "--epochs",
            "100000",
            "--checkpoint-every",
            "1",
            *(["--resume"] if saved_epochs(workdir) else []),
        )
        newest = max(saved_epochs(workdir), default=0)
        wait_for(lambda newest=newest: max(saved_epochs(workdir), default=0) > newest + 1)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        restored, meta = checkpoint.restore_latest(workdir / "checkpoints")
        assert meta.epoch >= 2 and int(restored.step) == 3 * meta.epoch
    proc = start_train(workdir, idx_mnist, "--epochs", str(meta.epoch + 1), "--resume")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "resuming from epoch" in err


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_before_exiting(idx_mnist, tmp_path):
    workdir = tmp_path / "run"
    proc = start_train(workdir, idx_mnist, "--epochs", "100000", "--checkpoint-every", "100000")
    wait_for(
        lambda: (
            (workdir / "metrics.jsonl").exists()
            and len((workdir / "metrics.jsonl").read_text().splitlines()) >= 3
        )
    )
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    (epoch,) = saved_epochs(workdir)
    assert epoch >= 3 and f"saved a checkpoint at epoch {epoch}" in err
    restored, meta = checkpoint.restore_latest(workdir / "checkpoints")
    assert int(restored.step) == 3 * epoch
