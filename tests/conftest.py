"""Shared fixtures: tiny configs and mock MNIST, so the suite runs in minutes on a small CPU.

Every test runs with its own home, cache and TFDS folders under pytest's tmp dirs: the suite
never reads or writes the user's caches, so mock data can never reach a real run."""

from __future__ import annotations

import functools
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["JAXGAN_NO_DOWNLOAD"] = "1"  # tests never reach for the network

import pytest  # noqa: E402

from jaxgan.config import Config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MOCK_EXAMPLES = 96
# Real MNIST for the few tests that need it: a TFDS data dir holding mnist/3.0.1 and optionally
# a folder of the four IDX files. Unset: those tests are skipped.
REAL_TFDS = os.environ.get("JAXGAN_TEST_TFDS_DIR")
REAL_IDX = os.environ.get("JAXGAN_TEST_IDX_DIR")
# The user's own cache as it was before any test ran; test_isolation checks it is untouched.
USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jaxgan"


def real_mnist_dir() -> str:
    """A data dir of real MNIST: the IDX files where given (decoded in a fraction of a second;
    test_sources checks they are TFDS's data), else the TFDS data dir."""
    return REAL_IDX if REAL_IDX and Path(REAL_IDX).is_dir() else str(real_mnist_or_skip())


def real_mnist_or_skip() -> Path:
    if not REAL_TFDS or not (Path(REAL_TFDS) / "mnist" / "3.0.1").is_dir():
        pytest.skip(
            "real MNIST not provided: set JAXGAN_TEST_TFDS_DIR to a TFDS data dir with mnist/3.0.1"
        )
    return Path(REAL_TFDS)


@pytest.hookimpl(trylast=True)  # after pytest's tmp_path plugin
def pytest_configure(config: pytest.Config) -> None:
    """One XLA compilation cache per run of the suite, under pytest's tmp dirs and shared by the xdist
    workers and the tools' subprocesses: most tests compile the same tiny programs, and compiling
    is most of their time. Cold at every run's start, so the suite's time is honest."""
    base = config._tmp_path_factory.getbasetemp()  # pytest's own tmp root for this run
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(shared / "xla-cache")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    # The tests' programs are tiny and run a few steps: XLA's optimisation passes cost more time
    # than they save. The tests that pin the product's own programs take `xla_optimized`.
    os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"


@pytest.fixture
def xla_optimized(monkeypatch):
    """XLA's optimisations on, here and in the processes the test starts: for numerics pinned
    to a tolerance, the determinism of the programs users run, cost analysis and long runs."""
    import jax

    # The flag is not part of jit's cache key: without clearing, a function compiled on one side
    # of the switch would run its old executable on the other.
    monkeypatch.setenv("JAX_DISABLE_MOST_OPTIMIZATIONS", "0")
    jax.config.update("jax_disable_most_optimizations", False)
    jax.clear_caches()
    yield
    jax.config.update("jax_disable_most_optimizations", True)
    jax.clear_caches()


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path_factory, monkeypatch):
    """Home, XDG cache, TFDS data dir: all under this test's tmp dirs, for it and its subprocesses.

    Mock and tiny datasets have the wrong number of examples; tests allow them explicitly."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(home / "tensorflow_datasets"))
    monkeypatch.delenv("JAXGAN_CACHE_DIR", raising=False)
    monkeypatch.setenv("JAXGAN_ALLOW_PARTIAL_DATA", "1")
    return home


@pytest.fixture
def mock_mnist(tmp_path):
    """A TFDS mock of MNIST with MOCK_EXAMPLES random images per split."""
    import tensorflow_datasets as tfds

    data_dir = tmp_path / "tfds"
    data_dir.mkdir()
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES, data_dir=str(data_dir)):
        yield str(data_dir)


# Flags of a tiny, fast training run.
TINY_FLAGS = [
    "--batch-size",
    "32",
    "--hidden-dim",
    "16",
    "--latent-dim",
    "8",
    "--log-every",
    "100",
    "--sample-every",
    "1000",
    "--no-progress",
    "--no-tensorboard",  # TensorFlow's import is seconds per process; test_outputs covers the summaries
    "--no-cache",
]


def run_cli(name: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """scripts/NAME.py as a user runs it, in its own process."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def run_tool(capsys, name: str, *args: str) -> subprocess.CompletedProcess:
    """jaxgan.cli.NAME's main as its script runs it (`cli.execute`), in this process: its exit
    code and what it printed."""
    import importlib

    from jaxgan import cli

    capsys.readouterr()
    try:
        code = cli.execute(importlib.import_module(f"jaxgan.cli.{name}").main, list(args))
    except SystemExit as e:  # argparse's own errors
        code = e.code
    printed = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, printed.out, printed.err)


def error_lines(stderr: str) -> list[str]:
    """stderr less the partial-data warnings that the tests' tiny datasets cause."""
    return [line for line in stderr.strip().splitlines() if "JAXGAN_ALLOW_PARTIAL_DATA" not in line]


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), result.stderr


