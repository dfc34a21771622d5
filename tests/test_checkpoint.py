"""Checkpoints: what one holds; corrupt, edited, copied or moved between device counts, and a disk that
fills mid-save; each is refused or skipped with one line, and never restored silently."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgan import checkpoint, cli, sampling
from jaxgan.cli import evaluate as evaluate_tool
from jaxgan.cli import sample as sample_tool
from jaxgan.cli import train as train_tool
from jaxgan.errors import (
    CheckpointError,
    TrainingError,
)
from jaxgan.population import Population
from jaxgan.record import record_digest
from jaxgan.runlog import MetricsLog

from conftest import (
    TINY,
    TINY_FLAGS,
    assert_trees_equal,
    edit_record,
    error_lines,
    run_cli,
    truncate_checkpoint,
)
from conftest import train_tiny as train


def test_checkpoint_holds_state_and_a_readable_record(idx_mnist, tmp_path):
    state = train(tmp_path / "run", idx_mnist, epochs=2)
    restored, meta = checkpoint.restore_latest(tmp_path / "run" / "checkpoints")
    assert_trees_equal(state, restored)
    assert meta.epoch == 2 and meta.step == 6 and meta.config.hidden_dim == 16
    assert meta.run_key == np.asarray(jax.random.key_data(jax.random.key(0))).tolist()


# --- damaged files: the newest readable checkpoint is used, and the resume stays exact -------


def flip_a_byte(checkpoint_dir: Path) -> None:
    """XOR one byte in the middle of the largest array file of a saved state."""
    files = [p for p in (checkpoint_dir / "state").rglob("*") if p.is_file() and "/d/" in str(p)]
    path = max(files, key=lambda p: p.stat().st_size)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    path.write_bytes(bytes(raw))


CORRUPTIONS = {"truncated": truncate_checkpoint, "a flipped byte": flip_a_byte}


@pytest.mark.slow
@pytest.mark.parametrize("damage", CORRUPTIONS)
def test_a_damaged_newest_checkpoint_is_skipped_with_one_line(damage, idx_mnist, tmp_path, capfd):
    whole = train(tmp_path / "whole", idx_mnist, epochs=3)
    train(tmp_path / "run", idx_mnist, epochs=2)
    CORRUPTIONS[damage](tmp_path / "run" / "checkpoints" / "2")
    capfd.readouterr()
    assert cli.execute(sample_tool.main, ["--workdir", str(tmp_path / "run")]) == 0
    err = capfd.readouterr().err  # file descriptor 2 too: what native libraries print
    assert "epoch 1 checkpoint" in err and "Traceback" not in err
    assert len(error_lines(err)) == 2, err  # the warning, the result
    resumed = train(tmp_path / "run", idx_mnist, epochs=3, resume=True)
    assert "resuming from epoch 1" in capfd.readouterr().err
    assert_trees_equal(whole, resumed)


def test_no_readable_checkpoint_is_a_clear_error(idx_mnist, tmp_path):
    train(tmp_path / "run", idx_mnist, epochs=1)
    truncate_checkpoint(tmp_path / "run" / "checkpoints" / "1")
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        checkpoint.restore_latest(tmp_path / "run" / "checkpoints")
    with pytest.raises(CheckpointError, match="no checkpoints in .*empty: it is not a jaxgan run"):
        sampling.restore_path(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="unreadable"):
        sampling.restore_path(tmp_path / "run" / "checkpoints" / "1")  # named, so no fallback


# --- checkpoints are verified against their digest -------------------------------------------


@pytest.mark.slow
def test_a_checkpoint_whose_arrays_differ_from_its_digest_is_refused(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    record = tmp_path / "run" / "checkpoints" / "2" / "meta" / "metadata"
    meta = json.loads(record.read_text())
    meta["state_sha256"] = "0" * 64  # a record that lies, with its own digest made to agree
    record.write_text(json.dumps({**meta, "record_sha256": record_digest(meta)}))
    state, meta = checkpoint.restore_latest(tmp_path / "run" / "checkpoints")
    assert meta.epoch == 1
    assert "do not match the digest in its record" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="digest"):
        sampling.restore_path(tmp_path / "run" / "checkpoints" / "2")


# --- checkpoint records are verified like the arrays -----------------------------------------


@pytest.mark.slow
def test_an_edited_population_record_is_refused_before_any_member_is_built(
    idx_mnist, tmp_path, capsys
):
    train(tmp_path / "run", idx_mnist, epochs=2, population=Population(TINY, 2))
    for i, (changes, reason) in enumerate(
        [
            (
                {"seeds": 10**6},
                "its record's population is invalid (1000000 members' models do not fit",
            ),
            ({"seeds": 3}, "its record names 3 members, its arrays (2,)"),
            ({"seeds": 0}, "its record's population is invalid (seeds must be a positive integer"),
            ({"sweep": [["hidden_dim", [8, 16]]]}, "hidden_dim changes the model's arrays"),
        ]
    ):
        shutil.copytree(tmp_path / "run", tmp_path / str(i))
        edit_record(tmp_path / str(i) / "checkpoints" / "2", redigest=True, population=changes)
        capsys.readouterr()
        state, meta = sampling.restore_path(tmp_path / str(i) / "members" / "1")
        assert meta.epoch == 1 and meta.member == "1" and int(state.step) == 3
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and reason in err[0], err


def test_a_copied_checkpoint_under_another_number_is_not_believed(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    shutil.copytree(
        tmp_path / "run" / "checkpoints" / "1", tmp_path / "run" / "checkpoints" / "150"
    )
    state, meta = sampling.restore_path(tmp_path / "run")
    assert meta.epoch == 2 and "its record says epoch 1, its folder 150" in capsys.readouterr().err


@pytest.mark.slow
def test_a_record_that_does_not_fit_its_arrays_is_one_warning(idx_mnist, tmp_path):
    train(tmp_path / "run", idx_mnist, epochs=2)
    edit_record(tmp_path / "run" / "checkpoints" / "2", redigest=True, config={"hidden_dim": 32})
    result = run_cli("sample", "--workdir", str(tmp_path / "run"))
    assert result.returncode == 0 and "epoch 1 checkpoint" in result.stderr
    assert len(error_lines(result.stderr)) == 2, result.stderr  # the warning, the result


# --- paths derived from --checkpoint stay in the run -----------------------------------------


@pytest.mark.slow
def test_outputs_of_a_checkpoint_go_to_its_own_run(idx_mnist, tmp_path):
    run = tmp_path / "runs" / "x"
    train(run, idx_mnist)
    (tmp_path / "samples.png").write_bytes(b"not jaxgan's")
    sample = sample_tool
    for source in (run, run / "checkpoints", run / "checkpoints" / "1"):
        (run / "samples.png").unlink(missing_ok=True)
        assert cli.execute(sample.main, ["--checkpoint", str(source)]) == 0
        assert (run / "samples.png").exists()
    assert (tmp_path / "samples.png").read_bytes() == b"not jaxgan's"
    shutil.copytree(run / "checkpoints" / "1", tmp_path / "loose" / "1")
    assert cli.execute(sample.main, ["--checkpoint", str(tmp_path / "loose" / "1")]) == 2


# --- disk full -------------------------------------------------------------------------------


def test_disk_full_while_checkpointing_is_one_line(idx_mnist, tmp_path, monkeypatch):
    import orbax.checkpoint as ocp

    save = ocp.CheckpointManager.save

    def save_until_full(manager, step, *args, **kwargs):
        if step >= 2:
            (Path(manager.directory) / f"{step}.orbax-checkpoint-tmp-1").mkdir()
            raise ValueError(
                "RESOURCE_EXHAUSTED: Failed to write 2158433 bytes to file 18: "
                "No space left on device [os_error_code='28']"
            )
        return save(manager, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", save_until_full)
    with pytest.raises(
        TrainingError,
        match="no space left on the device of .*; checkpoints up to epoch 1 are intact",
    ):
        train(tmp_path / "run", idx_mnist, epochs=3)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["1"]
    monkeypatch.undo()
    assert checkpoint.restore_latest(tmp_path / "run" / "checkpoints")[1].epoch == 1


# --- checkpoints move between device counts --------------------------------------------------


def train_on_two_devices(monkeypatch, *flags: str):
    """scripts/train.py in a process that sees 2 simulated devices; this process keeps its one."""
    with monkeypatch.context() as env:
        env.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
        result = run_cli("train", *flags)
    assert result.returncode == 0 and "on 2 cpu device(s)" in result.stderr, result.stderr
    assert jax.device_count() == 1
    return result


@pytest.mark.slow
def test_a_checkpoint_of_two_devices_serves_one_and_back(idx_mnist, tmp_path, monkeypatch):
    run = tmp_path / "run"
    flags = [*TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(run), "--checkpoint-every", "1"]
    train_on_two_devices(monkeypatch, *flags, "--epochs", "2")
    state, meta = sampling.restore_path(run)
    assert meta.epoch == 2 and len(state.step.sharding.device_set) == 1
    assert cli.execute(sample_tool.main, ["--workdir", str(run)]) == 0
    assert (
        cli.execute(
            evaluate_tool.main,
            [
                "--workdir",
                str(run),
                "--n",
                "64",
                "--data-dir",
                idx_mnist,
                "--cache-dir",
                str(tmp_path / "cache"),
            ],
        )
        == 0
    )
    resumed = train(run, idx_mnist, epochs=3, resume=True)
    whole = train(tmp_path / "whole", idx_mnist, epochs=3)
    assert not (run / "unreadable_checkpoints").exists()
    assert MetricsLog(run).read()[-1]["epoch"] == 3
    assert_trees_equal(
        resumed, whole, rtol=2e-4, atol=2e-5
    )  # 2 epochs' batches were split over 2 devices
    back = train_on_two_devices(monkeypatch, *flags, "--epochs", "4", "--resume")
    assert "resuming from epoch 3" in back.stderr, back.stderr


@pytest.mark.slow
def test_a_population_saved_on_two_devices_resumes_on_one(idx_mnist, tmp_path, monkeypatch, capsys):
    run = tmp_path / "pop"
    flags = [*TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(run), "--seeds", "2"]
    train_on_two_devices(monkeypatch, *flags, "--epochs", "1")
    member, meta = sampling.restore_path(run / "members" / "1")
    assert meta.member == "1" and int(member.step) == 3
    assert (
        cli.execute(
            train_tool.main,
            [
                *TINY_FLAGS,
                "--data-dir",
                idx_mnist,
                "--workdir",
                str(run),
                "--epochs",
                "2",
                "--resume",
            ],
        )
        == 0
    )
    assert "resuming from epoch 1" in capsys.readouterr().err
    assert not (run / "unreadable_checkpoints").exists()
