"""Training data: MNIST decoded once (TFDS or the raw IDX files) and cached as uint8, any other
TFDS image dataset, or images of one's own (.npz, arrays), checked; batched on the device.

The host only ever holds the decoded uint8 images. Shuffling, normalisation to [-1, 1] and
batching are pure JAX functions of an epoch key, so they run inside the compiled epoch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.config import MNIST, Config
from jaxgan.errors import DataError, one_line
from jaxgan.files import atomic_path, content_digest
from jaxgan.mnist import IMAGE_PIXELS, NUM_CLASSES
from jaxgan.sources import DATASET, VERSION, Source, data_source, read_idx_split, read_tfds_split

SPLIT_SIZES = {"train": 60_000, "test": 10_000}
PARTIAL_DATA_ENV = "JAXGAN_ALLOW_PARTIAL_DATA"  # accept splits of other sizes (test data)
CACHE_FORMAT = 2


def verify_split(split: str, images: np.ndarray, labels: np.ndarray, origin: str) -> None:
    """Decoded data is what the rest of jaxgan assumes: uint8 rows of 784 pixels, one label in
    0..9 each, and as many examples as the split has (unless partial data is allowed)."""
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != IMAGE_PIXELS:
        raise DataError(
            f"{origin} holds {images.dtype} images of shape {images.shape[1:]}, "
            f"not uint8 rows of {IMAGE_PIXELS} pixels"
        )
    if labels.shape != (len(images),) or (len(labels) and int(labels.max()) >= NUM_CLASSES):
        raise DataError(
            f"{origin}: {labels.shape} labels for {len(images)} images, "
            f"or labels outside 0..{NUM_CLASSES - 1}"
        )
    expected = SPLIT_SIZES[split]
    if len(images) != expected:
        message = (
            f"{origin} holds {len(images):,} {split} images; {DATASET}'s {split} split "
            f"has {expected:,}"
        )
        if not os.environ.get(PARTIAL_DATA_ENV):
            raise DataError(f"{message} (set {PARTIAL_DATA_ENV}=1 to use a partial copy knowingly)")
        print(f"warning: {message}; using it because {PARTIAL_DATA_ENV} is set", file=sys.stderr)


# --- the decoded-array cache -------------------------------------------------------------------


def cache_file(cache_dir: Path, split: str, source: Source) -> Path:
    """Named by the source's fingerprint: another source, or changed files, is another entry."""
    key = hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{DATASET}-{VERSION}-{split}-{key}.npz"


def _read_cache(path: Path, source: Source) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached arrays, only if they were decoded from `source` and are intact."""
    try:
        with np.load(path, allow_pickle=False) as f:
            images, labels = f["images"], f["labels"]
            record = json.loads(str(f["record"]))
    except FileNotFoundError:
        return None
    except Exception as e:  # a truncated or foreign file: decode again and rewrite it
        print(
            f"warning: ignoring unreadable data cache {path} ({type(e).__name__})", file=sys.stderr
        )
        return None
    if record.get("source") != source or record.get("sha256") != content_digest(images, labels):
        print(f"warning: ignoring data cache {path}: it does not match its source", file=sys.stderr)
        return None
    return images, labels


def _write_cache(path: Path, images: np.ndarray, labels: np.ndarray, source: Source) -> None:
    record = {"format": CACHE_FORMAT, "source": source, "sha256": content_digest(images, labels)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, images=images, labels=labels, record=np.asarray(json.dumps(record)))
    except OSError as e:
        print(
            f"warning: cannot write data cache {path} ({e.strerror}); continuing without it",
            file=sys.stderr,
        )


def _check_data_dir(data_dir: str | None) -> None:
    if data_dir is None:
        return
    if not Path(data_dir).is_dir():
        raise DataError(f"data dir {data_dir} does not exist or is not a directory")
    if not os.access(data_dir, os.R_OK | os.X_OK):
        raise DataError(f"data dir {data_dir} is not readable")


def load_dataset(
    split: str = "train", data_dir: str | None = None, cache_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decoded MNIST (images (N, 784) uint8, labels (N,) uint8) of a split, verified.

    Sources, in order: the four IDX .gz files in `data_dir`, TFDS's prepared dataset in
    `data_dir` (or TFDS_DATA_DIR), a TFDS download. A decoded copy is cached in `cache_dir`
    (None: no cache) under the source files' digests, and used only while they are unchanged.
    """
    _check_data_dir(data_dir)
    source = data_source(split, data_dir)
    cache = cache_file(Path(cache_dir), split, source) if cache_dir and source else None
    if cache is not None and (cached := _read_cache(cache, source)) is not None:
        verify_split(split, *cached, origin=f"data cache {cache}")
        return cached
    if source is not None and source["kind"] == "idx":
        images, labels = read_idx_split(Path(data_dir), split)
    else:
        images, labels = read_tfds_split(split, data_dir)
        images = images.reshape(len(images), -1).astype(np.uint8)
        labels = labels.astype(np.uint8)
        if source is None:  # downloaded just now: fingerprint what TFDS prepared, if anything
            source = data_source(split, data_dir)
            cache = cache_file(Path(cache_dir), split, source) if cache_dir and source else None
    verify_split(
        split,
        images,
        labels,
        f"{DATASET} {split} from {source['dir'] if source else data_dir or 'TFDS'}",
    )
    if cache is not None:
        _write_cache(cache, images, labels, source)
    return images, labels


