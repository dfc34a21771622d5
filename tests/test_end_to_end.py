"""The scripts as a user runs them: train on (mock or real) MNIST, then sample."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxgan import cli
from jaxgan.cli import sample as sample_tool
from jaxgan.cli import train as train_tool

from conftest import REAL_IDX, ROOT, real_mnist_or_skip

FLAGS = [
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--hidden-dim",
    "16",
    "--latent-dim",
    "8",
    "--sample-every",
    "1",
    "--checkpoint-every",
    "1",
    "--log-every",
    "1",
    "--no-progress",
]


@pytest.fixture(scope="module")
def train():
    return train_tool


@pytest.fixture(scope="module")
def sample():
    return sample_tool


@pytest.mark.slow
def test_train_writes_grids_metrics_and_a_checkpoint_then_sample_plots(
    mock_mnist, tmp_path, train, sample, capsys
):
    workdir = tmp_path / "run"
    argv = FLAGS + ["--workdir", str(workdir), "--data-dir", mock_mnist, "--no-cache"]
    assert cli.execute(train.main, argv) == 0
    out = capsys.readouterr().out
    assert "Epoch [0/2] Batch 0/3 Loss D: " in out and "Epoch [1/2] Batch 2/3" in out
    assert sorted(p.name for p in (workdir / "images").iterdir()) == ["0.png", "1.png"]
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == [
        "1",
        "2",
    ]
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and rows[-1]["step"] == 6
    assert json.loads((workdir / "config.json").read_text())["hidden_dim"] == 16

    out_png, npz = tmp_path / "grid.png", tmp_path / "s.npz"
    argv = ["--workdir", str(workdir), "--out", str(out_png), "--export", str(npz), "--seed", "3"]
    assert cli.execute(sample.main, argv) == 0
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = np.load(npz)["images"]
    assert first.shape == (64, 28, 28) and first.dtype == np.float32
    assert -1 <= first.min() and first.max() <= 1
    assert cli.execute(sample.main, argv) == 0  # same seed, same images
    np.testing.assert_array_equal(np.load(npz)["images"], first)
    assert cli.execute(sample.main, argv[:-1] + ["4"]) == 0
    assert not np.array_equal(np.load(npz)["images"], first)


def run_script(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_real_mnist_smoke_run(tmp_path, monkeypatch, xla_optimized):
    """One epoch of the reference model on real MNIST through the CLI, then sampling from it. From
    the IDX files where they are given (TFDS's copy is read, and matched to them, in test_sources)."""
    data_dir = REAL_IDX or real_mnist_or_skip()
    monkeypatch.delenv("JAXGAN_ALLOW_PARTIAL_DATA")  # all 60,000 images, verified
    workdir = tmp_path / "run"
    result = run_script(
        "train.py",
        "--epochs",
        "1",
        "--workdir",
        str(workdir),
        "--data-dir",
        str(data_dir),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.returncode == 0, result.stderr
    lines = [x for x in result.stdout.splitlines() if x.startswith("Epoch [0/1]")]
    assert len(lines) == 10 and lines[-1].startswith("Epoch [0/1] Batch 900/938")
    d_loss = float(lines[-1].split("Loss D: ")[1].split(",")[0])
    assert 0.05 < d_loss < 2.5  # training, not diverged
    result = run_script("sample.py", "--workdir", str(workdir))
    assert result.returncode == 0, result.stderr
    assert (workdir / "samples.png").exists()
