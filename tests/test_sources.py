"""MNIST's sources: the IDX files and TFDS's prepared dataset, read and verified; damaged ones are
one clear error."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from jaxgan import data
from jaxgan.errors import (
    DataError,
)
from jaxgan.sources import IDX_FILES

from conftest import (
    REAL_IDX,
    TINY_FLAGS,
    error_lines,
    make_idx_dir,
    real_mnist_or_skip,
    run_cli,
)


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
    path.write_bytes(
        raw[: len(raw) // 2] if damage == "truncate" else np.random.default_rng(0).bytes(len(raw))
    )
    with pytest.raises(DataError, match="not a readable gzip file"):
        data.load_dataset("train", str(tmp_path))


def fake_prepared_tfds(root: Path, num_bytes: int = 1000, lengths=(30, 30)) -> Path:
    prepared = root / "mnist" / "3.0.1"
    prepared.mkdir(parents=True)
    (prepared / "dataset_info.json").write_text(
        json.dumps(
            {
                "fileFormat": "tfrecord",
                "splits": [
                    {
                        "name": "train",
                        "numBytes": str(num_bytes),
                        "shardLengths": [str(n) for n in lengths],
                    }
                ],
            }
        )
    )
    for i, n in enumerate(lengths):
        (prepared / f"mnist-train.tfrecord-{i:05d}-of-{len(lengths):05d}").write_bytes(
            b"x" * (num_bytes // len(lengths) + 16 * n)
        )
    return prepared


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


@pytest.mark.slow
def test_a_corrupt_tfds_record_is_one_line(tmp_path, monkeypatch):

    from conftest import real_mnist_or_skip

    prepared = tmp_path / "tfds" / "mnist" / "3.0.1"
    shutil.copytree(real_mnist_or_skip() / "mnist" / "3.0.1", prepared)
    shard = prepared / "mnist-train.tfrecord-00000-of-00001"
    shard.chmod(0o644)
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 4] = b"\xff\xff\xff\xff"  # same size: TensorFlow finds it
    shard.write_bytes(bytes(raw))
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # as in a user's shell
    result = run_cli(
        "train", *TINY_FLAGS, "--data-dir", str(tmp_path / "tfds"), "--workdir", str(tmp_path / "w")
    )
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "DataLossError" in lines[0] and "prepare it again" in lines[0], (
        result.stderr
    )


def test_a_tfds_folder_tfds_cannot_open_is_one_line(tmp_path):
    fake_prepared_tfds(tmp_path / "tfds")
    with pytest.raises(DataError, match="TFDS cannot open mnist 3.0.1 in .*prepare it again"):
        data.load_dataset("train", str(tmp_path / "tfds"))


def test_idx_files_are_read_without_tensorflow(tmp_path, monkeypatch):
    images, labels = make_idx_dir(tmp_path)
    monkeypatch.setattr(data, "read_tfds_split", lambda *a: pytest.fail("TFDS was used"))
    got_images, got_labels = data.load_dataset("train", str(tmp_path))
    np.testing.assert_array_equal(got_images, images.reshape(10, 784))
    np.testing.assert_array_equal(got_labels, labels)


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    make_idx_dir(tmp_path)
    path = tmp_path / IDX_FILES["train"][0]
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match="truncated"):
        data.load_dataset("train", str(tmp_path))


def test_missing_dataset_says_how_to_provide_it(tmp_path):
    with pytest.raises(DataError, match="data_dir"):  # JAXGAN_NO_DOWNLOAD is set in conftest
        data.load_dataset("train", str(tmp_path))


def test_nonexistent_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.load_dataset("train", str(tmp_path / "nope"))


@pytest.mark.slow
def test_real_mnist_from_tfds_matches_the_idx_files(monkeypatch):
    tfds_dir = real_mnist_or_skip()
    monkeypatch.delenv(data.PARTIAL_DATA_ENV)  # the real splits have their real sizes
    images, labels = data.load_dataset("train", str(tfds_dir))
    assert images.shape == (60_000, 784) and images.dtype == np.uint8
    assert np.bincount(labels).tolist()[:2] == [5923, 6742]  # MNIST's class counts
    if not REAL_IDX:
        pytest.skip("MNIST's IDX files not provided: set JAXGAN_TEST_IDX_DIR")
    idx_images, idx_labels = data.load_dataset("train", REAL_IDX)
    # TFDS stores its own example order: compare as sets of (label, pixels) rows.
    key = lambda im, lb: sorted(zip(lb.tolist(), map(bytes, im), strict=False))  # noqa: E731
    assert key(images, labels) == key(idx_images, idx_labels)
