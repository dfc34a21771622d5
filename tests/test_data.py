import gzip

import jax
import numpy as np
import pytest

from jaxgan import data
from jaxgan.errors import DataError
from jaxgan.sources import IDX_FILES

from conftest import MOCK_EXAMPLES, REAL_IDX, make_idx_dir, real_mnist_or_skip


def test_mock_mnist_decodes_to_uint8_rows(mock_mnist):
    images, labels = data.load_dataset("train", mock_mnist)
    assert images.shape == (MOCK_EXAMPLES, 784) and images.dtype == np.uint8
    assert labels.shape == (MOCK_EXAMPLES,)


def test_normalize_maps_pixels_to_minus_one_one():
    x = data.normalize(np.array([[0, 127, 255]], np.uint8))
    assert x.dtype == np.float32
    np.testing.assert_allclose(np.asarray(x), [[-1.0, 127 / 127.5 - 1, 1.0]], rtol=1e-6)


def test_batches_are_float_rows_in_range(mock_mnist):
    images, _ = data.load_dataset("train", mock_mnist)
    full, rest = data.epoch_order(jax.random.key(0), len(images), 32, drop_last=False)
    batch = data.normalize(images[np.asarray(full[0])])
    assert batch.shape == (32, 784) and batch.dtype == np.float32
    assert -1.0 <= float(batch.min()) and float(batch.max()) <= 1.0
    assert rest is None  # 96 = 3 x 32


def test_epoch_order_is_a_reproducible_permutation_that_changes_per_epoch():
    key = jax.random.key(0)
    full, rest = data.epoch_order(jax.random.fold_in(key, 0), 100, 32, drop_last=False)
    again, _ = data.epoch_order(jax.random.fold_in(key, 0), 100, 32, drop_last=False)
    other, _ = data.epoch_order(jax.random.fold_in(key, 1), 100, 32, drop_last=False)
    order = np.concatenate([np.ravel(full), np.asarray(rest)])
    assert full.shape == (3, 32) and rest.shape == (4,)
    assert sorted(order.tolist()) == list(range(100))  # every example exactly once
    np.testing.assert_array_equal(full, again)
    assert not np.array_equal(full, other)
    dropped, none = data.epoch_order(key, 100, 32, drop_last=True)
    assert dropped.shape == (3, 32) and none is None


def test_steps_per_epoch_keeps_or_drops_the_partial_batch():
    assert data.steps_per_epoch(60_000, 64, drop_last=False) == 938  # the reference
    assert data.steps_per_epoch(60_000, 64, drop_last=True) == 937


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


def cached_file(cache, data_dir, split="train"):
    return data.cache_file(cache, split, data.data_source(split, str(data_dir)))


def test_cache_serves_the_second_load(tmp_path, monkeypatch):
    images, _ = make_idx_dir(tmp_path / "idx")
    cache = tmp_path / "cache"
    first, _ = data.load_dataset("train", str(tmp_path / "idx"), cache)
    assert cached_file(cache, tmp_path / "idx").exists()
    monkeypatch.setattr(data, "read_idx_split", lambda *a: pytest.fail("decoded again"))
    second, _ = data.load_dataset("train", str(tmp_path / "idx"), cache)
    np.testing.assert_array_equal(first, second)


def test_corrupt_cache_is_rebuilt(tmp_path, capsys):
    make_idx_dir(tmp_path / "idx")
    cache = tmp_path / "cache"
    cache.mkdir()
    path = cached_file(cache, tmp_path / "idx")
    path.write_bytes(b"not a zip file")
    images, _ = data.load_dataset("train", str(tmp_path / "idx"), cache)
    assert images.shape == (10, 784)
    assert "ignoring unreadable data cache" in capsys.readouterr().err
    assert data._read_cache(path, data.data_source("train", str(tmp_path / "idx"))) is not None


def test_unwritable_cache_dir_still_loads(tmp_path, capsys):
    make_idx_dir(tmp_path / "idx")
    blocker = tmp_path / "file"
    blocker.write_text("")
    images, _ = data.load_dataset("train", str(tmp_path / "idx"), blocker / "cache")
    assert images.shape == (10, 784)
    assert "cannot write data cache" in capsys.readouterr().err


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
