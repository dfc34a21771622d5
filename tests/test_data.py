import re

import jax
import numpy as np
import pytest

from jaxgan import data
from jaxgan.errors import DataError

from conftest import MOCK_EXAMPLES, digits, make_idx_dir


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
    with pytest.raises(
        DataError, match=f"holds {MOCK_EXAMPLES} train images; mnist's train split has 60,000"
    ):
        data.load_dataset("train", idx_mnist)


# --- data of one's own -----------------------------------------------------------------------


def test_arrays_of_any_image_size_are_a_dataset_named_by_their_digest():
    images, labels = digits()
    dataset = data.from_arrays(images, labels)
    assert dataset.shape == (8, 8, 1) and dataset.num_classes == 10
    assert dataset.images.shape == (1797, 64) and dataset.images.dtype == np.uint8
    np.testing.assert_array_equal(dataset.images[5].reshape(8, 8), images[5])
    assert dataset.name.startswith("array:")
    assert dataset.name == data.from_arrays(images.copy(), labels.astype(np.int64)).name
    assert dataset.name != data.from_arrays(images, (labels + 1) % 10).name
    rgb = data.from_arrays(np.zeros((4, 32, 32, 3), np.uint8))
    assert rgb.shape == (32, 32, 3) and rgb.labels is None and rgb.num_classes == 0
    assert rgb.images.shape == (4, 3072)


@pytest.mark.parametrize(
    "images, labels, message",
    [
        (np.full((2, 8, 8), "a"), None, "images of dtype <U1; expected uint8"),
        (np.zeros((2, 8, 8), np.float32), None, "images of dtype float32; expected uint8"),
        (np.zeros(64, np.uint8), None, "images of shape (64,); expected (N, H, W)"),
        ([np.zeros((8, 8), np.uint8), np.zeros((9, 9), np.uint8)], None, "mixed sizes"),
        (np.zeros((2, 8, 8, 2), np.uint8), None, "C = 1 (grey) or 3 (RGB)"),
        (np.zeros((2, 8, 8), np.uint8), [0, -1], "labels span -1 .. 0"),
        (np.zeros((2, 8, 8), np.uint8), [0, 256], "labels span 0 .. 256"),
        (np.zeros((2, 8, 8), np.uint8), [0.5, 1], "labels of dtype float64; expected integers"),
        (np.zeros((2, 8, 8), np.uint8), [0], "(1,) labels for 2 images"),
    ],
)
def test_data_of_the_wrong_kind_is_one_line(images, labels, message):
    with pytest.raises(DataError) as raised:
        data.from_arrays(images, labels, what="data")
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert str(raised.value).startswith("data: ")


def test_an_npz_is_read_and_checked(tmp_path):
    images, labels = digits()
    np.savez(tmp_path / "digits.npz", images=images, labels=labels)
    dataset = data.read_npz(tmp_path / "digits.npz")
    assert dataset.name == data.from_arrays(images, labels).name
    np.savez(tmp_path / "unlabelled.npz", images=images)
    assert data.read_npz(tmp_path / "unlabelled.npz").labels is None
    np.savez(tmp_path / "other.npz", pixels=images)
    (tmp_path / "text.npz").write_text("not numpy")
    for name, message in [
        ("other.npz", "the .npz has no 'images' array (found: pixels)"),
        ("text.npz", "not a readable .npz file"),
        ("missing.npz", "no such file"),
    ]:
        with pytest.raises(DataError, match=r"^--data .*" + re.escape(message)):
            data.read_npz(tmp_path / name, "--data")
