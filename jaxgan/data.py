"""MNIST input: decode once (TFDS or the raw IDX files), cache as uint8, batch on the device.

The host only ever holds the decoded uint8 images. Shuffling, normalisation to [-1, 1] and
batching are pure JAX functions of an epoch key, so they run inside the compiled epoch.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import sys
import zlib
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import DataError
from jaxgan.files import atomic_path, content_digest, sha256_file

# Pinned so that the decoded-array cache can be looked up without importing TensorFlow.
DATASET_VERSIONS = {"mnist": "3.0.1", "fashion_mnist": "3.0.1"}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
DOWNLOAD_PROBE = ("storage.googleapis.com", 443)
IMAGE_SHAPE = (28, 28)
IMAGE_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
NUM_CLASSES = 10
SPLIT_SIZES = {"train": 60_000, "test": 10_000}  # both datasets' splits
PARTIAL_DATA_ENV = "JAXGAN_ALLOW_PARTIAL_DATA"  # accept splits of other sizes (test data)
TFRECORD_FRAMING = 16
CACHE_FORMAT = 2


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get("JAXGAN_CACHE_DIR") or Path(base) / "jaxgan")


def _missing_message(dataset: str, data_dir: str | None) -> str:
    where = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return (f"{dataset} is not prepared in {where} and cannot be downloaded: pass --data-dir DIR "
            f"(or set TFDS_DATA_DIR) where DIR holds TFDS's prepared {dataset}/"
            f"{DATASET_VERSIONS.get(dataset, '')} or the four standard IDX .gz files "
            f"({', '.join(IDX_FILES['train'] + IDX_FILES['test'])})")


# --- where the data comes from, and its fingerprint --------------------------------------------


def _files_record(paths: list[Path]) -> dict[str, dict[str, Any]]:
    return {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in paths}


def tfds_prepared_dir(dataset: str, data_dir: str | None) -> Path:
    """Where TFDS keeps (or would prepare) `dataset` for this data dir."""
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return Path(root).expanduser().absolute() / dataset / DATASET_VERSIONS[dataset]


def _tfds_shards(prepared: Path, dataset: str, split: str) -> list[Path]:
    """The split's record files, checked against TFDS's own dataset_info.json: every shard is
    present and has the size its example count and byte count imply."""
    try:
        info = json.loads((prepared / "dataset_info.json").read_text())
        (entry,) = [s for s in info["splits"] if s["name"] == split]
        lengths = [int(n) for n in entry["shardLengths"]]
        file_format = info.get("fileFormat", "tfrecord")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{prepared}/dataset_info.json is unreadable or lists no {split!r} split "
                        f"({type(e).__name__}); prepare {dataset} again") from None
    shards = [prepared / f"{dataset}-{split}.{file_format}-{i:05d}-of-{len(lengths):05d}"
              for i in range(len(lengths))]
    if missing := [p.name for p in shards if not p.is_file()]:
        raise DataError(f"TFDS's {dataset} in {prepared} is incomplete: {', '.join(missing)} "
                        f"missing; prepare it again or pass the IDX files with --data-dir")
    if file_format == "tfrecord" and "numBytes" in entry:
        # A TFRecord frames each example with 16 bytes (length, two CRCs).
        expected = int(entry["numBytes"]) + TFRECORD_FRAMING * sum(lengths)
        if (found := sum(p.stat().st_size for p in shards)) != expected:
            raise DataError(f"TFDS's {dataset} {split} shards in {prepared} hold {found} bytes, "
                            f"not the {expected} its dataset_info.json records: truncated or "
                            f"altered; prepare it again")
    return shards


def data_source(dataset: str, split: str, data_dir: str | None) -> dict[str, Any] | None:
    """The files a split would be read from, each with its size and sha256; None when they
    cannot be named in advance (a TFDS download, or TFDS's test mocks)."""
    if data_dir is not None and all((Path(data_dir) / f).is_file() for f in IDX_FILES[split]):
        folder = Path(data_dir).absolute()
        return {"kind": "idx", "dir": str(folder),
                "files": _files_record([folder / f for f in IDX_FILES[split]])}
    prepared = tfds_prepared_dir(dataset, data_dir)
    if not (prepared / "dataset_info.json").is_file():
        return None
    shards = _tfds_shards(prepared, dataset, split)
    return {"kind": "tfds", "dir": str(prepared),
            "files": _files_record([prepared / "dataset_info.json", *shards])}


# --- decoding ----------------------------------------------------------------------------------


def _read_idx(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # truncated or not gzip at all
        raise DataError(f"{path} is not a readable gzip file ({type(e).__name__}: {e}); "
                        f"replace it with the original") from None
    magic, ndim = int.from_bytes(raw[:4], "big"), raw[3] if len(raw) > 3 else 0
    if len(raw) < 4 + 4 * ndim or magic >> 8 != 0x08:  # 0x08 = unsigned byte data
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: expected {np.prod(shape)} values, found {data.size}")
    return data.reshape(shape)


def _load_idx(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    image_file, label_file = IDX_FILES[split]
    images, labels = _read_idx(data_dir / image_file), _read_idx(data_dir / label_file)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{data_dir / image_file} holds images of shape {images.shape[1:]}, "
                        f"not {IMAGE_SHAPE}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{data_dir / label_file} holds {labels.shape} labels for the "
                        f"{len(images)} images of {image_file}: the files do not belong together")
    return images.reshape(len(images), -1), labels


def _network_reachable() -> bool:
    if os.environ.get("JAXGAN_NO_DOWNLOAD"):
        return False
    try:
        socket.create_connection(DOWNLOAD_PROBE, timeout=5).close()
        return True
    except OSError:
        return False


def _load_tfds(dataset: str, split: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    quiet_tensorflow()
    import tensorflow as tf
    import tensorflow_datasets as tfds

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
    try:
        for ex in tfds.as_numpy(ds):
            images.append(ex["image"].reshape(len(ex["image"]), -1))
            labels.append(ex["label"])
    except tf.errors.OpError as e:
        raise DataError(f"reading TFDS's {dataset} {split} from {builder.data_dir} failed "
                        f"({type(e).__name__}: {e.message.splitlines()[0]}); prepare it again") from None
    return np.concatenate(images).astype(np.uint8), np.concatenate(labels).astype(np.uint8)


def quiet_tensorflow() -> None:
    """TensorFlow only decodes records and writes summaries here: keep its start-up banners off
    the user's screen, and the GPU JAX's (the settings apply at TensorFlow's import)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")


def verify_split(dataset: str, split: str, images: np.ndarray, labels: np.ndarray,
                 origin: str) -> None:
    """Decoded data is what the rest of jaxgan assumes: uint8 rows of 784 pixels, one label in
    0..9 each, and as many examples as the split has (unless partial data is allowed)."""
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != IMAGE_PIXELS:
        raise DataError(f"{origin} holds {images.dtype} images of shape {images.shape[1:]}, "
                        f"not uint8 rows of {IMAGE_PIXELS} pixels")
    if labels.shape != (len(images),) or (len(labels) and int(labels.max()) >= NUM_CLASSES):
        raise DataError(f"{origin}: {labels.shape} labels for {len(images)} images, "
                        f"or labels outside 0..{NUM_CLASSES - 1}")
    expected = SPLIT_SIZES[split]
    if len(images) != expected:
        message = (f"{origin} holds {len(images):,} {split} images; {dataset}'s {split} split "
                   f"has {expected:,}")
        if not os.environ.get(PARTIAL_DATA_ENV):
            raise DataError(f"{message} (set {PARTIAL_DATA_ENV}=1 to use a partial copy knowingly)")
        print(f"warning: {message}; using it because {PARTIAL_DATA_ENV} is set", file=sys.stderr)


# --- the decoded-array cache -------------------------------------------------------------------


def cache_file(cache_dir: Path, dataset: str, split: str, source: dict[str, Any]) -> Path:
    """Named by the source's fingerprint: another source, or changed files, is another entry."""
    key = hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{dataset}-{DATASET_VERSIONS[dataset]}-{split}-{key}.npz"


def _read_cache(path: Path, source: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached arrays, only if they were decoded from `source` and are intact."""
    try:
        with np.load(path, allow_pickle=False) as f:
            images, labels = f["images"], f["labels"]
            record = json.loads(str(f["record"]))
    except FileNotFoundError:
        return None
    except Exception as e:  # a truncated or foreign file: decode again and rewrite it
        print(f"warning: ignoring unreadable data cache {path} ({type(e).__name__})", file=sys.stderr)
        return None
    if record.get("source") != source or record.get("sha256") != content_digest(images, labels):
        print(f"warning: ignoring data cache {path}: it does not match its source", file=sys.stderr)
        return None
    return images, labels


def _write_cache(path: Path, images: np.ndarray, labels: np.ndarray, source: dict[str, Any]) -> None:
    record = {"format": CACHE_FORMAT, "source": source, "sha256": content_digest(images, labels)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, images=images, labels=labels, record=np.asarray(json.dumps(record)))
    except OSError as e:
        print(f"warning: cannot write data cache {path} ({e.strerror}); continuing without it",
              file=sys.stderr)


def load_dataset(
    dataset: str = "mnist",
    split: str = "train",
    data_dir: str | None = None,
    cache_dir: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decoded (images (N, 784) uint8, labels (N,) uint8) of a split, verified.

    Sources, in order: the four IDX .gz files in `data_dir`, TFDS's prepared dataset in
    `data_dir` (or TFDS_DATA_DIR), a TFDS download. A decoded copy is cached in `cache_dir`
    (None: no cache) under the source files' digests, and used only while they are unchanged.
    """
    if dataset not in DATASET_VERSIONS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASET_VERSIONS)}")
    if data_dir is not None:
        path = Path(data_dir)
        if not path.is_dir():
            raise DataError(f"data dir {data_dir} does not exist or is not a directory")
        if not os.access(path, os.R_OK | os.X_OK):
            raise DataError(f"data dir {data_dir} is not readable")
    source = data_source(dataset, split, data_dir)
    if source is not None and source["kind"] == "idx" and dataset != "mnist":
        raise DataError(f"IDX files are read as MNIST; --dataset {dataset} needs TFDS's prepared "
                        f"{dataset} (a data dir without MNIST's IDX files)")
    cache = cache_file(Path(cache_dir), dataset, split, source) if cache_dir and source else None
    if cache is not None and (cached := _read_cache(cache, source)) is not None:
        verify_split(dataset, split, *cached, origin=f"data cache {cache}")
        return cached
    if source is not None and source["kind"] == "idx":
        images, labels = _load_idx(Path(data_dir), split)
    else:
        images, labels = _load_tfds(dataset, split, data_dir)
        if source is None:  # downloaded just now: fingerprint what TFDS prepared, if anything
            source = data_source(dataset, split, data_dir)
            cache = cache_file(Path(cache_dir), dataset, split, source) if cache_dir and source else None
    origin = f"{dataset} {split} from {source['dir'] if source else data_dir or 'TFDS'}"
    verify_split(dataset, split, images, labels, origin)
    if cache is not None:
        _write_cache(cache, images, labels, source)
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
