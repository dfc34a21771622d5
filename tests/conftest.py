"""Shared fixtures: tiny configs and mock MNIST, so the suite runs in minutes on 2 CPU cores."""

from __future__ import annotations

import gzip
import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["JAXGAN_NO_DOWNLOAD"] = "1"  # tests never reach for the network

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_TFDS = Path(os.environ.get("JAXGAN_SHARED_TFDS", ROOT.parent / "shared" / "tensorflow_datasets"))
SHARED_IDX = ROOT.parent / "shared" / "data" / "mnist"
MOCK_EXAMPLES = 96


def shared_mnist_or_skip() -> Path:
    if not (SHARED_TFDS / "mnist" / "3.0.1").is_dir():
        pytest.skip(f"real MNIST not found at {SHARED_TFDS} (set JAXGAN_SHARED_TFDS or provide "
                    f"../shared/tensorflow_datasets)")
    return SHARED_TFDS


@pytest.fixture
def mock_mnist(tmp_path):
    """A TFDS mock of MNIST with MOCK_EXAMPLES random images per split."""
    import tensorflow_datasets as tfds

    data_dir = tmp_path / "tfds"
    data_dir.mkdir()
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES, data_dir=str(data_dir)):
        yield str(data_dir)


@pytest.fixture
def tiny_config():
    from jaxgan.config import Config

    return Config(batch_size=32, epochs=2, hidden_dim=16, latent_dim=8, log_every=1,
                  sample_every=1, checkpoint_every=1)


def load_script(name: str):
    """Import scripts/NAME.py as a module, to call its main() in-process (inside mock_data)."""
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def write_idx(path: Path, array) -> None:
    """An IDX file (gzip) of unsigned bytes, as MNIST's originals."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype("uint8").tobytes())


def make_idx_dir(path: Path, n: int = 10, seed: int = 0):
    """A data dir with the four MNIST IDX files holding n random images (train = test)."""
    import numpy as np

    from jaxgan.data import IDX_FILES

    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    for image_file, label_file in IDX_FILES.values():
        write_idx(path / image_file, images)
        write_idx(path / label_file, labels)
    return images, labels


@pytest.fixture
def idx_mnist(tmp_path) -> str:
    """A tiny MNIST (MOCK_EXAMPLES random images) as IDX files: no TensorFlow, usable by subprocesses."""
    make_idx_dir(tmp_path / "idx", MOCK_EXAMPLES)
    return str(tmp_path / "idx")