def real_batch(n: int = 16, seed: int = 0, labels: bool = False) -> dict:
    """A step's batch of n uniform images in [-1, 1] (and random class labels)."""
    import jax

    batch = {"image": jax.random.uniform(jax.random.key(seed), (n, 784), minval=-1, maxval=1)}
    if labels:
        batch["label"] = jax.random.randint(jax.random.key(seed + 1), (n,), 0, 10)
    return batch


def uint8_images(n: int, seed: int = 5):
    """A dataset of n random uint8 images (N, 784) and labels (N,), as the epoch takes them."""
    import jax
    import numpy as np

    images = jax.random.randint(jax.random.key(seed), (n, 784), 0, 256).astype(np.uint8)
    return images, jax.random.randint(jax.random.key(seed + 1), (n,), 0, 10).astype(np.uint8)


@functools.cache
def digits() -> tuple:
    """scikit-learn's bundled UCI digits (1,797 8x8 images, 10 classes) as uint8 0..255 and their
    labels: a second real dataset, no download."""
    import numpy as np
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.clip(bunch.images * 16, 0, 255).astype(np.uint8), bunch.target


def assert_trees_equal(a, b, **tolerance) -> None:
    """Every leaf equal: bit for bit, or within `rtol`/`atol` when given."""
    import jax
    import numpy as np

    left, right = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(left) == len(right)
    for x, y in zip(left, right, strict=True):
        if tolerance:
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), **tolerance)
        else:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@functools.cache
def fns(config: Config):
    """`make_train(config)`, once per config."""
    from jaxgan.epoch import make_train

    return make_train(config)


def init(config: Config, key=None):
    """A fresh state of `config` from `key` (default key(0))."""
    import jax

    return fns(config).init(jax.random.key(0) if key is None else key)


@functools.cache
def step_of(config: Config):
    """`config`'s step, jitted once."""
    import jax

    return jax.jit(fns(config).step)


def count(params) -> int:
    import jax

    return sum(x.size for x in jax.tree.leaves(params))


def write_idx(path: Path, array) -> None:
    """An IDX file (gzip) of unsigned bytes, as MNIST's originals."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype("uint8").tobytes())


def make_idx_dir(path: Path, n: int = 10, seed: int = 0):
    """A data dir with the four MNIST IDX files holding n random images (train = test)."""
    import numpy as np

    from jaxgan.sources import IDX_FILES

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


# The one tiny config of the suite (tests override fields with .replace): a run of it writes
# every output each epoch, which is what the fault-injection tests break.
TINY = Config(
    batch_size=32,
    hidden_dim=16,
    latent_dim=8,
    log_every=100,
    sample_every=1,
    checkpoint_every=1,
    epochs=1,
)


def tiny(**changes) -> Config:
    """TINY without its per-epoch grids: the config of a short run from Python."""
    return TINY.replace(sample_every=100, **changes)


def train_tiny(workdir, data_dir, **kwargs):
    """One epoch (by default) of TINY with every output on; Config fields in kwargs override it,
    the others are `train_and_evaluate`'s."""
    from jaxgan.loop import train_and_evaluate

    config = TINY.replace(**{k: kwargs.pop(k) for k in list(kwargs) if hasattr(TINY, k)})
    kwargs.setdefault("tensorboard", False)
    return train_and_evaluate(config, workdir, data_dir=data_dir, progress=False, **kwargs)


def train_cli(workdir, data_dir, *flags: str) -> None:
    """One epoch of TINY_FLAGS through train.py's main, in this process."""
    from jaxgan import cli
    from jaxgan.cli import train

    argv = [
        *TINY_FLAGS,
        "--epochs",
        "1",
        "--workdir",
        str(workdir),
        "--data-dir",
        data_dir,
        *flags,
    ]
    assert cli.execute(train.main, argv) == 0


def random_pixels(n: int, seed: int = 0):
    """n random uint8 images (n, 28, 28)."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def file_tree(path: Path) -> dict[str, bytes]:
    """Every file under `path` with its bytes: a folder's exact contents."""
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def random_classifier():
    """The evaluation classifier's parameters at initialisation: scores without training one."""
    import jax
    import jax.numpy as jnp

    from jaxgan import classifier

    return classifier.Classifier().init(jax.random.key(0), jnp.zeros((1, 784)))["params"]


def truncate_checkpoint(checkpoint_dir: Path) -> None:
    """Truncate every data file of a saved checkpoint (a disk that lost its tail)."""
    for path in (checkpoint_dir / "state").rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])


def edit_record(checkpoint_dir: Path, *, redigest: bool, **changes) -> None:
    """Change fields of a saved record (None deletes one); `redigest` keeps its digest consistent,
    as a careful forger would."""
    from jaxgan.record import record_digest

    path = checkpoint_dir / "meta" / "metadata"
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key)
        elif isinstance(value, dict):
            meta[key] = {**meta[key], **value}
        else:
            meta[key] = value
    if redigest:
        meta["record_sha256"] = record_digest(meta)
    path.write_text(json.dumps(meta))
