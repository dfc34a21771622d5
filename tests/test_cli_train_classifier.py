"""jaxgan-train-classifier: MNIST's networks trained, cached and exported by their recipes; what
another dataset's reference cannot be built from (the digits' and fashion_mnist's references are
built in test_cli_train.py's runs on that data)."""

from __future__ import annotations

import hashlib

import pytest

from jaxgan import classifier, cli, encoder
from jaxgan.cli import train_classifier

from conftest import assert_one_line_error, make_idx_dir, run_tool


@pytest.mark.slow
def test_train_classifier_trains_caches_and_exports_with_the_recipe(idx_mnist, tmp_path, capsys):
    argv = ["--data-dir", idx_mnist, "--cache-dir", str(tmp_path / "cache")]
    assert cli.execute(train_classifier.main, argv) == 2  # 96 images: not one batch of the recipe
    assert (
        "recipe trains on batches of 128: 96 training images are too few" in capsys.readouterr().err
    )
    make_idx_dir(tmp_path / "idx", 300)
    argv = [
        "--data-dir",
        str(tmp_path / "idx"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--export",
        str(tmp_path / "out"),
    ]
    assert cli.execute(train_classifier.main, argv) == 0
    out = capsys.readouterr().out
    assert "evaluation classifier: test accuracy" in out
    shipped = {**classifier.CLASSIFIER.shipped, **encoder.ENCODER.shipped}
    assert len(shipped) == 4
    for name in shipped:  # another dataset: other weights than the shipped ones
        digest = hashlib.sha256((tmp_path / "out" / name).read_bytes()).hexdigest()
        assert f"{name}: sha256 {digest} (differs from the shipped file)" in out
    cached = sorted((tmp_path / "cache" / "classifier").iterdir())
    assert (
        cli.execute(train_classifier.main, argv) == 0
    )  # the second run reads the cache: same files
    assert sorted((tmp_path / "cache" / "classifier").iterdir()) == cached
    assert "training the evaluation classifier" not in capsys.readouterr().err


def test_train_classifier_refuses_what_a_reference_cannot_be_built_from(tmp_path, capsys):
    npz = str(tmp_path / "mine.npz")
    cache = ["--cache-dir", str(tmp_path / "cache")]
    for argv, message in [
        (["--data", npz, "--export", str(tmp_path / "out"), *cache], "--export writes MNIST's"),
        (["--data", npz, "--no-cache"], "a reference is kept in the cache: pass --cache-dir"),
        (["--data", npz, *cache], f"--data {npz}: no such file"),
        (["--data", npz, "--dataset", "cifar10"], "not allowed with argument"),
    ]:
        assert_one_line_error(run_tool(capsys, "train_classifier", *argv), message)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()
