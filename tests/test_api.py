"""The public API (`import jaxgan`): what a notebook types, checked as a notebook would use it."""

from __future__ import annotations

import hashlib
import logging.handlers
import shutil
import subprocess
import sys

import numpy as np
import pytest

import jaxgan
from jaxgan import classifier

from conftest import ROOT, TINY, assert_trees_equal


def uint8_images(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def tiny(**changes) -> jaxgan.Config:
    return TINY.replace(sample_every=100, **changes)


def test_import_is_light_and_every_public_name_resolves():
    code = "import sys, jaxgan; assert 'jax' not in sys.modules; print(len(jaxgan.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert int(out.stdout) == len(jaxgan.__all__)
    for name in jaxgan.__all__:
        assert getattr(jaxgan, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'train_and_evaluate'"):
        jaxgan.train_and_evaluate  # noqa: B018 (internal: not part of the face)


def test_a_config_is_validated_when_built_naming_the_python_argument():
    with pytest.raises(jaxgan.ConfigError, match=r"^lr must be a finite number > 0, got -1$"):
        jaxgan.Config(lr=-1)
    with pytest.raises(jaxgan.ConfigError, match="^codes must be 0"):
        jaxgan.Config().replace(codes=1)
    assert jaxgan.Config(epochs=3).epochs == 3


def test_train_returns_state_metrics_and_workdir_and_is_quiet_without_progress(idx_mnist, tmp_path, capsys):
    own = logging.handlers.BufferingHandler(100)  # a notebook's own handler on a library's logger
    logging.getLogger("jax").addHandler(own)
    result = jaxgan.train(tiny(epochs=2), tmp_path / "run", data_dir=idx_mnist, progress=False)
    logging.getLogger("jax").warning("the notebook's own record")
    assert own in logging.getLogger("jax").handlers and own.buffer[-1].getMessage() == "the notebook's own record"
    logging.getLogger("jax").removeHandler(own)
    out, err = capsys.readouterr()
    assert "Batch" not in out + err
    assert result.workdir == tmp_path / "run" and result.members is None
    assert [m["epoch"] for m in result.metrics] == [1, 2]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "step", "seconds"} <= set(result.metrics[0])
    assert isinstance(result.state, jaxgan.GANState) and int(result.state.step) == 6
    jaxgan.train(tiny(epochs=1), tmp_path / "loud", data_dir=idx_mnist)
    assert "Epoch [0/1] Batch 0/3" in capsys.readouterr().out  # the reference's lines by default
    for run in ("run", "loud"):  # the record belongs to no run
        assert "the notebook's own record" not in (tmp_path / run / "debug.log").read_text()
    with pytest.raises(jaxgan.TrainingError, match="pass resume=True to continue it, overwrite=True") as e:
        jaxgan.train(tiny(epochs=2), tmp_path / "run", data_dir=idx_mnist, progress=False)
    assert "--" not in str(e.value)


def test_load_samples_with_an_own_seed_and_matches_the_run(idx_mnist, tmp_path, capfd):
    result = jaxgan.train(tiny(epochs=2), tmp_path / "run", data_dir=idx_mnist, progress=False)
    capfd.readouterr()
    for path in (tmp_path / "run", tmp_path / "run" / "checkpoints" / "2"):
        model = jaxgan.load(path)
        assert_trees_equal(model.state, result.state)
        assert model.record.epoch == 2 and model.record.step == 6 and model.config == tiny(epochs=2)
    assert "WARNING" not in "".join(capfd.readouterr())  # Orbax's absl lines go to the debug log
    assert model.metrics == result.metrics
    images = model.sample(10, seed=3)
    assert images.shape == (10, 28, 28) and images.dtype == np.float32
    assert -1 <= images.min() and images.max() <= 1
    np.testing.assert_array_equal(images, model.sample(10, seed=3))
    assert not np.array_equal(images, model.sample(10, seed=4))
    for bad, message in [({"digit": 3}, "not conditional"), ({"code": 0}, "no InfoGAN code")]:
        with pytest.raises(jaxgan.ConfigError, match=message):
            model.sample(4, **bad)
    with pytest.raises(jaxgan.ConfigError, match="n must be a positive integer"):
        model.sample(0)
    with pytest.raises(jaxgan.ConfigError, match=r"^n=1,000,000,000,000 samples would take [\d,.]+ GiB of memory"):
        model.sample(10**12)  # refused from arithmetic: nothing is generated
    for seed in (-1, 2**32, 1.5, None, "3"):
        with pytest.raises(jaxgan.ConfigError, match=r"^seed must be an integer in 0 \.\. 4294967295, got"):
            model.sample(4, seed=seed)
    for path, message in [(5, "path must be a path"), ("", "path must be a path"),
                          (tmp_path / "run" / "checkpoints" / "2" / "state", "no checkpoints in")]:
        with pytest.raises((jaxgan.ConfigError, jaxgan.CheckpointError), match=message):
            jaxgan.load(path)


@pytest.mark.parametrize("arguments, message", [
    ({"seeds": -1}, "^seeds must be a positive integer, got -1$"),
    ({"seeds": 0}, "^seeds must be a positive integer, got 0$"),
    ({"seeds": 1.5}, "^seeds must be a positive integer, got 1.5$"),
    ({"seeds": "2"}, "^seeds must be a positive integer, got '2'$"),
    ({"seeds": True}, "^seeds must be a positive integer, got True$"),
    ({"sweep": {"lr": (v for v in [1e-3])}}, "^sweep lr: a non-empty list of values, got <generator"),
    ({"sweep": {"lr": [[1e-3]]}}, r"^sweep lr: values are numbers, strings or booleans, got \[0.001\]$"),
    ({"sweep": {"lr": [{"a": 1}]}}, "^sweep lr: values are numbers, strings or booleans"),
    ({"sweep": {"hidden_dim": [8, 16]}}, "^sweep hidden_dim: hidden_dim changes the model's arrays"),
    ({"resume": True, "overwrite": True}, "^resume=True and overwrite=True exclude each other"),
    ({"config": {"epochs": 1}}, "^config must be a Config, got dict"),
    ({"config": tiny(eval_every=1, eval_samples=10**9)}, r"^eval_samples=1000000000 would take [\d,.]+ GiB"),
    ({"workdir": 5}, r"^workdir must be a path \(a str or pathlib.Path, not empty\), got 5$"),
    ({"workdir": ""}, "^workdir must be a path"),
])
def test_python_arguments_are_checked_before_the_workdir_is_touched(arguments, message, idx_mnist, tmp_path):
    arguments = {"config": tiny(), "workdir": tmp_path / "run", "data_dir": idx_mnist, **arguments}
    with pytest.raises(jaxgan.ConfigError, match=message):
        jaxgan.train(**arguments)
    assert not (tmp_path / "run").exists() and not list(ROOT.glob("checkpoints"))


def test_a_conditional_model_needs_digits_in_range(idx_mnist, tmp_path):
    jaxgan.train(tiny(conditional=True), tmp_path / "run", data_dir=idx_mnist, progress=False)
    model = jaxgan.load(tmp_path / "run")
    with pytest.raises(jaxgan.ConfigError, match="this model is conditional; pass digit"):
        model.sample(4)
    for digit in (12, -1, [1, 2]):
        with pytest.raises(jaxgan.ConfigError, match="digit must be"):
            model.sample(4, digit=digit)
    assert model.sample(4, digit=7).shape == model.sample(4, digit=[0, 1, 2, 3]).shape == (4, 28, 28)


def test_a_population_from_python_returns_each_member(idx_mnist, tmp_path):
    result = jaxgan.train(tiny(epochs=2), tmp_path / "pop", seeds=2, sweep={"lr": [1e-4, 1e-3]},
                          data_dir=idx_mnist, progress=False)
    assert [(m.id, m.seed, m.values) for m in result.members] == [
        ("0", 0, {"lr": 1e-4}), ("1", 1, {"lr": 1e-4}), ("2", 0, {"lr": 1e-3}), ("3", 1, {"lr": 1e-3})]
    for member in result.members:
        assert [r["epoch"] for r in member.metrics] == [1, 2] and member.failed is None
        assert_trees_equal(member.state, jaxgan.load(tmp_path / "pop" / "members" / member.id).state)
    assert result.metrics[0]["d_loss"] == pytest.approx(np.mean([m.metrics[0]["d_loss"] for m in result.members]))
    # Each member's state carries its own numbers, and the stacked state all of them.
    np.testing.assert_array_equal(result.state.hyperparameters()["lr"], np.float32([1e-4, 1e-4, 1e-3, 1e-3]))
    assert [float(m.state.hyperparameters()["lr"]) for m in result.members] == [np.float32(1e-4)] * 2 + [
        np.float32(1e-3)] * 2
    from jaxgan.population import Population

    spec = Population(tiny(epochs=2), 2, (("lr", (1e-4, 1e-3)),))
    gan = jaxgan.make_train(tiny(epochs=2))
    rows = jaxgan.Evaluator.standard().score_members(gan, result.state, 300, 0, spec)
    assert [(r["member"], r["values"]) for r in rows][1] == ("1", {"seed": 1, "lr": 1e-4})
    single = jaxgan.Evaluator.standard().score_generator(gan, result.members[1].state, 300, 0)
    assert rows[1]["fid"] == pytest.approx(single["fid"], rel=1e-4)
    with pytest.raises(jaxgan.ConfigError, match=r"sweep lr: a value is repeated"):
        jaxgan.train(tiny(), tmp_path / "x", sweep={"lr": [1e-3, 1e-3]}, data_dir=idx_mnist)
    with pytest.raises(jaxgan.ConfigError, match="sweep: no option learning_rate"):
        jaxgan.train(tiny(), tmp_path / "x", sweep={"learning_rate": [1e-3]}, data_dir=idx_mnist)


def test_evaluate_reads_every_pixel_range_alike_and_refuses_what_it_cannot_score():
    pixels = uint8_images(300)
    scores = jaxgan.evaluate(pixels)
    assert set(scores) >= {"fid", "classifier_score", "classes_covered", "histogram", "num_samples"}
    for same in (pixels.astype(np.float32) / 127.5 - 1, pixels / 255.0, pixels.reshape(300, 784)):
        assert jaxgan.evaluate(same)["fid"] == pytest.approx(scores["fid"], rel=1e-6)
    assert jaxgan.evaluate(pixels, n=256)["num_samples"] == 256
    labels = np.arange(300) % 10
    assert 0 <= jaxgan.evaluate(pixels, labels=labels)["conditional_accuracy"] <= 1
    assert jaxgan.evaluate(pixels, labels=3, n=100)["num_samples"] == 100  # one digit for every image
    nan = pixels.astype(np.float32) / 255
    nan[0, 0, 0] = np.nan
    for images, kwargs, message in [
        (nan, {}, "images: 1 pixels are NaN"), (pixels[:1], {}, "1 image"), (np.zeros((5, 30, 30)), {}, "shape"),
        (pixels, {"labels": labels + 3}, "labels must be in 0 .. 9"), (pixels, {"labels": labels[:5]}, "300"),
        (pixels, {"n": 1}, "n must be an integer >= 2"),
        (pixels.reshape(300, 56, 14), {}, r"shape \(300, 56, 14\); expected \(N, 28, 28\), \(N, 784\)"),
        (pixels.reshape(300, 784, 1), {}, r"shape \(300, 784, 1\)"), (pixels.reshape(300, 7, 4, 28), {}, "shape"),
        ([pixels[0], pixels[0, :27]], {}, "not an array of images of one shape"),
        (np.broadcast_to(pixels[:1], (10**9, 28, 28)), {}, r"1,000,000,000 images would take [\d,.]+ GiB"),
    ]:
        with pytest.raises(jaxgan.EvaluationError, match=message):
            jaxgan.evaluate(images, **kwargs)


def test_the_shipped_classifier_is_verified_before_use(tmp_path, monkeypatch):
    for name, digest in classifier.SHIPPED_SHA256.items():
        assert hashlib.sha256((classifier.SHIPPED / name).read_bytes()).hexdigest() == digest
    shutil.copytree(classifier.SHIPPED, tmp_path / "weights")
    raw = bytearray((tmp_path / "weights" / "mnist_classifier.npz").read_bytes())
    raw[len(raw) // 2] ^= 1
    (tmp_path / "weights" / "mnist_classifier.npz").write_bytes(bytes(raw))
    monkeypatch.setattr(classifier, "SHIPPED", tmp_path / "weights")
    classifier.shipped.cache_clear()
    try:
        with pytest.raises(jaxgan.EvaluationError, match="does not match its sha256; reinstall jaxgan"):
            jaxgan.evaluate(uint8_images(300))
        with pytest.raises(jaxgan.EvaluationError, match="does not match its sha256"):
            jaxgan.train(tiny(eval_every=1), tmp_path / "run")  # before the workdir or the data
        assert not (tmp_path / "run").exists()
    finally:
        classifier.shipped.cache_clear()


def test_plot_grid_returns_a_figure_and_writes_only_when_asked(tmp_path):
    images = uint8_images(16).astype(np.float32) / 127.5 - 1
    figure = jaxgan.plot_grid(images, 4, 4)
    assert len(figure.axes) == 16 and not list(tmp_path.iterdir())
    jaxgan.plot_grid(images, 4, 4, out=tmp_path / "grid.png")
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    for args, kwargs, message in [
        ((images * 127.5 + 127.5, 4, 4), {}, r"pixel values span \[0, 255\]; expected \[-1, 1\], \[0, 1\]"),
        ((images, 0, 4), {}, "^rows must be a positive integer, got 0$"),
        ((images, 4, "4"), {}, "^cols must be a positive integer, got '4'$"),
        ((images[:0], 4, 4), {}, "images"),
        ((images, 4, 4), {"out": tmp_path / "grid.xyz"}, "^out: matplotlib writes no 'xyz' files; use one of"),
        ((images, 4, 4), {"out": tmp_path}, "^out: .* is a folder; name the image file"),
    ]:
        with pytest.raises(jaxgan.ConfigError, match=message):
            jaxgan.plot_grid(*args, **kwargs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]


def test_a_resumed_run_trains_on_with_the_numbers_asked(idx_mnist, tmp_path):
    jaxgan.train(tiny(epochs=1, lr=1e-4, beta1=0.5), tmp_path / "run", data_dir=idx_mnist, progress=False)
    resumed = jaxgan.train(tiny(epochs=2, lr=1e-3, beta1=0.5), tmp_path / "run", data_dir=idx_mnist,
                           progress=False, resume=True)
    numbers = resumed.state.hyperparameters()
    assert (float(numbers["lr"]), float(numbers["beta1"])) == (np.float32(1e-3), np.float32(0.5))
    assert float(jaxgan.load(tmp_path / "run").state.hyperparameters()["lr"]) == np.float32(1e-3)
