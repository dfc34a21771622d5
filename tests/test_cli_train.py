"""train.py: the config from flags, a preset or the checkpoint on --resume, and what --resume refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxgan import cli, references
from jaxgan.cli import train as train_tool
from jaxgan.runlog import MetricsLog

from conftest import TINY_FLAGS, assert_one_line_error, digits, run_tool


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_resume_reads_the_config_from_the_checkpoint(idx_mnist, tmp_path, damage):
    workdir = tmp_path / "run"
    flags = [*TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(workdir)]
    train_script = train_tool
    assert (
        cli.execute(train_script.main, flags + ["--epochs", "1", "--loss", "hinge", "--lr", "1e-3"])
        == 0
    )
    config_json = workdir / "config.json"
    config_json.unlink() if damage == "delete" else config_json.write_text('{"loss": "hin')
    assert cli.execute(train_script.main, flags + ["--epochs", "2", "--resume"]) == 0
    saved = json.loads(config_json.read_text())
    assert (saved["loss"], saved["lr"], saved["epochs"]) == ("hinge", 1e-3, 2)


def test_resume_with_a_structure_change_is_one_line_naming_the_field(idx_mnist, tmp_path, capsys):
    flags = TINY_FLAGS + [
        "--epochs",
        "1",
        "--workdir",
        str(tmp_path / "run"),
        "--data-dir",
        idx_mnist,
        "--no-tensorboard",
    ]
    assert cli.execute(train_tool.main, flags) == 0
    before = sorted((tmp_path / "run").rglob("*"))
    for passed, message in [
        (["--ema-decay", "0.999"], "trained --ema-decay 0.0; you passed --ema-decay 0.999"),
        (["--codes", "4"], "trained --codes 0; you passed --codes 4"),
        (["--conditional"], "trained without --conditional; you passed with --conditional"),
        (["--hidden-dim", "32"], "trained --hidden-dim 16; you passed --hidden-dim 32"),
    ]:
        capsys.readouterr()
        assert cli.execute(train_tool.main, [*flags, "--resume", "--epochs", "2", *passed]) == 2
        (line,) = [x for x in capsys.readouterr().err.splitlines() if "ALLOW_PARTIAL" not in x]
        assert message in line and "changes the model's arrays" in line, line
        assert sorted((tmp_path / "run").rglob("*")) == before


@pytest.mark.slow
def test_the_8x8_digits_train_from_an_npz_sample_and_are_scored_by_their_own_reference(
    tmp_path, capsys, monkeypatch
):
    images, labels = digits()
    np.savez(tmp_path / "digits.npz", images=images, labels=labels)
    workdir = str(tmp_path / "run")
    flags = [*TINY_FLAGS, "--workdir", workdir, "--conditional", "--no-tensorboard"]
    result = run_tool(capsys, "train", *flags, "--data", str(tmp_path / "digits.npz"))
    assert result.returncode == 0, result.stderr
    assert "1797 examples, 57 steps/epoch" in result.stderr
    assert (tmp_path / "run" / "images" / "0.png").is_file()
    exported = str(tmp_path / "sevens.npz")
    result = run_tool(capsys, "sample", "--workdir", workdir, "--digit", "7", "--export", exported)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "samples.png").is_file()
    assert_one_line_error(  # exported samples carry their data's name: never MNIST-scored
        run_tool(capsys, "evaluate", "--samples", exported),
        "samples of a model trained on array:",
        "evaluate the run (--workdir) against its own reference",
    )
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert_one_line_error(
        run_tool(capsys, "evaluate", "--workdir", workdir, *cache),
        "no evaluation reference for array:",
        "build one with jaxgan-train-classifier --data FILE.npz",
    )
    monkeypatch.setattr(references, "MIN_STEPS", 0)  # the recipes' epochs: a shorter suite
    result = run_tool(capsys, "train_classifier", "--data", str(tmp_path / "digits.npz"), *cache)
    assert result.returncode == 0, result.stderr
    assert "evaluation reference for array:" in result.stdout
    assert "299 real images held out" in result.stdout
    result = run_tool(capsys, "evaluate", "--workdir", workdir, *cache, "--n", "300")
    assert result.returncode == 0, result.stderr
    assert ": FID " in result.stdout and "classes covered" in result.stdout
    assert "/10, " in result.stdout and "conditional accuracy" in result.stdout
    assert "MNIST-FID" not in result.stdout
    npz = ["--data", str(tmp_path / "digits.npz"), "--epochs", "101", "--resume", *cache]
    cached = [f for f in flags if f != "--no-cache"]  # the reference is in the cache
    result = run_tool(capsys, "train", *cached, *npz, "--eval-every", "1", "--eval-samples", "300")
    assert result.returncode == 0, result.stderr
    assert "Epoch [100/101] FID " in result.stdout and "(300 samples)" in result.stdout
    assert "classes covered " in result.stdout and "MNIST-FID" not in result.stdout
    row = [r for r in MetricsLog(tmp_path / "run").read() if r["kind"] == "eval"][-1]
    assert row["epoch"] == 101 and row["num_samples"] == 300 and len(row["histogram"]) == 10
    assert_one_line_error(
        run_tool(capsys, "train", *flags, "--epochs", "2", "--resume"),
        "given as arrays",
        "--data",
    )
    np.savez(tmp_path / "rgb.npz", images=np.zeros((64, 8, 8, 3), np.uint8), labels=labels[:64])
    assert_one_line_error(
        run_tool(capsys, "train", *flags, "--resume", "--data", str(tmp_path / "rgb.npz")),
        "cannot resume on other data",
        "(8x8x1, 10 classes), not on",
        "(8x8x3, 10 classes)",
    )
    assert_one_line_error(
        run_tool(capsys, "train", *flags, "--data", "x.npz", "--dataset", "cifar10"),
        "--data and --dataset exclude each other",
    )


@pytest.mark.slow
def test_tfds_image_datasets_train_and_are_scored_by_name(tmp_path, capsys, monkeypatch):
    """TFDS's mock data of each (random images of the dataset's own shape and classes)."""
    import tensorflow_datasets as tfds

    (tmp_path / "tfds").mkdir()
    for name, shape in [("fashion_mnist", [28, 28, 1]), ("cifar10", [32, 32, 3])]:
        workdir = tmp_path / name
        with tfds.testing.mock_data(num_examples=64, data_dir=str(tmp_path / "tfds")):
            result = run_tool(
                capsys,
                "train",
                *TINY_FLAGS,
                "--no-tensorboard",
                "--dataset",
                name,
                "--conditional",
                "--workdir",
                str(workdir),
                "--data-dir",
                str(tmp_path / "tfds"),
            )
        assert result.returncode == 0, result.stderr
        saved = json.loads((workdir / "config.json").read_text())
        assert (saved["dataset"], saved["image_shape"], saved["num_classes"]) == (name, shape, 10)
        assert (workdir / "images" / "0.png").is_file()
    monkeypatch.setattr(references, "MIN_STEPS", 0)  # the recipes' epochs: a shorter suite
    cache = ["--cache-dir", str(tmp_path / "cache")]
    with tfds.testing.mock_data(num_examples=200, data_dir=str(tmp_path / "tfds")):
        result = run_tool(
            capsys,
            "train_classifier",
            "--dataset",
            "fashion_mnist",
            "--data-dir",
            str(tmp_path / "tfds"),
            *cache,
        )
    assert result.returncode == 0, result.stderr
    assert "evaluation reference for fashion_mnist" in result.stdout
    assert "200 real images held out" in result.stdout
    fashion = ["--workdir", str(tmp_path / "fashion_mnist"), *cache, "--n", "300", "--json"]
    result = run_tool(capsys, "evaluate", *fashion)
    assert result.returncode == 0, result.stderr
    assert {"fid", "encoder_fid", "recall"} <= set(json.loads(result.stdout))
    assert_one_line_error(
        run_tool(capsys, "evaluate", "--workdir", str(tmp_path / "cifar10"), *cache),
        "no evaluation reference for cifar10",
        "jaxgan-train-classifier --dataset cifar10",
    )