# --- any image data: TFDS's, an .npz, arrays ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Training data, checked: uint8 images as rows (N, H*W*C), labels (N,) in 0..K-1 or None,
    and what a run records of it: its name (a TFDS dataset, or `array:` and a digest of the
    arrays), image shape (H, W, C) and number of classes K (0 without labels)."""

    images: np.ndarray
    labels: np.ndarray | None
    name: str
    shape: tuple[int, int, int]
    num_classes: int


def from_arrays(
    images: Any, labels: Any = None, name: str | None = None, what: str = "data"
) -> Dataset:
    """Images uint8 (N, H, W) or (N, H, W, C) with C = 1 or 3, and optional integer labels (N,)
    in 0..255, as a Dataset; anything else is one DataError naming `what`. Without `name`, the
    data is named by a digest of its arrays, so a run resumes only on the same data."""
    try:
        images = np.asarray(images)
    except ValueError:  # ragged nested lists
        raise DataError(f"{what}: images of mixed sizes; all must have one shape") from None
    if images.dtype != np.uint8:
        raise DataError(
            f"{what}: images of dtype {images.dtype}; expected uint8 pixels 0..255"
            + (" (images of mixed sizes?)" if images.dtype == object else "")
        )
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or 0 in images.shape:
        raise DataError(
            f"{what}: images of shape {images.shape}; expected (N, H, W) or (N, H, W, C) "
            f"with C = 1 (grey) or 3 (RGB)"
        )
    if labels is not None:
        labels = np.asarray(labels)
        if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{what}: labels of dtype {labels.dtype}; expected integers")
        if labels.shape != images.shape[:1]:
            raise DataError(f"{what}: {labels.shape} labels for {len(images)} images")
        if len(labels) and not (0 <= labels.min() and labels.max() <= 255):
            raise DataError(
                f"{what}: labels span {labels.min()} .. {labels.max()}; expected class "
                f"indices in 0..255"
            )
        labels = labels.astype(np.uint8)
    flat = np.ascontiguousarray(images.reshape(len(images), -1))
    if name is None:
        name = "array:" + content_digest(flat, *(() if labels is None else (labels,)))[:16]
    classes = 0 if labels is None or not len(labels) else int(labels.max()) + 1
    return Dataset(flat, labels, name, tuple(int(d) for d in images.shape[1:]), classes)


def read_npz(path: str | Path, what: str = "data") -> Dataset:
    """A Dataset from an .npz file with `images` (and optional `labels`), checked by `from_arrays`."""
    name = f"{what} {path}"
    try:
        with np.load(path, allow_pickle=False) as f:
            if "images" not in f.files:
                raise DataError(
                    f"{name}: the .npz has no 'images' array (found: {', '.join(f.files) or 'none'})"
                )
            images = f["images"]
            labels = f["labels"] if "labels" in f.files else None
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{name}: not a readable .npz file ({one_line(e, 120)})") from None
    return from_arrays(images, labels, what=name)


def load_data(
    dataset: str = MNIST,
    split: str = "train",
    data_dir: str | None = None,
    cache_dir: str | Path | None = None,
) -> Dataset:
    """A TFDS image dataset's split as a Dataset: MNIST through `load_dataset` (its sources,
    verified and cached), any other by TFDS's name (`image`, and `label` where it has one)."""
    if dataset == MNIST:
        images, labels = load_dataset(split, data_dir, cache_dir)
        return Dataset(images, labels, MNIST, (28, 28, 1), 10)
    _check_data_dir(data_dir)
    images, labels = read_tfds_split(split, data_dir, dataset)
    return from_arrays(images, labels, name=dataset, what=f"TFDS's {dataset} {split}")


def with_data(config: Config, data: Dataset) -> Config:
    """`config` for `data`: its name, image shape and number of classes."""
    return config.replace(dataset=data.name, image_shape=data.shape, num_classes=data.num_classes)


def normalize(images: jax.Array) -> jax.Array:
    """uint8 pixels -> float32 in [-1, 1], as ToTensor() then Normalize([0.5], [0.5])."""
    return (images.astype(jnp.float32) / 255.0 - 0.5) / 0.5


def epoch_order(
    key: jax.Array, num_examples: int, batch_size: int, drop_last: bool
) -> tuple[jax.Array, jax.Array | None]:
    """One epoch's shuffled example indices: (full batches (S, B), last partial batch or None)."""
    perm = jax.random.permutation(key, num_examples)
    num_full = num_examples // batch_size
    full = perm[: num_full * batch_size].reshape(num_full, batch_size)
    rest = None if drop_last or num_examples % batch_size == 0 else perm[num_full * batch_size :]
    return full, rest


def in_batches(fn: Callable[..., Any], *arrays: Any, size: int = 1000, axis: int = 0) -> Any:
    """`fn` over `size`-row slices of `arrays` (None stays None), its outputs (a pytree) joined
    on the host along `axis`: one compiled shape for every full slice, device memory for one."""
    n = len(next(a for a in arrays if a is not None))
    parts = [
        jax.device_get(fn(*(None if a is None else a[i : i + size] for a in arrays)))
        for i in range(0, n, size)
    ]
    return jax.tree.map(lambda *p: np.concatenate(p, axis), *parts)


def steps_per_epoch(num_examples: int, batch_size: int, drop_last: bool) -> int:
    return num_examples // batch_size if drop_last else -(-num_examples // batch_size)
