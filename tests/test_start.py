"""Before the loop: arguments checked before the workdir is touched; what a resumed run may change
and what it refuses."""

from __future__ import annotations

import pytest

import jaxgan
from jaxgan.errors import (
    IncompatibleCheckpointError,
    TrainingError,
)
from jaxgan.loop import train_and_evaluate

from conftest import (
    ROOT,
    TINY,
    tiny,
    train_tiny,
)


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


def test_resume_refuses_other_shapes_and_allows_more_epochs(idx_mnist, tmp_path):
    train_tiny(tmp_path / "run", idx_mnist, epochs=1, sample_every=100)
    with pytest.raises(
        IncompatibleCheckpointError, match="trained hidden_dim=16; you passed hidden_dim=32"
    ):
        train_and_evaluate(
            TINY.replace(epochs=2, hidden_dim=32),
            tmp_path / "run",
            data_dir=idx_mnist,
            resume=True,
            progress=False,
        )
    with pytest.raises(TrainingError, match="seed=5"):
        train_and_evaluate(
            TINY.replace(epochs=2, seed=5),
            tmp_path / "run",
            data_dir=idx_mnist,
            resume=True,
            progress=False,
        )
    state = train_tiny(tmp_path / "run", idx_mnist, epochs=2, sample_every=100, resume=True)
    assert int(state.step) == 6
