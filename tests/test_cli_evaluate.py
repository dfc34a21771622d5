"""evaluate.py: a run's, a population's and exported samples' scores, printed and recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxgan import classifier, cli, data
from jaxgan.cli import evaluate as evaluate_tool
from jaxgan.cli import train as train_tool
from jaxgan.config import Config
from jaxgan.evaluation import summarise
from jaxgan.files import content_digest
from jaxgan.population import Population

from conftest import (
    TINY_FLAGS,
)
from conftest import train_tiny as train


@pytest.mark.slow
def test_evaluate_prints_its_scores_when_the_run_is_read_only(idx_mnist, tmp_path, capsys):
    from test_evaluation import random_classifier

    train(tmp_path / "run", idx_mnist)
    digest = content_digest(*data.load_dataset("train", idx_mnist))
    classifier.save(
        random_classifier(), classifier.cache_path(tmp_path / "cache", digest), digest, 0.1
    )
    (tmp_path / "run" / "metrics.jsonl").unlink()
    (tmp_path / "run" / "metrics.jsonl").mkdir()  # cannot be appended to, even by root
    argv = [
        "--workdir",
        str(tmp_path / "run"),
        "--n",
        "64",
        "--data-dir",
        idx_mnist,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--json",
    ]
    assert cli.execute(evaluate_tool.main, argv) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[-1])["num_samples"] == 64 and "is not recorded" in err


@pytest.mark.slow
def test_evaluate_prints_each_member_and_the_mean_over_seeds(idx_mnist, tmp_path, capsys):
    """The population table's numbers are the members' own single-checkpoint evaluations."""
    train_tool.main(
        [
            "--workdir",
            str(tmp_path / "pop"),
            "--data-dir",
            idx_mnist,
            "--epochs",
            "1",
            "--seeds",
            "2",
            "--sweep",
            "lr=1e-3,2e-3",
            *TINY_FLAGS,
        ]
    )
    assert "all 4 members trained" in capsys.readouterr().err
    common = ["--n", "40", "--data-dir", idx_mnist, "--cache-dir", str(tmp_path / "cache")]
    evaluate_tool.main(["--workdir", str(tmp_path / "pop"), "--json", *common])
    table = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in table["members"]] == ["0", "1", "2", "3"]
    fids = [m["fid"] for m in table["members"]]
    for member in ("0", "3"):
        evaluate_tool.main(
            ["--workdir", str(tmp_path / "pop" / "members" / member), "--json", *common]
        )
        assert json.loads(capsys.readouterr().out)["fid"] == pytest.approx(
            fids[int(member)], rel=1e-4
        )
    low = table["groups"][0]
    assert low["values"] == {"lr": 1e-3}
    assert low["fid"]["mean"] == pytest.approx(np.mean(fids[:2]))
    assert low["fid"]["std"] == pytest.approx(np.std(fids[:2], ddof=1))
    assert table["best"]["fid"] == str(int(np.argmin(fids)))
    evaluate_tool.main(["--workdir", str(tmp_path / "pop"), *common])
    text = capsys.readouterr().out
    assert "lr=0.001 (2 members): MNIST-FID" in text and "best: MNIST-FID member" in text


def test_a_populations_table_lists_each_member_and_each_group():
    population = Population(Config(), seeds=2, sweep=(("lr", (1e-3, 2e-3)),))
    rows = [{"fid": 10.0 + i, "classifier_score": 9.0, "classes_covered": 10} for i in range(4)]
    rows[3]["failed"] = {"epoch": 2, "batch": 0, "loss": "d_loss"}
    table = evaluate_tool.format_table(population, rows, summarise(population, rows))
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["member", "seed", "lr"] and len(lines) == 1 + 4 + 2 + 1
    assert "failed in epoch 2" in lines[4]
    assert lines[5].startswith("lr=0.001 (2 members): MNIST-FID 10.500")
    assert lines[6].startswith("lr=0.002 (1 member): MNIST-FID 12.000")
    assert lines[7].startswith("best: MNIST-FID member 0 (10.000)")
