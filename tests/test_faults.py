"""Fault injection, runs: every way a run could train on the wrong data, delete what is not jaxgan's,
trust a corrupt file or die with a traceback, each checked to fail safely with one clear line."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgan import checkpoint, classifier, cli, data, restore
from jaxgan.cli import evaluate as evaluate_tool
from jaxgan.cli import plot as plot_tool
from jaxgan.cli import sample as sample_tool
from jaxgan.cli import train as train_tool
from jaxgan.errors import CheckpointError, TrainingError
from jaxgan.files import content_digest
from jaxgan.runlog import MetricsLog
from jaxgan.workdir import MARKER, RunDir, open_run_dir

from conftest import TINY_FLAGS, error_lines, run_cli
from conftest import file_tree as tree
from conftest import train_tiny as train

TOOLS = {"train": train_tool, "sample": sample_tool, "evaluate": evaluate_tool, "plot": plot_tool}



# --- 2. workdirs: only jaxgan's, only what jaxgan wrote ---------------------------------------


def test_a_folder_that_is_not_a_run_is_never_written(idx_mnist, tmp_path, monkeypatch):
    user = tmp_path / "d"
    (user / "images").mkdir(parents=True)
    (user / "config.json").write_text('{"my": 1}')
    (user / "images" / "0.png").write_bytes(b"mine")
    before = tree(user)
    for overwrite in (False, True):
        with pytest.raises(TrainingError, match="not empty and is not a jaxgan run"):
            train(user, idx_mnist, overwrite=overwrite)
    monkeypatch.chdir(user)  # --workdir "" is the current folder
    with pytest.raises(TrainingError, match="not a jaxgan run"):
        train("", idx_mnist, overwrite=True)
    assert tree(user) == before


def test_overwrite_deletes_only_what_jaxgan_wrote(idx_mnist, tmp_path):
    run = tmp_path / "run"
    train(run, idx_mnist, epochs=2)
    (run / "images" / "holiday.jpg").write_bytes(b"a user's photo")
    (run / "notes.txt").write_text("mine")
    old = (run / "metrics.jsonl").read_text()
    train(run, idx_mnist, overwrite=True)
    assert (run / "images" / "holiday.jpg").read_bytes() == b"a user's photo"
    assert (run / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == ["1"]
    assert (run / "metrics.jsonl").read_text() != old and len(MetricsLog(run).read()) == 1
    assert "notes.txt" not in json.loads((run / MARKER).read_text())["manifest"]


def test_a_run_that_saved_nothing_is_not_a_run(idx_mnist, tmp_path):
    run = open_run_dir(tmp_path / "run", resume=False, overwrite=False)  # then died compiling
    (tmp_path / "run" / "config.json").write_text("{}")
    run.record("config.json")
    run.unlock()
    train(tmp_path / "run", idx_mnist)  # no --overwrite needed
    assert MetricsLog(tmp_path / "run").read()[0]["epoch"] == 1


# --- 3. one run per workdir ---------------------------------------------------------------------


def test_a_workdir_in_use_is_refused_and_left_alone(idx_mnist, tmp_path):
    train(tmp_path / "run", idx_mnist)
    before = tree(tmp_path / "run")
    holder = RunDir(tmp_path / "run")
    holder.lock()  # another live run
    try:
        for kwargs in ({}, {"resume": True}, {"overwrite": True}):
            with pytest.raises(TrainingError, match=f"in use by pid {os.getpid()}"):
                train(tmp_path / "run", idx_mnist, epochs=3, **kwargs)
    finally:
        holder.unlock()
    assert tree(tmp_path / "run") == before
    assert not (tmp_path / "run" / "unreadable_checkpoints").exists()


# --- 4. --resume takes the run's config from its checkpoint ------------------------------------


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_resume_reads_the_config_from_the_checkpoint(idx_mnist, tmp_path, damage):
    workdir = tmp_path / "run"
    flags = [*TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(workdir)]
    train_script = train_tool
    assert cli.run(train_script.main, flags + ["--epochs", "1", "--loss", "hinge", "--lr", "1e-3"]) == 0
    config_json = workdir / "config.json"
    config_json.unlink() if damage == "delete" else config_json.write_text('{"loss": "hin')
    assert cli.run(train_script.main, flags + ["--epochs", "2", "--resume"]) == 0
    saved = json.loads(config_json.read_text())
    assert (saved["loss"], saved["lr"], saved["epochs"]) == ("hinge", 1e-3, 2)


# --- 5. checkpoints are verified against their digest -----------------------------------------


def test_a_checkpoint_whose_arrays_differ_from_its_digest_is_refused(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    record = tmp_path / "run" / "checkpoints" / "2" / "meta" / "metadata"
    meta = json.loads(record.read_text())
    record.write_text(json.dumps({**meta, "state_sha256": "0" * 64}))  # a record that lies
    state, meta = checkpoint.restore_latest(tmp_path / "run" / "checkpoints")
    assert meta["epoch"] == 1
    assert "do not match the digest in its record" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="digest"):
        restore.restore_path(tmp_path / "run" / "checkpoints" / "2")


def flip_a_byte(checkpoint_dir: Path) -> None:
    """XOR one byte in the middle of the largest array file of a saved state."""
    files = [p for p in (checkpoint_dir / "state").rglob("*") if p.is_file() and "/d/" in str(p)]
    path = max(files, key=lambda p: p.stat().st_size)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    path.write_bytes(bytes(raw))


@pytest.mark.slow
def test_flipped_bytes_never_restore_silently(idx_mnist, tmp_path):
    whole = train(tmp_path / "whole", idx_mnist, epochs=3)
    train(tmp_path / "run", idx_mnist, epochs=2)
    flip_a_byte(tmp_path / "run" / "checkpoints" / "2")
    result = run_cli("sample", "--workdir", str(tmp_path / "run"))
    assert result.returncode == 0 and "epoch 1 checkpoint" in result.stderr
    assert "Traceback" not in result.stderr and len(error_lines(result.stderr)) == 2  # warning, result
    resumed = train(tmp_path / "run", idx_mnist, epochs=3, resume=True)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# --- 6. paths derived from --checkpoint stay in the run ----------------------------------------


def test_outputs_of_a_checkpoint_go_to_its_own_run(idx_mnist, tmp_path):
    run = tmp_path / "runs" / "x"
    train(run, idx_mnist)
    (tmp_path / "samples.png").write_bytes(b"not jaxgan's")
    sample = sample_tool
    for source in (run, run / "checkpoints", run / "checkpoints" / "1"):
        (run / "samples.png").unlink(missing_ok=True)
        assert cli.run(sample.main, ["--checkpoint", str(source)]) == 0
        assert (run / "samples.png").exists()
    assert (tmp_path / "samples.png").read_bytes() == b"not jaxgan's"
    shutil.copytree(run / "checkpoints" / "1", tmp_path / "loose" / "1")
    assert cli.run(sample.main, ["--checkpoint", str(tmp_path / "loose" / "1")]) == 2


# --- 9. disk full --------------------------------------------------------------------------------


def test_disk_full_while_checkpointing_is_one_line(idx_mnist, tmp_path, monkeypatch):
    import orbax.checkpoint as ocp

    save = ocp.CheckpointManager.save

    def save_until_full(manager, step, *args, **kwargs):
        if step >= 2:
            (Path(manager.directory) / f"{step}.orbax-checkpoint-tmp-1").mkdir()
            raise ValueError("RESOURCE_EXHAUSTED: Failed to write 2158433 bytes to file 18: "
                             "No space left on device [os_error_code='28']")
        return save(manager, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", save_until_full)
    with pytest.raises(TrainingError, match="no space left on the device of .*; checkpoints up to "
                                            "epoch 1 are intact"):
        train(tmp_path / "run", idx_mnist, epochs=3)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["1"]
    monkeypatch.undo()
    assert checkpoint.restore_latest(tmp_path / "run" / "checkpoints")[1]["epoch"] == 1


# --- 10. read-only outputs, damaged metrics -----------------------------------------------------


def test_evaluate_prints_its_scores_when_the_run_is_read_only(idx_mnist, tmp_path, capsys):
    from test_evaluation import random_classifier

    train(tmp_path / "run", idx_mnist)
    digest = content_digest(*data.load_dataset("train", idx_mnist))
    classifier.save(random_classifier(), classifier.cache_path(tmp_path / "cache", digest), digest, 0.1)
    (tmp_path / "run" / "metrics.jsonl").unlink()
    (tmp_path / "run" / "metrics.jsonl").mkdir()  # cannot be appended to, even by root
    argv = ["--workdir", str(tmp_path / "run"), "--n", "64", "--data-dir", idx_mnist,
            "--cache-dir", str(tmp_path / "cache"), "--json"]
    assert cli.run(evaluate_tool.main, argv) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[-1])["num_samples"] == 64 and "is not recorded" in err


def test_plot_skips_bad_rows_and_refuses_bad_outputs(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    plot = plot_tool
    (tmp_path / "dir.png").mkdir()
    capsys.readouterr()
    for out, message in [(tmp_path / "none" / "c.png", "is not a directory"), (tmp_path / "c.xyz", "must end in"),
                         (tmp_path / "dir.png", "cannot write")]:
        assert cli.run(plot.main, ["--workdir", str(tmp_path / "run"), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:
        f.write('[1, 2]\n{"kind": "train", "epoch": 3}\n"text"\n')
    assert cli.run(plot.main, ["--workdir", str(tmp_path / "run")]) == 0
    assert "skipped 1 metrics rows" in capsys.readouterr().err  # the row without losses
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_row_cut_short_is_never_glued_to_the_next(tmp_path):
    log = MetricsLog(tmp_path)
    log.append({"epoch": 1})
    with open(log.path, "a") as f:
        f.write('{"epoch": 2, "d_lo')  # killed mid-append
    log.append({"epoch": 3})
    assert log.read() == [{"epoch": 1}, {"epoch": 3}]


# --- 11. bad values: one line, exit 2, nothing left behind ------------------------------------


@pytest.mark.parametrize("script, args, message", [
    ("train", ["--seed", "99999999999999999999"], "--seed must be an integer in 0 .. 4294967295"),
    ("train", ["--seed", "-1"], "--seed must be an integer"),
    ("train", ["--hidden-dim", "100000000"], "the model does not fit: 157,"),
    ("train", ["--batch-size", "70000"], "larger than the dataset"),
    ("train", ["--resume", "--overwrite"], "not allowed with argument"),
    ("train", ["--distributed"], "--distributed: jax.distributed.initialize() failed"),
    ("sample", ["--n", "1000000000"], "--n 1,000,000,000 needs"),
    ("sample", ["--export", "x.txt"], "--export must be an .npz file"),
])
def test_bad_values_are_one_line_and_leave_nothing(script, args, message, idx_mnist, tmp_path,
                                                   monkeypatch, capsys):
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    workdir = tmp_path / "w"
    argv = [*TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(workdir)] if script == "train" \
        else ["--workdir", str(workdir)]
    try:
        code = cli.run(TOOLS[script].main, argv + args)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = error_lines(capsys.readouterr().err)
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not workdir.exists() and not Path("x.txt").exists()
