"""Durable runs: exact resume, killed runs, Ctrl-C, refusing to overwrite, bad checkpoints."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgan import checkpoint, cli, population
from jaxgan.cli import sample as sample_tool
from jaxgan.cli import train as train_tool
from jaxgan.errors import CheckpointError, IncompatibleCheckpointError, TrainingError
from jaxgan.loop import train_and_evaluate

from conftest import ROOT, TINY, TINY_FLAGS, assert_one_line_error, assert_trees_equal, run_cli


def train(workdir, data_dir, epochs, **kwargs):
    return train_and_evaluate(TINY.replace(epochs=epochs, sample_every=100), workdir, data_dir=data_dir,
                              progress=False, **kwargs)


def losses(workdir: Path) -> list[tuple]:
    rows = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [(r["epoch"], r["d_loss"], r["g_loss"]) for r in rows]


def test_resume_is_exact(idx_mnist, tmp_path):
    whole = train(tmp_path / "whole", idx_mnist, 4)
    train(tmp_path / "split", idx_mnist, 2)
    resumed = train(tmp_path / "split", idx_mnist, 4, resume=True)
    assert_trees_equal(whole, resumed)
    assert losses(tmp_path / "whole") == losses(tmp_path / "split")
    assert int(resumed.step) == 4 * 3


def test_checkpoint_holds_state_and_a_readable_record(idx_mnist, tmp_path):
    state = train(tmp_path / "run", idx_mnist, 2)
    restored, meta = checkpoint.restore_latest(tmp_path / "run" / "checkpoints")
    assert_trees_equal(state, restored)
    assert meta["epoch"] == 2 and meta["step"] == 6 and meta["config"]["hidden_dim"] == 16
    assert meta["run_key"] == np.asarray(jax.random.key_data(jax.random.key(0))).tolist()


def test_keep_limits_the_checkpoints(idx_mnist, tmp_path):
    train_and_evaluate(TINY.replace(epochs=5, keep=2), tmp_path / "run", data_dir=idx_mnist,
                       progress=False)
    kept = sorted(int(p.name) for p in (tmp_path / "run" / "checkpoints").iterdir() if p.name.isdigit())
    assert kept == [4, 5]


def test_a_new_run_never_replaces_an_old_one_silently(idx_mnist, tmp_path):
    train(tmp_path / "run", idx_mnist, 1)
    with pytest.raises(TrainingError, match="--resume .* --overwrite"):
        train(tmp_path / "run", idx_mnist, 1)
    assert (tmp_path / "run" / "checkpoints" / "1").is_dir()
    train(tmp_path / "run", idx_mnist, 1, overwrite=True)
    assert len(losses(tmp_path / "run")) == 1


def test_resume_refuses_other_shapes_and_allows_more_epochs(idx_mnist, tmp_path):
    train(tmp_path / "run", idx_mnist, 1)
    with pytest.raises(IncompatibleCheckpointError, match="trained --hidden-dim 16; you passed --hidden-dim 32"):
        train_and_evaluate(TINY.replace(epochs=2, hidden_dim=32), tmp_path / "run",
                           data_dir=idx_mnist, resume=True, progress=False)
    with pytest.raises(TrainingError, match="--seed"):
        train_and_evaluate(TINY.replace(epochs=2, seed=5), tmp_path / "run",
                           data_dir=idx_mnist, resume=True, progress=False)
    state = train(tmp_path / "run", idx_mnist, 2, resume=True)
    assert int(state.step) == 6


def corrupt(checkpoint_dir: Path) -> None:
    """Truncate every data file of a saved checkpoint (a disk that lost its tail)."""
    for path in (checkpoint_dir / "state").rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(idx_mnist, tmp_path, capsys):
    whole = train(tmp_path / "whole", idx_mnist, 3)
    train(tmp_path / "run", idx_mnist, 2)
    corrupt(tmp_path / "run" / "checkpoints" / "2")
    resumed = train(tmp_path / "run", idx_mnist, 3, resume=True)
    err = capsys.readouterr().err
    assert "checkpoint" in err and "unreadable" in err and "resuming from epoch 1" in err
    assert_trees_equal(whole, resumed)


def test_no_readable_checkpoint_is_a_clear_error(idx_mnist, tmp_path):
    train(tmp_path / "run", idx_mnist, 1)
    corrupt(tmp_path / "run" / "checkpoints" / "1")
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        checkpoint.restore_latest(tmp_path / "run" / "checkpoints")
    with pytest.raises(CheckpointError, match="no checkpoints"):
        population.restore_path(tmp_path / "empty")


def test_diverged_training_stops_and_keeps_the_last_good_checkpoint(idx_mnist, tmp_path):
    train(tmp_path / "run", idx_mnist, 1)
    with pytest.raises(TrainingError, match="NaN/Inf in epoch 1 .*checkpoints up to epoch 1 are intact"):
        train_and_evaluate(TINY.replace(epochs=3, lr=1e30), tmp_path / "run", data_dir=idx_mnist,
                           resume=True, progress=False)
    restored, meta = checkpoint.restore_latest(tmp_path / "run" / "checkpoints")
    assert meta["epoch"] == 1
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(restored.g_params))


# --- the scripts, as processes -------------------------------------------------------------

FLAGS = TINY_FLAGS


def start_train(workdir, data_dir, *extra):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *FLAGS, "--workdir", str(workdir),
         "--data-dir", data_dir, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


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
    for delay in (0.0, 0.13, 0.31):
        proc = start_train(workdir, idx_mnist, "--epochs", "100000", "--checkpoint-every", "1",
                           *(["--resume"] if saved_epochs(workdir) else []))
        newest = max(saved_epochs(workdir), default=0)
        wait_for(lambda newest=newest: max(saved_epochs(workdir), default=0) > newest + 1)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        restored, meta = checkpoint.restore_latest(workdir / "checkpoints")
        assert meta["epoch"] >= 2 and int(restored.step) == 3 * meta["epoch"]
    proc = start_train(workdir, idx_mnist, "--epochs", str(meta["epoch"] + 1), "--resume")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "resuming from epoch" in err


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_before_exiting(idx_mnist, tmp_path):
    workdir = tmp_path / "run"
    proc = start_train(workdir, idx_mnist, "--epochs", "100000", "--checkpoint-every", "100000")
    wait_for(lambda: (workdir / "metrics.jsonl").exists()
             and len((workdir / "metrics.jsonl").read_text().splitlines()) >= 3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    (epoch,) = saved_epochs(workdir)
    assert epoch >= 3 and f"saved a checkpoint at epoch {epoch}" in err
    restored, meta = checkpoint.restore_latest(workdir / "checkpoints")
    assert int(restored.step) == 3 * epoch


def test_resume_with_a_structure_change_is_one_line_naming_the_field(idx_mnist, tmp_path, capsys):
    flags = TINY_FLAGS + ["--epochs", "1", "--workdir", str(tmp_path / "run"), "--data-dir", idx_mnist,
                          "--no-tensorboard"]
    assert cli.execute(train_tool.main, flags) == 0
    before = sorted((tmp_path / "run").rglob("*"))
    for passed, message in [
        (["--ema-decay", "0.999"], "trained --ema-decay 0.0; you passed --ema-decay 0.999"),
        (["--codes", "4"], "trained --codes 0; you passed --codes 4"),
        (["--conditional"], "trained without --conditional; you passed with --conditional"),
        (["--hidden-dim", "32"], "trained --hidden-dim 16; you passed --hidden-dim 32"),
    ]:
        capsys.readouterr()
        assert cli.execute(train_tool.main, [*flags, "--resume", "--epochs", "2", *passed]) == 2
        (line,) = [x for x in capsys.readouterr().err.splitlines() if "ALLOW_PARTIAL" not in x]
        assert message in line and "changes the model's arrays" in line, line
        assert sorted((tmp_path / "run").rglob("*")) == before


# --- bad input: one line on stderr, exit code 2, earlier results untouched ----------------


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (["--epochs", "-3"], "--epochs must be a positive integer, got -3"),
    (["--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["--batch-size", "x"], "argument --batch-size: invalid int value: 'x'"),
    (["--lr", "0"], "--lr must be a finite number > 0, got 0.0"),
    (["--lr=-1e-3"], "--lr must be a finite number > 0, got -0.001"),
    (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
    (["--beta1", "1.5"], "--beta1 must be in [0, 1), got 1.5"),
    (["--arch", "resnet"], "--arch must be one of mlp, dcgan, got 'resnet'"),
])
def test_bad_flags_exit_2_with_one_line(args, message, tmp_path, capsys):
    try:
        code = cli.execute(train_tool.main, args + ["--workdir", str(tmp_path / "w")])
    except SystemExit as e:  # argparse's own errors: a value that is not a number at all
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_bad_runs_are_one_line_errors(idx_mnist, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(run_cli("train", *FLAGS, "--data-dir", idx_mnist, "--batch-size", "1000",
                                  "--workdir", str(tmp_path / "a")), "larger than the dataset")
    assert_one_line_error(run_cli("train", *FLAGS, "--data-dir", str(tmp_path / "none"),
                                  "--workdir", str(tmp_path / "b")), "does not exist")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("train", *FLAGS, "--data-dir", str(tmp_path / "empty"),
                                  "--workdir", str(tmp_path / "d")), "not prepared", "--data-dir")
    assert_one_line_error(run_cli("train", *FLAGS, "--data-dir", idx_mnist,
                                  "--workdir", str(blocker / "run")), "not writable")
    assert_one_line_error(run_cli("sample", "--workdir", str(tmp_path / "empty")), "no checkpoints")


def test_unreadable_data_dir_is_refused(tmp_path, monkeypatch):
    from jaxgan import data
    from jaxgan.errors import DataError

    monkeypatch.setattr(data.os, "access", lambda *a: False)  # root reads anything: simulate
    with pytest.raises(DataError, match="not readable"):
        data.load_dataset("train", str(tmp_path))


def test_sample_tool_grids_interpolations_and_exports(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, 2)
    sample = sample_tool
    out, npz = tmp_path / "g.png", tmp_path / "x.npz"
    ckpt = str(tmp_path / "run" / "checkpoints" / "1")
    assert cli.execute(sample.main, ["--checkpoint", ckpt, "--grid", "3x5", "--out", str(out),
                                 "--export", str(npz), "--uint8"]) == 0
    images = np.load(npz)["images"]
    assert images.shape == (15, 28, 28) and images.dtype == np.uint8 and out.exists()
    assert cli.execute(sample.main, ["--workdir", str(tmp_path / "run"), "--grid", "2x6",
                                 "--interpolate", "--out", str(out), "--export", str(npz)]) == 0
    walk = np.load(npz)["images"]
    assert walk.shape == (12, 28, 28)
    # Interpolation is smooth: neighbours in a row differ less than the row's two ends.
    step = np.abs(walk[1] - walk[0]).mean()
    assert step < np.abs(walk[5] - walk[0]).mean()
    with pytest.raises(SystemExit) as e:
        sample.main(["--workdir", str(tmp_path / "run"), "--grid", "0x4"])
    assert e.value.code == 2
    assert cli.execute(sample.main, ["--workdir", str(tmp_path / "run"), "--out", str(tmp_path / "x.jpg")]) == 2
    corrupt(tmp_path / "run" / "checkpoints" / "1")
    assert cli.execute(sample.main, ["--checkpoint", ckpt]) == 2
    assert "unreadable" in capsys.readouterr().err
