"""Fault injection: every way a run could train on the wrong data, delete what is not jaxgan's,
trust a corrupt file or die with a traceback, each checked to fail safely with one clear line."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from conftest import (MOCK_EXAMPLES, TINY_FLAGS, USER_CACHE, assert_one_line_error, error_lines,
                      load_script, make_idx_dir, run_cli)
from jaxgan import checkpoint, classifier, cli, data
from jaxgan.config import Config
from jaxgan.errors import CheckpointError, DataError, EvaluationError, TrainingError
from jaxgan.evaluation import read_samples
from jaxgan.files import content_digest
from jaxgan.loop import train_and_evaluate
from jaxgan.runlog import MetricsLog
from jaxgan.workdir import MARKER, RunDir, open_run_dir

TINY = Config(batch_size=32, hidden_dim=16, latent_dim=8, log_every=100, sample_every=1,
              checkpoint_every=1, epochs=1)


def train(workdir, data_dir, **kwargs):
    config = TINY.replace(**{k: kwargs.pop(k) for k in list(kwargs) if hasattr(TINY, k)})
    return train_and_evaluate(config, workdir, data_dir=data_dir, progress=False,
                              tensorboard=False, **kwargs)


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# --- 0. the suite itself never touches the user's caches -------------------------------------


def test_tests_write_no_cache_outside_their_tmp_dirs(idx_mnist, isolated_caches, tmp_path):
    before = sorted(USER_CACHE.rglob("*")) if USER_CACHE.exists() else None
    assert data.default_cache_dir() == isolated_caches / ".cache" / "jaxgan"
    result = run_cli("train", *TINY_FLAGS[:-1], "--epochs", "1", "--data-dir", idx_mnist,
                     "--workdir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert list((isolated_caches / ".cache" / "jaxgan").glob("mnist-3.0.1-train-*.npz"))
    assert (sorted(USER_CACHE.rglob("*")) if USER_CACHE.exists() else None) == before


# --- 1. caches are keyed by their source and verified ----------------------------------------


def test_data_cache_never_serves_another_source(tmp_path):
    make_idx_dir(tmp_path / "small", 100, seed=0)
    other, _ = make_idx_dir(tmp_path / "large", 300, seed=1)
    cache = tmp_path / "cache"
    assert len(data.load_dataset("mnist", "train", str(tmp_path / "small"), cache)[0]) == 100
    images, _ = data.load_dataset("mnist", "train", str(tmp_path / "large"), cache)
    np.testing.assert_array_equal(images, other.reshape(300, -1))
    make_idx_dir(tmp_path / "small", 120, seed=2)  # the same folder, new files
    assert len(data.load_dataset("mnist", "train", str(tmp_path / "small"), cache)[0]) == 120


def test_tampered_data_cache_is_not_used(tmp_path, capsys):
    images, _ = make_idx_dir(tmp_path / "idx", 50)
    cache = tmp_path / "cache"
    data.load_dataset("mnist", "train", str(tmp_path / "idx"), cache)
    (path,) = cache.glob("*.npz")
    with np.load(path) as f:
        entries = dict(f)
    entries["images"] = np.zeros_like(entries["images"])
    np.savez(path, **entries)
    loaded, _ = data.load_dataset("mnist", "train", str(tmp_path / "idx"), cache)
    np.testing.assert_array_equal(loaded, images.reshape(50, -1))
    assert "does not match its source" in capsys.readouterr().err


def test_a_split_of_the_wrong_size_is_refused(idx_mnist, monkeypatch):
    monkeypatch.delenv(data.PARTIAL_DATA_ENV)
    with pytest.raises(DataError, match=f"holds {MOCK_EXAMPLES} train images; mnist's train split has 60,000"):
        data.load_dataset("mnist", "train", idx_mnist)


def test_idx_files_are_not_read_as_another_dataset(idx_mnist):
    with pytest.raises(DataError, match="--dataset fashion_mnist needs TFDS"):
        data.load_dataset("fashion_mnist", "train", idx_mnist)


def test_classifier_cache_is_keyed_by_data_and_refuses_a_weak_classifier(tmp_path, monkeypatch):
    make_idx_dir(tmp_path / "a", 40, seed=0)
    make_idx_dir(tmp_path / "b", 40, seed=1)
    trained = []

    def fake_train(images, labels, **kwargs):
        trained.append(content_digest(images, labels))
        return classifier.Classifier().init(jax.random.key(len(trained)), np.zeros((1, 784)))["params"]

    monkeypatch.setattr(classifier, "train", fake_train)
    monkeypatch.setattr(classifier, "accuracy", lambda *a: 0.86)
    cache = tmp_path / "cache"
    classifier.load_or_train(cache, str(tmp_path / "a"))
    classifier.load_or_train(cache, str(tmp_path / "a"))  # cached
    classifier.load_or_train(cache, str(tmp_path / "b"))  # other data: trained again
    assert len(trained) == 2 and trained[0] != trained[1]
    monkeypatch.delenv(data.PARTIAL_DATA_ENV)
    monkeypatch.setattr(data, "verify_split", lambda *a, **k: None)
    with pytest.raises(EvaluationError, match="test accuracy is 86.00%, under the 98.5%"):
        classifier.load_or_train(cache, str(tmp_path / "a"))  # the cached one, refused
    assert len(trained) == 2


def test_corrupt_classifier_cache_is_retrained(tmp_path, monkeypatch, capsys):
    make_idx_dir(tmp_path / "a", 40)
    monkeypatch.setattr(classifier, "accuracy", lambda *a: 0.99)
    monkeypatch.setattr(classifier, "train", lambda *a, **k: classifier.Classifier().init(
        jax.random.key(0), np.zeros((1, 784)))["params"])
    classifier.load_or_train(tmp_path / "cache", str(tmp_path / "a"))
    (record,) = (tmp_path / "cache" / "classifier").glob("*.json")
    record.write_text(record.read_text().replace('"params_sha256": "', '"params_sha256": "0'))
    classifier.load_or_train(tmp_path / "cache", str(tmp_path / "a"))
    assert "ignoring the cached classifier" in capsys.readouterr().err


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
    train_script = load_script("train")
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
        checkpoint.restore_path(tmp_path / "run" / "checkpoints" / "2")


def flip_a_byte(checkpoint_dir: Path) -> None:
    """XOR one byte in the middle of the largest array file of a saved state."""
    files = [p for p in (checkpoint_dir / "state").rglob("*") if p.is_file() and "/d/" in str(p)]
    path = max(files, key=lambda p: p.stat().st_size)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    path.write_bytes(bytes(raw))


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
    sample = load_script("sample")
    for source in (run, run / "checkpoints", run / "checkpoints" / "1"):
        (run / "samples.png").unlink(missing_ok=True)
        assert cli.run(sample.main, ["--checkpoint", str(source)]) == 0
        assert (run / "samples.png").exists()
    assert (tmp_path / "samples.png").read_bytes() == b"not jaxgan's"
    shutil.copytree(run / "checkpoints" / "1", tmp_path / "loose" / "1")
    assert cli.run(sample.main, ["--checkpoint", str(tmp_path / "loose" / "1")]) == 2


# --- 7. --samples are checked before any work ---------------------------------------------------


@pytest.mark.parametrize("images, message", [
    (np.full((300, 28, 28), np.nan, np.float32), "NaN or infinite"),
    (np.random.default_rng(0).uniform(0, 255, (300, 28, 28)), "span [0"),
    (np.zeros((10, 10)), "shape (10, 10)"),
    (np.zeros((100, 32, 32)), "shape (100, 32, 32)"),
    (np.zeros((1, 28, 28)), "1 image(s)"),
    (np.zeros((0, 28, 28)), "0 image(s)"),
    (np.array([["a"] * 784] * 3), "not numbers"),
])
def test_bad_samples_are_refused(images, message, tmp_path):
    np.savez(tmp_path / "s.npz", images=images)
    with pytest.raises(EvaluationError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        read_samples(tmp_path / "s.npz")


def test_sample_layouts_and_ranges_are_converted(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (300, 28, 28)).astype(np.uint8)
    expected = pixels.reshape(300, 784).astype(np.float32) / 127.5 - 1
    for name, array in [("u8.npz", pixels), ("unit.npz", pixels / 255.0),
                        ("nchw.npz", (pixels / 127.5 - 1)[:, None]), ("flat.npy", pixels.reshape(300, 784))]:
        path = tmp_path / name
        np.save(path, array) if name.endswith(".npy") else np.savez(path, images=array)
        np.testing.assert_allclose(read_samples(path), expected, atol=1e-6)
    np.savez(tmp_path / "nokey.npz", pixels=pixels)
    with pytest.raises(EvaluationError, match="no 'images' array"):
        read_samples(tmp_path / "nokey.npz")


def test_missing_samples_fail_before_the_classifier(tmp_path, monkeypatch, capsys):
    from jaxgan import evaluation

    monkeypatch.setattr(evaluation.Evaluator, "for_mnist", lambda *a: pytest.fail("classifier loaded"))
    assert cli.run(load_script("evaluate").main, ["--samples", str(tmp_path / "missing.npz")]) == 2
    assert "no such file" in capsys.readouterr().err


# --- 8. corrupt data files ----------------------------------------------------------------------


def test_idx_labels_must_belong_to_the_images(tmp_path):
    from conftest import write_idx

    make_idx_dir(tmp_path, 20)
    write_idx(tmp_path / data.IDX_FILES["train"][1], np.zeros(12, np.uint8))
    with pytest.raises(DataError, match="do not belong together"):
        data.load_dataset("mnist", "train", str(tmp_path))


@pytest.mark.parametrize("damage", ["truncate", "random"])
def test_corrupt_gzip_is_a_data_error(tmp_path, damage):
    make_idx_dir(tmp_path, 20)
    path = tmp_path / data.IDX_FILES["train"][0]
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if damage == "truncate"
                     else np.random.default_rng(0).bytes(len(raw)))
    with pytest.raises(DataError, match="not a readable gzip file"):
        data.load_dataset("mnist", "train", str(tmp_path))


def fake_prepared_tfds(root: Path, num_bytes: int = 1000, lengths=(30, 30)) -> Path:
    prepared = root / "mnist" / "3.0.1"
    prepared.mkdir(parents=True)
    (prepared / "dataset_info.json").write_text(json.dumps({"fileFormat": "tfrecord", "splits": [
        {"name": "train", "numBytes": str(num_bytes), "shardLengths": [str(n) for n in lengths]}]}))
    for i, n in enumerate(lengths):
        (prepared / f"mnist-train.tfrecord-{i:05d}-of-{len(lengths):05d}").write_bytes(
            b"x" * (num_bytes // len(lengths) + 16 * n))
    return prepared


def test_missing_or_truncated_tfds_shards_are_data_errors(tmp_path):
    prepared = fake_prepared_tfds(tmp_path / "tfds")
    assert data.data_source("mnist", "train", str(tmp_path / "tfds"))["kind"] == "tfds"
    shard = prepared / "mnist-train.tfrecord-00001-of-00002"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated or altered"):
        data.load_dataset("mnist", "train", str(tmp_path / "tfds"))
    shard.unlink()
    with pytest.raises(DataError, match="incomplete: mnist-train.tfrecord-00001-of-00002 missing"):
        data.load_dataset("mnist", "train", str(tmp_path / "tfds"))


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
    digest = content_digest(*data.load_dataset("mnist", "train", idx_mnist))
    classifier.save(random_classifier(), classifier.cache_path(tmp_path / "cache", digest), digest, 0.1)
    (tmp_path / "run" / "metrics.jsonl").unlink()
    (tmp_path / "run" / "metrics.jsonl").mkdir()  # cannot be appended to, even by root
    argv = ["--workdir", str(tmp_path / "run"), "--n", "64", "--data-dir", idx_mnist,
            "--cache-dir", str(tmp_path / "cache"), "--json"]
    assert cli.run(load_script("evaluate").main, argv) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[-1])["num_samples"] == 64 and "is not recorded" in err


def test_plot_skips_bad_rows_and_refuses_bad_outputs(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    plot = load_script("plot")
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
        code = cli.run(load_script(script).main, argv + args)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = error_lines(capsys.readouterr().err)
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not workdir.exists() and not Path("x.txt").exists()
