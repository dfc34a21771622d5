"""jaxgan.train from Python: a run and a population with their metrics and states, quiet without
progress, resumed with the numbers asked."""

from __future__ import annotations

import logging.handlers

import numpy as np
import pytest

import jaxgan

from conftest import assert_trees_equal, tiny


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
