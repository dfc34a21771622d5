"""Inputs: data, caches and sample files that are not what they claim to be are refused or rebuilt,
never used; and the suite itself never touches the user's caches."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgan import classifier, cli, data, files
from jaxgan.cli import evaluate as evaluate_tool
from jaxgan.cli import train as train_tool
from jaxgan.errors import (
    ConfigError,
    DataError,
    EvaluationError,
)
from jaxgan.files import content_digest
from jaxgan.images import read_samples
from jaxgan.sources import IDX_FILES

from conftest import (
    MOCK_EXAMPLES,
    TINY,
    TINY_FLAGS,
    USER_CACHE,
    error_lines,
    make_idx_dir,
    run_cli,
)

# --- the suite itself never touches the user's caches ----------------------------------------


@pytest.mark.slow
def test_tests_write_no_cache_outside_their_tmp_dirs(idx_mnist, isolated_caches, tmp_path):
    before = sorted(USER_CACHE.rglob("*")) if USER_CACHE.exists() else None
    assert files.default_cache_dir() == isolated_caches / ".cache" / "jaxgan"
    result = run_cli("train", *TINY_FLAGS[:-1], "--epochs", "1", "--data-dir", idx_mnist,
                     "--workdir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert list((isolated_caches / ".cache" / "jaxgan").glob("mnist-3.0.1-train-*.npz"))
    assert (sorted(USER_CACHE.rglob("*")) if USER_CACHE.exists() else None) == before


# --- caches are keyed by their source and verified -------------------------------------------


def test_data_cache_never_serves_another_source(tmp_path):
    make_idx_dir(tmp_path / "small", 100, seed=0)
    other, _ = make_idx_dir(tmp_path / "large", 300, seed=1)
    cache = tmp_path / "cache"
    assert len(data.load_dataset("train", str(tmp_path / "small"), cache)[0]) == 100
    images, _ = data.load_dataset("train", str(tmp_path / "large"), cache)
    np.testing.assert_array_equal(images, other.reshape(300, -1))
    make_idx_dir(tmp_path / "small", 120, seed=2)  # the same folder, new files
    assert len(data.load_dataset("train", str(tmp_path / "small"), cache)[0]) == 120


def test_tampered_data_cache_is_not_used(tmp_path, capsys):
    images, _ = make_idx_dir(tmp_path / "idx", 50)
    cache = tmp_path / "cache"
    data.load_dataset("train", str(tmp_path / "idx"), cache)
    (path,) = cache.glob("*.npz")
    with np.load(path) as f:
        entries = dict(f)
    entries["images"] = np.zeros_like(entries["images"])
    np.savez(path, **entries)
    loaded, _ = data.load_dataset("train", str(tmp_path / "idx"), cache)
    np.testing.assert_array_equal(loaded, images.reshape(50, -1))
    assert "does not match its source" in capsys.readouterr().err


def test_a_split_of_the_wrong_size_is_refused(idx_mnist, monkeypatch):
    monkeypatch.delenv(data.PARTIAL_DATA_ENV)
    with pytest.raises(DataError, match=f"holds {MOCK_EXAMPLES} train images; mnist's train split has 60,000"):
        data.load_dataset("train", idx_mnist)


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


def test_a_cache_dir_that_is_a_file_is_one_line(idx_mnist, tmp_path, capsys):

    (tmp_path / "cache").write_text("a file")
    argv = [*TINY_FLAGS[:-1], "--data-dir", idx_mnist, "--workdir", str(tmp_path / "w"),
            "--cache-dir", str(tmp_path / "cache")]
    assert cli.execute(train_tool.main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a folder" in err[0], err
    assert not (tmp_path / "w").exists()


# --- --samples are checked before any work ---------------------------------------------------


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


def npy_claiming(shape: tuple[int, ...]) -> bytes:
    """A .npy file whose header claims `shape` (float32) and whose data is a few bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return header.getvalue() + bytes(64)


