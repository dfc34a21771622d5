"""The command-line tools on the variants: conditional, DCGAN and InfoGAN runs trained, sampled,
scored, and refused when resumed as another model."""

import importlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import classifier, cli
from jaxgan.cli import sample as sample_tool
from jaxgan.cli import train as train_tool
from jaxgan.config import Config
from jaxgan.evaluation import Evaluator, classification_accuracy_score, code_purity, member_samples
from jaxgan.images import to_uint8
from jaxgan.sampling import restore_path

from conftest import ROOT, TINY_FLAGS, fns


@pytest.fixture(scope="module")
def evaluator():
    params = classifier.Classifier().init(jax.random.key(0), jnp.zeros((1, 784)))["params"]
    pixels = np.random.default_rng(0).integers(0, 256, (100, 784), dtype=np.uint8)
    return Evaluator.from_real_images(params, pixels)


def train(workdir, data_dir, *flags: str) -> None:
    argv = [*TINY_FLAGS, "--epochs", "1", "--workdir", str(workdir), "--data-dir", data_dir,
            "--no-tensorboard", *flags]
    assert cli.execute(train_tool.main, argv) == 0


def sample(workdir, *flags: str) -> int:
    return cli.execute(sample_tool.main, ["--workdir", str(workdir), *flags])


def predicted_digits(evaluator: Evaluator, images: np.ndarray) -> np.ndarray:
    _, logits = classifier.batched(evaluator.params, np.asarray(images, np.float32).reshape(len(images), 784))
    return logits.argmax(1)


def test_conditional_run_samples_asked_digits_and_scores_them(idx_mnist, tmp_path, capsys, evaluator):
    workdir, npz = tmp_path / "run", tmp_path / "s.npz"
    train(workdir, idx_mnist, "--conditional")
    assert sample(workdir, "--digit", "7", "--grid", "2x5", "--export", str(npz)) == 0
    exported = np.load(npz)
    assert exported["images"].shape == (10, 28, 28) and (exported["labels"] == 7).all()
    assert sample(workdir, "--grid", "10x4", "--export", str(npz)) == 0
    assert np.load(npz)["labels"].reshape(10, 4)[:, 0].tolist() == list(range(10))

    state, meta = restore_path(workdir)
    gan = fns(Config.from_json(meta["config"]))
    scores = evaluator.score_generator(gan, state, n=100)
    images, labels, _ = next(member_samples(gan, state, 100, seed=0))
    assert scores["conditional_accuracy"] == np.mean(predicted_digits(evaluator, images) == labels)
    test_pixels, test_labels = np.random.default_rng(1).integers(0, 256, (50, 784), np.uint8), np.arange(50) % 10
    cas = classification_accuracy_score(gan, state, test_pixels, test_labels, n=200)
    generated, labels, _ = next(member_samples(gan, state, 200, seed=0))
    trained = classifier.train(to_uint8(generated.reshape(200, -1)), labels, seed=0)
    assert cas == classifier.accuracy(trained, test_pixels, test_labels)

    plain = tmp_path / "plain"
    train(plain, idx_mnist)
    capsys.readouterr()
    assert sample(plain, "--digit", "3") == 2
    assert "needs a conditional model" in capsys.readouterr().err


def test_dcgan_run_trains_samples_and_refuses_an_mlp_resume(idx_mnist, tmp_path, capsys):
    workdir, npz = tmp_path / "run", tmp_path / "s.npz"
    train(workdir, idx_mnist, "--arch", "dcgan", "--channels", "4", "--d-dropout", "0.2", "--d-lr", "4e-4")
    saved = (workdir / "config.json").read_text()
    assert '"arch": "dcgan"' in saved and '"d_dropout": 0.2' in saved and '"d_lr": 0.0004' in saved
    assert sample(workdir, "--n", "6", "--export", str(npz)) == 0
    assert np.load(npz)["images"].shape == (6, 28, 28)
    capsys.readouterr()
    argv = [*TINY_FLAGS, "--epochs", "2", "--workdir", str(workdir), "--data-dir", idx_mnist, "--resume",
            "--arch", "mlp"]
    assert cli.execute(train_tool.main, argv) == 2
    assert "this run was trained --arch dcgan; you passed --arch mlp" in capsys.readouterr().err


def test_infogan_run_samples_by_code_and_scores_the_codes(idx_mnist, tmp_path, capsys, evaluator):
    workdir, npz = tmp_path / "run", tmp_path / "s.npz"
    train(workdir, idx_mnist, "--codes", "4", "--latent-dim", "6", "--depth", "2")
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
    gan = fns(Config.from_json(meta["config"]))
    scores = evaluator.score_generator(gan, state, n=200)
    images, _, codes = next(member_samples(gan, state, 200, seed=0))
    expected = code_purity(codes, predicted_digits(evaluator, images), 4)
    assert scores["code_purity"] == expected["code_purity"] and scores["code_digits"] == expected["code_digits"]


def test_code_purity_counts_each_codes_most_common_digit():
    scores = code_purity(np.array([0, 0, 0, 1, 1, 2]), np.array([3, 3, 5, 7, 7, 1]), num_codes=4)
    assert scores == {"code_purity": pytest.approx(5 / 6), "code_digits": [3, 7, 1, -1]}


def test_every_installed_command_and_script_is_a_tool_entry():
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.scripts]\n", 1)[1].split("\n\n", 1)[0]
    commands = dict(re.findall(r'^([\w-]+) = "([\w.:]+)"$', section, re.M))
    modules = set()
    for command, target in commands.items():
        module, function = target.split(":")
        assert command == "jaxgan-" + module.rsplit(".", 1)[1].replace("_", "-") and function == "entry"
        assert callable(importlib.import_module(module).entry)
        modules.add(module.rsplit(".", 1)[1])
    scripts = {p.stem for p in (ROOT / "scripts").glob("*.py")}
    assert scripts == modules and len(modules) == 5
    for name in scripts:
        assert f"from jaxgan.cli.{name} import entry" in (ROOT / "scripts" / f"{name}.py").read_text()
