"""jaxgan.train from Python: a run and a population with their metrics and states, quiet without
progress, resumed with the numbers asked."""

from __future__ import annotations

import logging.handlers

import matplotlib.image
import numpy as np
import pytest

import jaxgan
from jaxgan.data import from_arrays

from conftest import TINY, assert_trees_equal, digits, tiny


@pytest.mark.slow
def test_train_returns_state_metrics_and_workdir_and_is_quiet_without_progress(
    idx_mnist, tmp_path, capsys
):
    own = logging.handlers.BufferingHandler(100)  # a notebook's own handler on a library's logger
    logging.getLogger("jax").addHandler(own)
    result = jaxgan.train(tiny(epochs=2), tmp_path / "run", data_dir=idx_mnist, progress=False)
    logging.getLogger("jax").warning("the notebook's own record")
    assert (
        own in logging.getLogger("jax").handlers
        and own.buffer[-1].getMessage() == "the notebook's own record"
    )
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
    with pytest.raises(
        jaxgan.TrainingError, match="pass resume=True to continue it, overwrite=True"
    ) as e:
        jaxgan.train(tiny(epochs=2), tmp_path / "run", data_dir=idx_mnist, progress=False)
    assert "--" not in str(e.value)


@pytest.mark.slow
def test_a_population_from_python_returns_each_member(idx_mnist, tmp_path):
    result = jaxgan.train(
        tiny(epochs=2),
        tmp_path / "pop",
        seeds=2,
        sweep={"lr": [1e-4, 1e-3]},
        data_dir=idx_mnist,
        progress=False,
    )
    assert [(m.id, m.seed, m.values) for m in result.members] == [
        ("0", 0, {"lr": 1e-4}),
        ("1", 1, {"lr": 1e-4}),
        ("2", 0, {"lr": 1e-3}),
        ("3", 1, {"lr": 1e-3}),
    ]
    for member in result.members:
        assert [r["epoch"] for r in member.metrics] == [1, 2] and member.failed is None
        assert_trees_equal(
            member.state, jaxgan.load(tmp_path / "pop" / "members" / member.id).state
        )
    assert result.metrics[0]["d_loss"] == pytest.approx(
        np.mean([m.metrics[0]["d_loss"] for m in result.members])
    )
    # Each member's state carries its own numbers, and the stacked state all of them.
    np.testing.assert_array_equal(
        result.state.hyperparameters()["lr"], np.float32([1e-4, 1e-4, 1e-3, 1e-3])
    )
    assert [float(m.state.hyperparameters()["lr"]) for m in result.members] == [
        np.float32(1e-4)
    ] * 2 + [np.float32(1e-3)] * 2
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


@pytest.mark.slow
def test_a_resumed_run_trains_on_with_the_numbers_asked(idx_mnist, tmp_path):
    jaxgan.train(
        tiny(epochs=1, lr=1e-4, beta1=0.5), tmp_path / "run", data_dir=idx_mnist, progress=False
    )
    resumed = jaxgan.train(
        tiny(epochs=2, lr=1e-3, beta1=0.5),
        tmp_path / "run",
        data_dir=idx_mnist,
        progress=False,
        resume=True,
    )
    numbers = resumed.state.hyperparameters()
    assert (float(numbers["lr"]), float(numbers["beta1"])) == (np.float32(1e-3), np.float32(0.5))
    assert float(jaxgan.load(tmp_path / "run").state.hyperparameters()["lr"]) == np.float32(1e-3)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"seeds": 0}, "seeds must be a positive integer, got 0"),
        ({"sweep": ["lr"]}, "sweep must be a dict such as"),
        ({"sweep": {"lr": []}}, "sweep lr: a non-empty list of values"),
        ({"sweep": {"lr": [None]}}, "values are numbers, strings or booleans, got None"),
    ],
)
def test_a_population_asked_wrongly_is_refused_before_any_work(arguments, message, tmp_path):
    with pytest.raises(jaxgan.ConfigError, match=message):
        jaxgan.train(jaxgan.Config(), tmp_path / "run", **arguments)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_8x8_digits_train_sample_and_draw_from_python_and_resume_only_on_their_data(tmp_path):
    images, labels = digits()
    config = tiny(conditional=True, epochs=2)
    result = jaxgan.train(config, tmp_path / "run", data=(images, labels), progress=False)
    assert len(result.metrics) == 2 and np.isfinite(result.metrics[-1]["d_loss"])
    model = jaxgan.load(tmp_path / "run")
    assert (model.config.image_shape, model.config.num_classes) == ((8, 8, 1), 10)
    assert model.config.dataset == from_arrays(images, labels).name
    samples = model.sample(20, digit=np.arange(20) % 10)
    assert samples.shape == (20, 8, 8) and -1 <= samples.min() and samples.max() <= 1
    jaxgan.plot_grid(samples, 4, 5, out=tmp_path / "grid.png")
    assert (tmp_path / "grid.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(jaxgan.ConfigError, match="digit"):
        model.sample(2, digit=10)
    rgb = np.zeros((64, 32, 32, 3), np.uint8)
    with pytest.raises(
        jaxgan.TrainingError,
        match=r"cannot resume on other data: .*\(8x8x1, 10 classes\), not on .*\(32x32x3, 0 classes\)",
    ):
        jaxgan.train(config.replace(epochs=3), tmp_path / "run", data=rgb, resume=True)
    with pytest.raises(jaxgan.ConfigError, match="given as arrays .*pass the same data with data"):
        jaxgan.train(config.replace(epochs=3), tmp_path / "run", resume=True)
    again = jaxgan.train(
        config.replace(epochs=3), tmp_path / "run", data=(images, labels), resume=True
    )
    assert [m["epoch"] for m in again.metrics] == [1, 2, 3]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_colour_images_of_32x32_train_with_either_architecture(arch, tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    config = TINY.replace(arch=arch, channels=4)
    jaxgan.train(config, tmp_path / "run", data=rgb, progress=False)
    samples = jaxgan.load(tmp_path / "run").sample(3)
    assert samples.shape == (3, 32, 32, 3)
    grid = matplotlib.image.imread(tmp_path / "run" / "images" / "0.png")
    assert grid.shape[:2] == (8 * 34 + 2, 8 * 34 + 2) and grid.shape[2] in (3, 4)
    assert not np.allclose(grid[..., 0], grid[..., 1])  # colour, not grey


def test_data_the_model_cannot_take_is_refused_before_the_workdir(tmp_path):
    images, labels = digits()
    odd = np.zeros((64, 10, 10), np.uint8)
    with pytest.raises(jaxgan.ConfigError, match="dcgan needs a height and width divisible by 4"):
        jaxgan.train(tiny(arch="dcgan"), tmp_path / "a", data=odd)
    with pytest.raises(jaxgan.ConfigError, match="conditional needs labels"):
        jaxgan.train(tiny(conditional=True), tmp_path / "b", data=images)
    with pytest.raises(jaxgan.EvaluationError, match="no evaluation reference for array:"):
        jaxgan.train(
            tiny(eval_every=1), tmp_path / "c", data=(images, labels), cache_dir=tmp_path / "cache"
        )
    with pytest.raises(jaxgan.DataError, match="data: images of dtype float64"):
        jaxgan.train(tiny(), tmp_path / "d", data=images / 255.0)
    assert not any((tmp_path / name).exists() for name in "abcd")