def test_a_samples_file_claiming_more_than_memory_is_refused_from_its_header(tmp_path, monkeypatch, capsys):
    from jaxgan import evaluation

    (tmp_path / "huge.npy").write_bytes(npy_claiming((10**8, 28, 28)))
    with zipfile.ZipFile(tmp_path / "huge.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("images.npy", npy_claiming((10**8, 784)))
    (tmp_path / "short.npy").write_bytes(npy_claiming((300, 28, 28)))
    monkeypatch.setattr(evaluation.Evaluator, "standard", lambda *a: pytest.fail("classifier loaded"))
    for name in ("huge.npy", "huge.npz"):
        with pytest.raises(EvaluationError, match=r"100,000,000 images would take [\d,.]+ GiB of memory"):
            read_samples(tmp_path / name)
        assert cli.execute(evaluate_tool.main, ["--samples", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "100,000,000 images would take" in err[0], err
    with pytest.raises(EvaluationError, match="short.npy"):
        read_samples(tmp_path / "short.npy")


def test_missing_samples_fail_before_the_classifier(tmp_path, monkeypatch, capsys):
    from jaxgan import evaluation

    monkeypatch.setattr(evaluation.Evaluator, "standard", lambda *a: pytest.fail("classifier loaded"))
    assert cli.execute(evaluate_tool.main, ["--samples", str(tmp_path / "missing.npz")]) == 2
    assert "no such file" in capsys.readouterr().err


# --- data folders and files ------------------------------------------------------------------


def test_unreadable_data_dir_is_refused(tmp_path, monkeypatch):
    from jaxgan import data
    from jaxgan.errors import DataError

    monkeypatch.setattr(data.os, "access", lambda *a: False)  # root reads anything: simulate
    with pytest.raises(DataError, match="not readable"):
        data.load_dataset("train", str(tmp_path))


def test_idx_labels_must_belong_to_the_images(tmp_path):
    from conftest import write_idx

    make_idx_dir(tmp_path, 20)
    write_idx(tmp_path / IDX_FILES["train"][1], np.zeros(12, np.uint8))
    with pytest.raises(DataError, match="do not belong together"):
        data.load_dataset("train", str(tmp_path))


@pytest.mark.parametrize("damage", ["truncate", "random"])
def test_corrupt_gzip_is_a_data_error(tmp_path, damage):
    make_idx_dir(tmp_path, 20)
    path = tmp_path / IDX_FILES["train"][0]
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if damage == "truncate"
                     else np.random.default_rng(0).bytes(len(raw)))
    with pytest.raises(DataError, match="not a readable gzip file"):
        data.load_dataset("train", str(tmp_path))


def test_missing_or_truncated_tfds_shards_are_data_errors(tmp_path):
    prepared = fake_prepared_tfds(tmp_path / "tfds")
    assert data.data_source("train", str(tmp_path / "tfds"))["kind"] == "tfds"
    shard = prepared / "mnist-train.tfrecord-00001-of-00002"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated or altered"):
        data.load_dataset("train", str(tmp_path / "tfds"))
    shard.unlink()
    with pytest.raises(DataError, match="incomplete: mnist-train.tfrecord-00001-of-00002 missing"):
        data.load_dataset("train", str(tmp_path / "tfds"))


def fake_prepared_tfds(root: Path, num_bytes: int = 1000, lengths=(30, 30)) -> Path:
    prepared = root / "mnist" / "3.0.1"
    prepared.mkdir(parents=True)
    (prepared / "dataset_info.json").write_text(json.dumps({"fileFormat": "tfrecord", "splits": [
        {"name": "train", "numBytes": str(num_bytes), "shardLengths": [str(n) for n in lengths]}]}))
    for i, n in enumerate(lengths):
        (prepared / f"mnist-train.tfrecord-{i:05d}-of-{len(lengths):05d}").write_bytes(
            b"x" * (num_bytes // len(lengths) + 16 * n))
    return prepared


@pytest.mark.slow
def test_a_corrupt_tfds_record_is_one_line(tmp_path, monkeypatch):

    from conftest import real_mnist_or_skip

    prepared = tmp_path / "tfds" / "mnist" / "3.0.1"
    shutil.copytree(real_mnist_or_skip() / "mnist" / "3.0.1", prepared)
    shard = prepared / "mnist-train.tfrecord-00000-of-00001"
    shard.chmod(0o644)
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 4] = b"\xff\xff\xff\xff"  # same size: TensorFlow finds it
    shard.write_bytes(bytes(raw))
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # as in a user's shell
    result = run_cli("train", *TINY_FLAGS, "--data-dir", str(tmp_path / "tfds"), "--workdir", str(tmp_path / "w"))
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "DataLossError" in lines[0] and "prepare it again" in lines[0], result.stderr


def test_a_tfds_folder_tfds_cannot_open_is_one_line(tmp_path):
    fake_prepared_tfds(tmp_path / "tfds")
    with pytest.raises(DataError, match="TFDS cannot open mnist 3.0.1 in .*prepare it again"):
        data.load_dataset("train", str(tmp_path / "tfds"))


# --- populations: cheap checks first, no silent drop -----------------------------------------


@pytest.mark.parametrize("seeds", [4294967296, 10_000_000])
def test_a_population_too_large_is_refused_before_any_member_is_built(seeds, monkeypatch):
    from jaxgan.population import Population

    def never(self):
        raise AssertionError("a member was built")

    monkeypatch.setattr(Population, "members", never)
    with pytest.raises(ConfigError, match=f"{seeds} members' models do not fit"):
        Population(TINY, seeds=seeds).validate()


def test_a_repeated_sweep_is_refused(idx_mnist, tmp_path, capsys):

    argv = [*TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(tmp_path / "w"),
            "--sweep", "lr=1e-3", "--sweep", "lr=2e-3"]
    assert cli.execute(train_tool.main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sweep lr is given more than once; give all its values in one" in err[0], err
    assert not (tmp_path / "w").exists()
