"""The public API (`import jaxgan`): what a notebook types, checked as a notebook would use it."""

from __future__ import annotations

import logging.handlers
import subprocess
import sys

import numpy as np
import pytest

import jaxgan

from conftest import ROOT, assert_trees_equal, tiny


@pytest.mark.slow
def test_import_is_light_and_every_public_name_resolves():
    code = "import sys, jaxgan; assert 'jax' not in sys.modules; print(len(jaxgan.__all__))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
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


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"seeds": -1}, "^seeds must be a positive integer, got -1$"),
        ({"seeds": 0}, "^seeds must be a positive integer, got 0$"),
        ({"seeds": 1.5}, "^seeds must be a positive integer, got 1.5$"),
        ({"seeds": "2"}, "^seeds must be a positive integer, got '2'$"),
        ({"seeds": True}, "^seeds must be a positive integer, got True$"),
        (
            {"sweep": {"lr": (v for v in [1e-3])}},
            "^sweep lr: a non-empty list of values, got <generator",
        ),
        (
            {"sweep": {"lr": [[1e-3]]}},
            r"^sweep lr: values are numbers, strings or booleans, got \[0.001\]$",
        ),
        ({"sweep": {"lr": [{"a": 1}]}}, "^sweep lr: values are numbers, strings or booleans"),
        (
            {"sweep": {"hidden_dim": [8, 16]}},
            "^sweep hidden_dim: hidden_dim changes the model's arrays",
        ),
        ({"resume": True, "overwrite": True}, "^resume=True and overwrite=True exclude each other"),
        ({"config": {"epochs": 1}}, "^config must be a Config, got dict"),
        (
            {"config": tiny(eval_every=1, eval_samples=10**9)},
            r"^eval_samples=1000000000 would take [\d,.]+ GiB",
        ),
        ({"workdir": 5}, r"^workdir must be a path \(a str or pathlib.Path, not empty\), got 5$"),
        ({"workdir": ""}, "^workdir must be a path"),
    ],
)
def test_python_arguments_are_checked_before_the_workdir_is_touched(
    arguments, message, idx_mnist, tmp_path
):
    arguments = {"config": tiny(), "workdir": tmp_path / "run", "data_dir": idx_mnist, **arguments}
    with pytest.raises(jaxgan.ConfigError, match=message):
        jaxgan.train(**arguments)
    assert not (tmp_path / "run").exists() and not list(ROOT.glob("checkpoints"))


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
