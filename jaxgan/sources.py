"""Where MNIST is read from: the four IDX files, TFDS's prepared copy, or a TFDS download;
each source fingerprinted by its files' sizes and digests."""

from __future__ import annotations

import gc
import gzip
import json
import os
import socket
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from jaxgan.debuglog import quiet_native_output, quiet_tensorflow
from jaxgan.errors import DataError, arg, one_line
from jaxgan.files import sha256_file
from jaxgan.mnist import IMAGE_SHAPE

DATASET, VERSION = "mnist", "3.0.1"  # pinned: the cache is looked up without importing TensorFlow
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
DOWNLOAD_PROBE = ("storage.googleapis.com", 443)
TFRECORD_FRAMING = 16  # bytes around each example of a TFRecord: length and two CRCs

Source = dict[str, Any]


def missing_message(data_dir: str | None, name: str = DATASET) -> str:
    where = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    if name != DATASET:
        return (
            f"{name} is not prepared in {where} and cannot be downloaded: pass "
            f"{arg('data_dir')} DIR (or set TFDS_DATA_DIR) where DIR holds TFDS's prepared {name}"
        )
    return (
        f"{DATASET} is not prepared in {where} and cannot be downloaded: pass "
        f"{arg('data_dir')} DIR "
        f"(or set TFDS_DATA_DIR) where DIR holds TFDS's prepared {DATASET}/{VERSION} or the "
        f"four standard IDX .gz files ({', '.join(IDX_FILES['train'] + IDX_FILES['test'])})"
    )


def _files_record(paths: list[Path]) -> dict[str, dict[str, Any]]:
    return {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in paths}


def tfds_prepared_dir(data_dir: str | None) -> Path:
    """Where TFDS keeps (or would prepare) MNIST for this data dir."""
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return Path(root).expanduser().absolute() / DATASET / VERSION


def _tfds_shards(prepared: Path, split: str) -> list[Path]:
    """The split's record files, checked against TFDS's own dataset_info.json: every shard is
    present and has the size its example count and byte count imply."""
    try:
        info = json.loads((prepared / "dataset_info.json").read_text())
        (entry,) = [s for s in info["splits"] if s["name"] == split]
        lengths = [int(n) for n in entry["shardLengths"]]
        file_format = info.get("fileFormat", "tfrecord")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(
            f"{prepared}/dataset_info.json is unreadable or lists no {split!r} split "
            f"({type(e).__name__}); prepare {DATASET} again"
        ) from None
    shards = [
        prepared / f"{DATASET}-{split}.{file_format}-{i:05d}-of-{len(lengths):05d}"
        for i in range(len(lengths))
    ]
    if missing := [p.name for p in shards if not p.is_file()]:
        raise DataError(
            f"TFDS's {DATASET} in {prepared} is incomplete: {', '.join(missing)} "
            f"missing; prepare it again or pass the IDX files with {arg('data_dir')}"
        )
    if file_format == "tfrecord" and "numBytes" in entry:
        expected = int(entry["numBytes"]) + TFRECORD_FRAMING * sum(lengths)
        if (found := sum(p.stat().st_size for p in shards)) != expected:
            raise DataError(
                f"TFDS's {DATASET} {split} shards in {prepared} hold {found} bytes, "
                f"not the {expected} its dataset_info.json records: truncated or "
                f"altered; prepare it again"
            )
    return shards


def data_source(split: str, data_dir: str | None) -> Source | None:
    """The files a split would be read from, each with its size and sha256; None when they
    cannot be named in advance (a TFDS download, or TFDS's test mocks)."""
    if data_dir is not None and all((Path(data_dir) / f).is_file() for f in IDX_FILES[split]):
        folder = Path(data_dir).absolute()
        return {
            "kind": "idx",
            "dir": str(folder),
            "files": _files_record([folder / f for f in IDX_FILES[split]]),
        }
    prepared = tfds_prepared_dir(data_dir)
    if not (prepared / "dataset_info.json").is_file():
        return None
    shards = _tfds_shards(prepared, split)
    return {
        "kind": "tfds",
        "dir": str(prepared),
        "files": _files_record([prepared / "dataset_info.json", *shards]),
    }


