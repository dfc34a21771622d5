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

from jaxgan import checkpoint, classifier, cli, data, population
from jaxgan.cli import evaluate as evaluate_tool
from jaxgan.cli import plot as plot_tool
from jaxgan.cli import sample as sample_tool
from jaxgan.cli import train as train_tool
from jaxgan.errors import CheckpointError, TrainingError
from jaxgan.files import content_digest
from jaxgan.runlog import MetricsLog
from jaxgan.workdir import MARKER, Workdir, open_workdir

from conftest import TINY, TINY_FLAGS, assert_trees_equal, error_lines, run_cli
from conftest import file_tree as tree
from conftest import train_tiny as train

TOOLS = {"train": train_tool, "sample": sample_tool, "evaluate": evaluate_tool, "plot": plot_tool}



# --- workdirs: only jaxgan's, only what jaxgan wrote ---------------------------------------


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
    run = open_workdir(tmp_path / "run", resume=False, overwrite=False)  # then died compiling
    (tmp_path / "run" / "config.json").write_text("{}")
    run.add_to_manifest("config.json")
    run.unlock()
    train(tmp_path / "run", idx_mnist)  # no --overwrite needed
    assert MetricsLog(tmp_path / "run").read()[0]["epoch"] == 1


# --- one run per workdir ---------------------------------------------------------------------


def test_a_workdir_in_use_is_refused_and_left_alone(idx_mnist, tmp_path):
    train(tmp_path / "run", idx_mnist)
    before = tree(tmp_path / "run")
    holder = Workdir(tmp_path / "run")
    holder.lock()  # another live run
    try:
        for kwargs in ({}, {"resume": True}, {"overwrite": True}):
            with pytest.raises(TrainingError, match=f"in use by pid {os.getpid()}"):
                train(tmp_path / "run", idx_mnist, epochs=3, **kwargs)
    finally:
        holder.unlock()
    assert tree(tmp_path / "run") == before
    assert not (tmp_path / "run" / "unreadable_checkpoints").exists()


# --- --resume takes the run's config from its checkpoint ------------------------------------


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_resume_reads_the_config_from_the_checkpoint(idx_mnist, tmp_path, damage):
    workdir = tmp_path / "run"
    flags = [*TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(workdir)]
    train_script = train_tool
    assert cli.execute(train_script.main, flags + ["--epochs", "1", "--loss", "hinge", "--lr", "1e-3"]) == 0
    config_json = workdir / "config.json"
    config_json.unlink() if damage == "delete" else config_json.write_text('{"loss": "hin')
    assert cli.execute(train_script.main, flags + ["--epochs", "2", "--resume"]) == 0
    saved = json.loads(config_json.read_text())
    assert (saved["loss"], saved["lr"], saved["epochs"]) == ("hinge", 1e-3, 2)


# --- checkpoints are verified against their digest -----------------------------------------


def test_a_checkpoint_whose_arrays_differ_from_its_digest_is_refused(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    record = tmp_path / "run" / "checkpoints" / "2" / "meta" / "metadata"
    meta = json.loads(record.read_text())
    meta["state_sha256"] = "0" * 64  # a record that lies, with its own digest made to agree
    record.write_text(json.dumps({**meta, "record_sha256": checkpoint.record_digest(meta)}))
    state, meta = checkpoint.restore_latest(tmp_path / "run" / "checkpoints")
    assert meta["epoch"] == 1
    assert "do not match the digest in its record" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="digest"):
        population.restore_path(tmp_path / "run" / "checkpoints" / "2")


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


# --- paths derived from --checkpoint stay in the run ----------------------------------------


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


# --- disk full --------------------------------------------------------------------------------


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


# --- read-only outputs, damaged metrics -----------------------------------------------------


def test_evaluate_prints_its_scores_when_the_run_is_read_only(idx_mnist, tmp_path, capsys):
    from test_evaluation import random_classifier

    train(tmp_path / "run", idx_mnist)
    digest = content_digest(*data.load_dataset("train", idx_mnist))
    classifier.save(random_classifier(), classifier.cache_path(tmp_path / "cache", digest), digest, 0.1)
    (tmp_path / "run" / "metrics.jsonl").unlink()
    (tmp_path / "run" / "metrics.jsonl").mkdir()  # cannot be appended to, even by root
    argv = ["--workdir", str(tmp_path / "run"), "--n", "64", "--data-dir", idx_mnist,
            "--cache-dir", str(tmp_path / "cache"), "--json"]
    assert cli.execute(evaluate_tool.main, argv) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[-1])["num_samples"] == 64 and "is not recorded" in err


