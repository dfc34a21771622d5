"""plot.py: training curves of a run or a population, and time-quality figures of groups of runs."""

from __future__ import annotations

import json
from pathlib import Path

from jaxgan import cli
from jaxgan.cli import plot as plot_tool

from conftest import train_tiny as train


def _write_metrics(folder: Path, seconds: list[float], fids: dict[int, float]) -> None:

    folder.mkdir(parents=True)
    rows = [
        {
            "kind": "train",
            "epoch": e + 1,
            "d_loss": 1.0,
            "g_loss": 1.0,
            "d_real": 0.5,
            "d_fake": 0.5,
            "seconds": s,
        }
        for e, s in enumerate(seconds)
    ]
    rows += [{"kind": "eval", "epoch": e, "fid": f, "encoder_fid": f / 10} for e, f in fids.items()]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_plot_skips_bad_rows_and_refuses_bad_outputs(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    plot = plot_tool
    (tmp_path / "dir.png").mkdir()
    capsys.readouterr()
    for out, message in [
        (tmp_path / "none" / "c.png", "is not a directory"),
        (tmp_path / "c.xyz", "--out: matplotlib writes no 'xyz' files"),
        (tmp_path / "dir.png", "--out: " + str(tmp_path / "dir.png") + " is a folder"),
    ]:
        assert cli.execute(plot.main, ["--workdir", str(tmp_path / "run"), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:
        f.write('[1, 2]\n{"kind": "train", "epoch": 3}\n"text"\n')
    assert cli.execute(plot.main, ["--workdir", str(tmp_path / "run")]) == 0
    assert "skipped 1 metrics rows" in capsys.readouterr().err  # the row without losses
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_time_quality_plots_fid_against_cumulative_training_seconds(tmp_path, capsys):
    train_rows = [{"epoch": e, "seconds": s} for e, s in [(1, 2.0), (2, 1.5), (3, 1.0), (4, 1.0)]]
    assert plot_tool.time_quality(
        train_rows, [{"epoch": 2, "fid": 30.0}, {"epoch": 4, "fid": 10.0}]
    ) == ([3.5, 5.5], [30.0, 10.0])
    evals = [{"epoch": 2, "fid": 30.0, "encoder_fid": 3.0}]
    assert plot_tool.time_quality(train_rows, evals, "encoder_fid") == ([3.5], [3.0])
    _write_metrics(tmp_path / "a0", [1.0, 1.0], {1: 20.0, 2: 10.0})
    _write_metrics(tmp_path / "a1", [1.0, 1.0], {1: 24.0, 2: 12.0})
    _write_metrics(tmp_path / "b", [3.0], {1: 50.0})
    out = tmp_path / "tq.png"
    args = [
        "--time-quality",
        f"a={tmp_path / 'a0'},{tmp_path / 'a1'}",
        "--time-quality",
        f"b={tmp_path / 'b'}",
    ]
    assert cli.execute(plot_tool.main, [*args, "--out", str(out)]) == 0
    assert "2 groups of runs" in capsys.readouterr().out and out.read_bytes()[:4] == b"\x89PNG"
    _write_metrics(tmp_path / "no_eval", [1.0], {})
    for bad, message in [
        (["--time-quality", "a"], "must be NAME=DIR"),
        (args, "needs --out"),
        (["--time-quality", f"c={tmp_path / 'no_eval'}", "--out", str(out)], "--eval-every"),
    ]:
        assert cli.execute(plot_tool.main, bad) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