def _read_idx(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # truncated or not gzip at all
        raise DataError(
            f"{path} is not a readable gzip file ({type(e).__name__}: {e}); "
            f"replace it with the original"
        ) from None
    magic, ndim = int.from_bytes(raw[:4], "big"), raw[3] if len(raw) > 3 else 0
    if len(raw) < 4 + 4 * ndim or magic >> 8 != 0x08:  # 0x08 = unsigned byte data
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: expected {np.prod(shape)} values, found {data.size}")
    return data.reshape(shape)


def read_idx_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    image_file, label_file = IDX_FILES[split]
    images, labels = _read_idx(data_dir / image_file), _read_idx(data_dir / label_file)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(
            f"{data_dir / image_file} holds images of shape {images.shape[1:]}, not {IMAGE_SHAPE}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{data_dir / label_file} holds {labels.shape} labels for the "
            f"{len(images)} images of {image_file}: the files do not belong together"
        )
    return images.reshape(len(images), -1), labels


def _network_reachable() -> bool:
    if os.environ.get("JAXGAN_NO_DOWNLOAD"):
        return False
    try:
        socket.create_connection(DOWNLOAD_PROBE, timeout=5).close()
        return True
    except OSError:
        return False


def _prepared_or_downloaded(builder, split: str, data_dir: str | None, name: str):
    # A finite batch size: batch_size=-1 aborts the process under tfds.testing.mock_data.
    read = lambda: builder.as_dataset(split=split, batch_size=10_000, shuffle_files=False)  # noqa: E731
    try:
        return read()
    except AssertionError:  # TFDS's way of saying the dataset is not prepared in data_dir.
        if not _network_reachable():  # TFDS would otherwise retry for minutes before failing.
            raise DataError(missing_message(data_dir, name)) from None
    print(f"{name} not found in {builder.data_dir}; downloading it with TFDS ...", file=sys.stderr)
    try:
        builder.download_and_prepare()
    except Exception as e:  # network, disk or checksum failures all end the same way
        raise DataError(
            f"downloading {name} failed ({type(e).__name__}: {e}); "
            + missing_message(data_dir, name)
        ) from None
    return read()


def read_tfds_split(
    split: str, data_dir: str | None, name: str = DATASET
) -> tuple[np.ndarray, np.ndarray | None]:
    """A TFDS image dataset's split: its `image` feature (N, H, W, C) and its `label` feature
    (None where it has none). MNIST is read at its pinned version."""
    quiet_tensorflow()
    import tensorflow as tf
    import tensorflow_datasets as tfds

    versioned = f"{DATASET}:{VERSION}" if name == DATASET else name
    try:
        builder = tfds.builder(versioned, data_dir=data_dir)
    except Exception as e:  # an unknown name; TFDS asserts on a dataset_info.json it cannot use
        raise DataError(
            f"TFDS cannot open {versioned.replace(':', ' ')} in {data_dir or 'its data dir'} "
            f"({one_line(e)}); prepare it again"
        ) from None
    features = builder.info.features
    if "image" not in features:
        raise DataError(f"TFDS's {name} has no 'image' feature; jaxgan trains on images")
    if builder.info.splits and split not in builder.info.splits:  # none: not prepared yet
        raise DataError(f"TFDS's {name} has no {split!r} split ({', '.join(builder.info.splits)})")
    ds = _prepared_or_downloaded(builder, split, data_dir, name)
    images, labels, error = [], [], None
    with quiet_native_output():  # a corrupt record also makes TensorFlow's C++ log warn
        try:
            for ex in tfds.as_numpy(ds):
                images.append(ex["image"])
                labels.append(ex.get("label"))
        except tf.errors.OpError as e:
            error = f"{type(e).__name__}: {e.message.splitlines()[0]}"
        del ds
        gc.collect()  # the iterator's destructor warns too: inside the block
    if error:
        raise DataError(
            f"reading TFDS's {name} {split} from {builder.data_dir} failed ({error}); "
            f"prepare it again"
        )
    return np.concatenate(images), None if labels[0] is None else np.concatenate(labels)
