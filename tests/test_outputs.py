"""A run's outputs on their schedule: metrics, grids, evaluations and TensorBoard rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxgan import cli
from jaxgan.cli import evaluate as evaluate_tool
from jaxgan.cli import plot as plot_tool
from jaxgan.config import Config
from jaxgan.loop import train_and_evaluate


@pytest.mark.slow
def test_training_evaluates_and_logs_to_jsonl_and_tensorboard(idx_mnist, tmp_path):
    config = Config(
        batch_size=32,
        hidden_dim=16,
        latent_dim=8,
        epochs=2,
        eval_every=1,
        eval_samples=50,
        log_every=100,
    )
    train_and_evaluate(
        config, tmp_path / "run", data_dir=idx_mnist, cache_dir=tmp_path / "cache", progress=False
    )
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["epoch"] for r in evals] == [1, 2] and all(np.isfinite(r["fid"]) for r in evals)
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))

    evaluate, plot = evaluate_tool, plot_tool
    argv = [
        "--workdir",
        str(tmp_path / "run"),
        "--n",
        "64",
        "--data-dir",
        idx_mnist,
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert cli.execute(evaluate.main, argv + ["--json"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["kind"] == "eval" and rows[-1]["num_samples"] == 64
    assert cli.execute(plot.main, ["--workdir", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_progress_lines_average_only_the_members_still_training():
    import numpy as np

    from jaxgan.outputs import member_means

    alive = np.array([[True, True], [True, False]])  # member 1 stopped at step 1
    means = member_means({"d_loss": np.array([[1.0, 2.0], [3.0, np.nan]]), "alive": alive}, alive)
    np.testing.assert_array_equal(means["d_loss"], [2.0, 2.0])
    assert set(means) == {"d_loss"}
