"""sample.py: grids, interpolations, exports; the digits of conditional models, the codes of
InfoGAN models and the dcgan pair, each trained, sampled and scored."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import classifier, cli
from jaxgan.cli import sample as sample_tool
from jaxgan.cli import train as train_tool
from jaxgan.errors import ConfigError
from jaxgan.evaluation import Evaluator, classification_accuracy_score, member_samples
from jaxgan.images import to_uint8
from jaxgan.metrics import code_purity
from jaxgan.sampling import restore_path

from conftest import (
    TINY_FLAGS,
    fns,
    train_cli,
    train_tiny,
)


@pytest.fixture(scope="module")
def evaluator():
    params = classifier.Classifier().init(jax.random.key(0), jnp.zeros((1, 784)))["params"]
    pixels = np.random.default_rng(0).integers(0, 256, (100, 784), dtype=np.uint8)
    return Evaluator.from_real_images(params, pixels)


def sample(workdir, *flags: str) -> int:
    return cli.execute(sample_tool.main, ["--workdir", str(workdir), *flags])


def predicted_digits(evaluator: Evaluator, images: np.ndarray) -> np.ndarray:
    _, logits = classifier.batched(
        evaluator.params, np.asarray(images, np.float32).reshape(len(images), 784)
    )
    return logits.argmax(1)


@pytest.mark.slow
def test_conditional_run_samples_asked_digits_and_scores_them(
    idx_mnist, tmp_path, capsys, evaluator
):
    workdir, npz = tmp_path / "run", tmp_path / "s.npz"
    train_cli(workdir, idx_mnist, "--conditional")
    assert sample(workdir, "--digit", "7", "--grid", "2x5", "--export", str(npz)) == 0
    exported = np.load(npz)
    assert exported["images"].shape == (10, 28, 28) and (exported["labels"] == 7).all()
    assert sample(workdir, "--grid", "10x4", "--export", str(npz)) == 0
    assert np.load(npz)["labels"].reshape(10, 4)[:, 0].tolist() == list(range(10))

    state, meta = restore_path(workdir)
    gan = fns(meta.config)
    scores = evaluator.score_generator(gan, state, n=100)
    images, labels, _ = next(member_samples(gan, state, 100, seed=0))
    assert scores["conditional_accuracy"] == np.mean(predicted_digits(evaluator, images) == labels)
    test_pixels, test_labels = (
        np.random.default_rng(1).integers(0, 256, (50, 784), np.uint8),
        np.arange(50) % 10,
    )
    cas = classification_accuracy_score(gan, state, test_pixels, test_labels, n=200)
    generated, labels, _ = next(member_samples(gan, state, 200, seed=0))
    trained = classifier.train(to_uint8(generated.reshape(200, -1)), labels, seed=0)
    assert cas == classifier.accuracy(trained, test_pixels, test_labels)

    plain = tmp_path / "plain"
    train_cli(plain, idx_mnist)
    capsys.readouterr()
    assert sample(plain, "--digit", "3") == 2
    assert "needs a conditional model" in capsys.readouterr().err


@pytest.mark.slow
def test_dcgan_run_trains_samples_and_refuses_an_mlp_resume(idx_mnist, tmp_path, capsys):
    workdir, npz = tmp_path / "run", tmp_path / "s.npz"
    train_cli(
        workdir,
        idx_mnist,
        "--arch",
        "dcgan",
        "--channels",
        "4",
        "--d-dropout",
        "0.2",
        "--d-lr",
        "4e-4",
    )
    saved = (workdir / "config.json").read_text()
    assert '"arch": "dcgan"' in saved and '"d_dropout": 0.2' in saved and '"d_lr": 0.0004' in saved
    assert sample(workdir, "--n", "6", "--export", str(npz)) == 0
    assert np.load(npz)["images"].shape == (6, 28, 28)
    capsys.readouterr()
    argv = [
        *TINY_FLAGS,
        "--epochs",
        "2",
        "--workdir",
        str(workdir),
        "--data-dir",
        idx_mnist,
        "--resume",
        "--arch",
        "mlp",
    ]
    assert cli.execute(train_tool.main, argv) == 2
    assert "this run was trained --arch dcgan; you passed --arch mlp" in capsys.readouterr().err


@pytest.mark.slow
def test_infogan_run_samples_by_code_and_scores_the_codes(idx_mnist, tmp_path, capsys, evaluator):
    workdir, npz = tmp_path / "run", tmp_path / "s.npz"
    train_cli(workdir, idx_mnist, "--codes", "4", "--latent-dim", "6", "--depth", "2")
    assert sample(workdir, "--grid", "8x3", "--export", str(npz)) == 0
    assert np.load(npz)["codes"].reshape(8, 3)[:, 0].tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert sample(workdir, "--code", "2", "--n", "5", "--export", str(npz)) == 0
    assert np.load(npz)["codes"].tolist() == [2] * 5
    assert sample(workdir, "--interpolate", "--grid", "2x3", "--export", str(npz)) == 0
    assert np.load(npz)["codes"].tolist() == [0, 0, 0, 1, 1, 1]
    capsys.readouterr()
    assert sample(workdir, "--code", "4") == 2
    assert "--code must be in 0 .. 3" in capsys.readouterr().err

    state, meta = restore_path(workdir)
    gan = fns(meta.config)
    scores = evaluator.score_generator(gan, state, n=200)
    images, _, codes = next(member_samples(gan, state, 200, seed=0))
    expected = code_purity(codes, predicted_digits(evaluator, images), 4)
    assert (
        scores["code_purity"] == expected["code_purity"]
        and scores["code_digits"] == expected["code_digits"]
    )


@pytest.mark.slow
def test_sample_tool_grids_interpolations_and_exports(idx_mnist, tmp_path, capsys):
    train_tiny(tmp_path / "run", idx_mnist, epochs=2)
    sample = sample_tool
    out, npz = tmp_path / "g.png", tmp_path / "x.npz"
    ckpt = str(tmp_path / "run" / "checkpoints" / "1")
    assert (
        cli.execute(
            sample.main,
            [
                "--checkpoint",
                ckpt,
                "--grid",
                "3x5",
                "--out",
                str(out),
                "--export",
                str(npz),
                "--uint8",
            ],
        )
        == 0
    )
    images = np.load(npz)["images"]
    assert images.shape == (15, 28, 28) and images.dtype == np.uint8 and out.exists()
    assert (
        cli.execute(
            sample.main,
            [
                "--workdir",
                str(tmp_path / "run"),
                "--grid",
                "2x6",
                "--interpolate",
                "--out",
                str(out),
                "--export",
                str(npz),
            ],
        )
        == 0
    )
    walk = np.load(npz)["images"]
    assert walk.shape == (12, 28, 28)
    # Interpolation is smooth: neighbours in a row differ less than the row's two ends.
    step = np.abs(walk[1] - walk[0]).mean()
    assert step < np.abs(walk[5] - walk[0]).mean()
    with pytest.raises(SystemExit) as e:
        sample.main(["--workdir", str(tmp_path / "run"), "--grid", "0x4"])
    assert e.value.code == 2
    assert (
        cli.execute(
            sample.main, ["--workdir", str(tmp_path / "run"), "--out", str(tmp_path / "x.jpg")]
        )
        == 2
    )


def test_grid_shapes_and_output_paths_are_checked_before_anything_is_loaded(tmp_path):
    import argparse

    assert sample_tool.grid_shape("4X16") == (4, 16)
    for text in ("8", "0x8", "axb"):
        with pytest.raises(argparse.ArgumentTypeError):
            sample_tool.grid_shape(text)
    for out, export, message in [
        ("grid.jpg", None, "--out must be a .png file"),
        (None, "samples.npy", "--export must be an .npz file"),
        (str(tmp_path / "none" / "grid.png"), None, "is not a directory"),
    ]:
        with pytest.raises(ConfigError, match=message):
            sample_tool.check_outputs(argparse.Namespace(out=out, export=export))
