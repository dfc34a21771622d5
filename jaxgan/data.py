"""MNIST input: decode once (TFDS or the raw IDX files), cache as uint8, batch on the device.

The host only ever holds the decoded uint8 images. Shuffling, normalisation to [-1, 1] and
batching are pure JAX functions of an epoch key, so they run inside the compiled epoch.
"""

from __future__ import annotations

import gzip
import os
import socket
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import DataError
from jaxgan.files import atomic_path

# Pinned so that the decoded-array cache can be looked up without importing TensorFlow.
DATASET_VERSIONS = {"mnist": "3.0.1", "fashion_mnist": "3.0.1"}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
DOWNLOAD_PROBE = ("storage.googleapis.com", 443)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get("JAXGAN_CACHE_DIR") or Path(base) / "jaxgan")


def _missing_message(dataset: str, data_dir: str | None) -> str:
    where = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return (f"{dataset} is not prepared in {where} and cannot be downloaded: pass --data-dir DIR "
            f"(or set TFDS_DATA_DIR) where DIR holds TFDS's prepared {dataset}/"
            f"{DATASET_VERSIONS.get(dataset, '')} or the four standard IDX .gz files "
            f"({', '.join(IDX_FILES['train'] + IDX_FILES['test'])})")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, ndim = int.from_bytes(raw[:4], "big"), raw[3]
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte data
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: expected {np.prod(shape)} values, found {data.size}")
    return data.reshape(shape)


def _load_idx(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    image_file, label_file = IDX_FILES[split]
    images = _read_idx(data_dir / image_file).reshape(-1, 28 * 28)
    labels = _read_idx(data_dir / label_file)
    return images, labels


def _network_reachable() -> bool:
    if os.environ.get("JAXGAN_NO_DOWNLOAD"):
        return False
    try:
        socket.create_connection(DOWNLOAD_PROBE, timeout=5).close()
        return True
    except OSError:
        return False


def _load_tfds(dataset: str, split: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    # TensorFlow only decodes uint8 records here: keep its start-up banners off the user's screen.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf
    import tensorflow_datasets as tfds

    tf.config.set_visible_devices([], "GPU")  # TensorFlow only decodes; the GPU is JAX's.
    builder = tfds.builder(f"{dataset}:{DATASET_VERSIONS[dataset]}", data_dir=data_dir)
    # A finite batch size: batch_size=-1 aborts the process under tfds.testing.mock_data.
    read = lambda: builder.as_dataset(split=split, batch_size=10_000, shuffle_files=False)  # noqa: E731
    try:
        ds = read()
    except AssertionError:  # TFDS's way of saying the dataset is not prepared in data_dir.
        if not _network_reachable():  # TFDS would otherwise retry for minutes before failing.
            raise DataError(_missing_message(dataset, data_dir)) from None
        print(f"{dataset} not found in {builder.data_dir}; downloading it with TFDS ...",
              file=sys.stderr)
        try:
            builder.download_and_prepare()
        except Exception as e:  # network, disk or checksum failures all end the same way
            raise DataError(f"downloading {dataset} failed ({type(e).__name__}: {e}); "
                            + _missing_message(dataset, data_dir)) from None
        ds = read()
    images, labels = [], []
    for ex in tfds.as_numpy(ds):
        images.append(ex["image"].reshape(len(ex["image"]), -1))
        labels.append(ex["label"])
    return np.concatenate(images).astype(np.uint8), np.concatenate(labels).astype(np.uint8)


def _cache_file(cache_dir: Path, dataset: str, split: str) -> Path:
    return cache_dir / f"{dataset}-{DATASET_VERSIONS[dataset]}-{split}.npz"


def _read_cache(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path) as f:
            images, labels = f["images"], f["labels"]
    except FileNotFoundError:
        return None
    except Exception as e:  # a truncated or foreign file: decode again and rewrite it
        print(f"warning: ignoring unreadable data cache {path} ({type(e).__name__})", file=sys.stderr)
        return None
    if images.dtype != np.uint8 or images.ndim != 2 or len(images) != len(labels):
        return None
    return images, labels


def _write_cache(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, images=images, labels=labels)
    except OSError as e:
        print(f"warning: cannot write data cache {path} ({e.strerror}); continuing without it",
              file=sys.stderr)


def load_dataset(
    dataset: str = "mnist",
    split: str = "train",
    data_dir: str | None = None,
    cache_dir: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decoded (images (N, 784) uint8, labels (N,) uint8) of a split.

    Sources, in order: the decoded-array cache in `cache_dir` (None: no cache), the four IDX .gz
    files in `data_dir`, TFDS's prepared dataset in `data_dir` (or TFDS_DATA_DIR), a TFDS download.
    """
    if dataset not in DATASET_VERSIONS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASET_VERSIONS)}")
    if data_dir is not None:
        path = Path(data_dir)
        if not path.is_dir():
            raise DataError(f"data dir {data_dir} does not exist or is not a directory")
        if not os.access(path, os.R_OK | os.X_OK):
            raise DataError(f"data dir {data_dir} is not readable")
    cache = _cache_file(Path(cache_dir), dataset, split) if cache_dir is not None else None
    if cache is not None and (cached := _read_cache(cache)) is not None:
        return cached
    if data_dir is not None and all((Path(data_dir) / f).is_file() for f in IDX_FILES[split]):
        images, labels = _load_idx(Path(data_dir), split)
    else:
        images, labels = _load_tfds(dataset, split, data_dir)
    if cache is not None:
        _write_cache(cache, images, labels)
    return images, labels


def normalize(images: jax.Array) -> jax.Array:
    """uint8 pixels -> float32 in [-1, 1], as ToTensor() then Normalize([0.5], [0.5])."""
    return (images.astype(jnp.float32) / 255.0 - 0.5) / 0.5


def epoch_order(key: jax.Array, num_examples: int, batch_size: int,
                drop_last: bool) -> tuple[jax.Array, jax.Array | None]:
    """One epoch's shuffled example indices: (full batches (S, B), last partial batch or None)."""
    perm = jax.random.permutation(key, num_examples)
    num_full = num_examples // batch_size
    full = perm[: num_full * batch_size].reshape(num_full, batch_size)
    rest = None if drop_last or num_examples % batch_size == 0 else perm[num_full * batch_size:]
    return full, rest


def steps_per_epoch(num_examples: int, batch_size: int, drop_last: bool) -> int:
    return num_examples // batch_size if drop_last else -(-num_examples // batch_size)
