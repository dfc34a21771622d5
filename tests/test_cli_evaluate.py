"""evaluate.py: a run's, a population's and exported samples' scores, printed and recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxgan import cli
from jaxgan.cli import evaluate as evaluate_tool
from jaxgan.cli import train as train_tool
from jaxgan.config import Config
from jaxgan.population import Population
from jaxgan.selection import summarise

from conftest import (
    TINY_FLAGS,
)
from conftest import train_tiny as train


@pytest.mark.slow
def test_evaluate_prints_its_scores_when_the_run_is_read_only(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist)
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
    encoder_fids = [m["encoder_fid"] for m in table["members"]]
    assert table["rankings"]["encoder_fid"] == [str(i) for i in np.argsort(encoder_fids)]
    evaluate_tool.main(["--workdir", str(tmp_path / "pop"), *common])
    text = capsys.readouterr().out
    assert "lr=0.001 (2 members): MNIST-FID" in text and "best: MNIST-FID member" in text


def test_a_populations_table_lists_each_member_and_each_group():
    population = Population(Config(), seeds=2, sweep=(("lr", (1e-3, 2e-3)),))
    rows = [
        {"fid": 10.0 + i, "encoder_fid": e, "classifier_score": 9.0, "classes_covered": 10}
        for i, e in enumerate([2.0, 1.0, 3.0, 0.5])
    ]
    rows[3]["failed"] = {"epoch": 2, "batch": 0, "loss": "d_loss"}
    summary = summarise(population, rows)
    assert summary["rankings"] == {
        "fid": ["0", "1", "2"],  # the failed member is not ranked
        "encoder_fid": ["1", "0", "2"],
        "swapped": [["0", "1"]],
        "pairs": 3,
    }
    lines = evaluate_tool.format_table(population, rows, summary).splitlines()
    assert lines[0].split()[:5] == ["member", "seed", "lr", "MNIST-FID", "encoder"]
    assert len(lines) == 1 + 4 + 2 + 1 + 1 and "failed in epoch 2" in lines[4]
    assert lines[5].startswith("lr=0.001 (2 members): MNIST-FID 10.500")
    assert lines[6].startswith("lr=0.002 (1 member): MNIST-FID 12.000")
    assert lines[7].startswith("best: MNIST-FID member 0 (10.000); encoder FID member 1 (1.000)")
    assert lines[8] == (
        "the two spaces rank 1 of 3 pairs of members differently (by MNIST-FID: 0 before 1): "
        "MNIST-FID 0 < 1 < 2; encoder FID 1 < 0 < 2"
    )
    rows[0]["encoder_fid"] = 0.9
    agreed = evaluate_tool.format_table(population, rows, summarise(population, rows))
    assert agreed.splitlines()[-1].startswith("the two spaces rank the members alike")