def test_plot_skips_bad_rows_and_refuses_bad_outputs(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    plot = plot_tool
    (tmp_path / "dir.png").mkdir()
    capsys.readouterr()
    for out, message in [(tmp_path / "none" / "c.png", "is not a directory"), (tmp_path / "c.xyz", "must end in"),
                         (tmp_path / "dir.png", "cannot write")]:
        assert cli.execute(plot.main, ["--workdir", str(tmp_path / "run"), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:
        f.write('[1, 2]\n{"kind": "train", "epoch": 3}\n"text"\n')
    assert cli.execute(plot.main, ["--workdir", str(tmp_path / "run")]) == 0
    assert "skipped 1 metrics rows" in capsys.readouterr().err  # the row without losses
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_row_cut_short_is_never_glued_to_the_next(tmp_path):
    log = MetricsLog(tmp_path)
    log.append({"epoch": 1})
    with open(log.path, "a") as f:
        f.write('{"epoch": 2, "d_lo')  # killed mid-append
    log.append({"epoch": 3})
    assert log.read() == [{"epoch": 1}, {"epoch": 3}]


# --- bad values: one line, exit 2, nothing left behind ------------------------------------


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
        code = cli.execute(TOOLS[script].main, argv + args)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = error_lines(capsys.readouterr().err)
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not workdir.exists() and not Path("x.txt").exists()


# --- checkpoints move between device counts ------------------------------------------------

def train_on_two_devices(monkeypatch, *flags: str):
    """scripts/train.py in a process that sees 2 simulated devices; this process keeps its one."""
    with monkeypatch.context() as env:
        env.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
        result = run_cli("train", *flags)
    assert result.returncode == 0 and "on 2 cpu device(s)" in result.stderr, result.stderr
    assert jax.device_count() == 1
    return result


@pytest.mark.slow
def test_a_checkpoint_of_two_devices_serves_one_and_back(idx_mnist, tmp_path, classifier_cache, monkeypatch):
    run = tmp_path / "run"
    flags = [*TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(run), "--checkpoint-every", "1"]
    train_on_two_devices(monkeypatch, *flags, "--epochs", "2")
    state, meta = population.restore_path(run)
    assert meta["epoch"] == 2 and len(state.step.sharding.device_set) == 1
    assert cli.execute(sample_tool.main, ["--workdir", str(run)]) == 0
    assert cli.execute(evaluate_tool.main, ["--workdir", str(run), "--n", "64", "--data-dir", idx_mnist,
                                        "--cache-dir", classifier_cache]) == 0
    resumed = train(run, idx_mnist, epochs=3, resume=True)
    whole = train(tmp_path / "whole", idx_mnist, epochs=3)
    assert not (run / "unreadable_checkpoints").exists()
    assert MetricsLog(run).read()[-1]["epoch"] == 3
    assert_trees_equal(resumed, whole, rtol=2e-4, atol=2e-5)  # 2 epochs' batches were split over 2 devices
    back = train_on_two_devices(monkeypatch, *flags, "--epochs", "4", "--resume")
    assert "resuming from epoch 3" in back.stderr, back.stderr


@pytest.mark.slow
def test_a_population_saved_on_two_devices_resumes_on_one(idx_mnist, tmp_path, monkeypatch, capsys):
    run = tmp_path / "pop"
    flags = [*TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(run), "--seeds", "2"]
    train_on_two_devices(monkeypatch, *flags, "--epochs", "1")
    member, meta = population.restore_path(run / "members" / "1")
    assert meta["member"] == "1" and int(member.step) == 3
    assert cli.execute(train_tool.main, [*TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(run),
                                     "--epochs", "2", "--resume"]) == 0
    assert "resuming from epoch 1" in capsys.readouterr().err
    assert not (run / "unreadable_checkpoints").exists()


# --- checkpoint records are verified like the arrays ----------------------------------------


def edit_record(checkpoint_dir: Path, *, redigest: bool, **changes) -> None:
    """Change fields of a saved record (None deletes one); `redigest` keeps its digest consistent,
    as a careful forger would."""
    path = checkpoint_dir / "meta" / "metadata"
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key)
        elif isinstance(value, dict):
            meta[key] = {**meta[key], **value}
        else:
            meta[key] = value
    if redigest:
        meta["record_sha256"] = checkpoint.record_digest(meta)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("changes, redigest, reason", [
    ({"epoch": None}, False, "does not match its digest"),
    ({"epoch": None}, True, "its record says epoch None, its folder 2"),
    ({"epoch": "2"}, True, "its record says epoch '2'"),
    ({"epoch": 7}, True, "its record says epoch 7, its folder 2"),
    ({"step": 5}, True, "its record says step 5, its state 6"),
    ({"config": {"lr": 1.0}}, False, "does not match its digest"),
    ({"config": {"hidden_dim": 32}}, True, "arrays' shapes do not match its record's config"),
])
def test_an_edited_record_is_a_corrupt_checkpoint(changes, redigest, reason, idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    edit_record(tmp_path / "run" / "checkpoints" / "2", redigest=redigest, **changes)
    capsys.readouterr()
    state, meta = population.restore_path(tmp_path / "run")
    assert meta["epoch"] == 1 and int(state.step) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and reason in err[0], err
    resumed = train(tmp_path / "run", idx_mnist, epochs=2, resume=True)
    assert int(resumed.step) == 6 and "resuming from epoch 1" in capsys.readouterr().err


def test_a_copied_checkpoint_under_another_number_is_not_believed(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    shutil.copytree(tmp_path / "run" / "checkpoints" / "1", tmp_path / "run" / "checkpoints" / "150")
    state, meta = population.restore_path(tmp_path / "run")
    assert meta["epoch"] == 2 and "its record says epoch 1, its folder 150" in capsys.readouterr().err


def test_records_of_the_previous_format_still_restore(idx_mnist, tmp_path):
    state = train(tmp_path / "run", idx_mnist, epochs=1)
    edit_record(tmp_path / "run" / "checkpoints" / "1", redigest=False, format=2, record_sha256=None)
    restored, meta = population.restore_path(tmp_path / "run")
    assert meta["format"] == 2
    assert_trees_equal(restored, state)


@pytest.mark.slow
def test_a_record_that_does_not_fit_its_arrays_is_one_warning(idx_mnist, tmp_path):
    train(tmp_path / "run", idx_mnist, epochs=2)
    edit_record(tmp_path / "run" / "checkpoints" / "2", redigest=False, format=2, record_sha256=None,
                config={"hidden_dim": 32})
    result = run_cli("sample", "--workdir", str(tmp_path / "run"))
    assert result.returncode == 0 and "epoch 1 checkpoint" in result.stderr
    assert len(error_lines(result.stderr)) == 2, result.stderr  # the warning, the result


# --- a cleared workdir is clean, and nothing is written through a link out of it ----------


def test_overwrite_refuses_checkpoints_it_did_not_write(idx_mnist, tmp_path):
    train(tmp_path / "other", idx_mnist, epochs=3)
    train(tmp_path / "run", idx_mnist, epochs=2)
    shutil.copytree(tmp_path / "other" / "checkpoints" / "3", tmp_path / "run" / "checkpoints" / "150")
    before = tree(tmp_path / "run")
    for kwargs in ({"overwrite": True, "keep": 2}, {"overwrite": True, "keep": 10}, {"resume": True, "epochs": 4}):
        with pytest.raises(TrainingError, match="checkpoints/150 was not written by this run"):
            train(tmp_path / "run", idx_mnist, **kwargs)
        assert tree(tmp_path / "run") == before


@pytest.mark.parametrize("link", ["checkpoints", "images", "metrics.jsonl"])
def test_nothing_is_written_through_a_link_out_of_the_workdir(link, idx_mnist, tmp_path):
    train(tmp_path / "run", idx_mnist, epochs=1)
    target = tmp_path / "elsewhere"
    source = tmp_path / "run" / link
    shutil.move(source, target)
    if target.is_dir():
        (target / "0.png").write_bytes(b"a user's picture")
    source.symlink_to(target)
    before = tree(tmp_path / "run")
    outside = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} if target.is_dir() else target.read_bytes()
    for kwargs in ({"overwrite": True}, {"resume": True, "epochs": 2}):
        with pytest.raises(TrainingError, match=f"{link} is a symlink to .*elsewhere, outside the workdir"):
            train(tmp_path / "run", idx_mnist, **kwargs)
    assert tree(tmp_path / "run") == before
    now = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} if target.is_dir() else target.read_bytes()
    assert now == outside


def test_a_member_folder_linked_out_is_refused(idx_mnist, tmp_path):
    from jaxgan.population import Population

    spec = Population(TINY, seeds=2)
    train(tmp_path / "pop", idx_mnist, population=spec)
    member = tmp_path / "pop" / "members" / "1"
    shutil.move(member, tmp_path / "moved")
    member.symlink_to(tmp_path / "moved")
    with pytest.raises(TrainingError, match="members/1 is a symlink"):
        train(tmp_path / "pop", idx_mnist, population=spec, overwrite=True)
    assert (tmp_path / "moved" / "metrics.jsonl").is_file()


def test_a_dangling_symlink_workdir_is_named(idx_mnist, tmp_path):
    (tmp_path / "run").symlink_to(tmp_path / "gone")
    with pytest.raises(TrainingError, match="is a symlink to .*gone, which does not exist"):
        train(tmp_path / "run", idx_mnist)


# --- metrics.jsonl with bytes that are not rows --------------------------------------------


def test_bad_bytes_in_metrics_are_named_skipped_and_kept(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    log = MetricsLog(tmp_path / "run")
    with open(log.path, "ab") as f:
        f.write(b"\xff\xfe\nnot json\n")
    capsys.readouterr()
    assert [r["epoch"] for r in log.read()] == [1, 2]
    assert "lines 3, 4 are not a JSON row; skipped" in capsys.readouterr().err
    assert cli.execute(plot_tool.main, ["--workdir", str(tmp_path / "run")]) == 0
    train(tmp_path / "run", idx_mnist, epochs=3, resume=True)
    assert "moved to metrics.jsonl.unparsed" in capsys.readouterr().err
    assert log.aside.read_bytes() == b"\xff\xfe\nnot json\n"
    assert [r["epoch"] for r in log.read()] == [1, 2, 3]
    assert capsys.readouterr().err == ""
