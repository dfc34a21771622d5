"""The tools' exit codes: bad flags and values are one line and exit 2 with nothing left behind; the
sample and plot tools' outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxgan import cli
from jaxgan.cli import evaluate as evaluate_tool
from jaxgan.cli import plot as plot_tool
from jaxgan.cli import sample as sample_tool
from jaxgan.cli import train as train_tool

from conftest import (
    TINY_FLAGS,
    assert_one_line_error,
    error_lines,
    run_cli,
)
from conftest import train_tiny as train

TOOLS = {"train": train_tool, "sample": sample_tool, "evaluate": evaluate_tool, "plot": plot_tool}


# --- bad input: one line on stderr, exit code 2, earlier results untouched -------------------


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (["--epochs", "-3"], "--epochs must be a positive integer, got -3"),
    (["--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["--batch-size", "x"], "argument --batch-size: invalid int value: 'x'"),
    (["--lr", "0"], "--lr must be a finite number > 0, got 0.0"),
    (["--lr=-1e-3"], "--lr must be a finite number > 0, got -0.001"),
    (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
    (["--beta1", "1.5"], "--beta1 must be in [0, 1), got 1.5"),
    (["--arch", "resnet"], "--arch must be one of mlp, dcgan, got 'resnet'"),
])
def test_bad_flags_exit_2_with_one_line(args, message, tmp_path, capsys):
    try:
        code = cli.execute(train_tool.main, args + ["--workdir", str(tmp_path / "w")])
    except SystemExit as e:  # argparse's own errors: a value that is not a number at all
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("script, args, message", [
    ("train", ["--seed", "99999999999999999999"], "--seed must be an integer in 0 .. 4294967295"),
    ("train", ["--seed", "-1"], "--seed must be an integer"),
    ("train", ["--hidden-dim", "100000000"], "the model does not fit: 157,"),
    ("train", ["--batch-size", "70000"], "larger than the dataset"),
    ("train", ["--resume", "--overwrite"], "not allowed with argument"),
    ("train", ["--distributed"], "--distributed: jax.distributed.initialize() failed"),
    ("train", ["--eval-every", "1", "--eval-samples", "1000000000"], "--eval-samples 1000000000 would take"),
    ("sample", ["--n", "1000000000"], "--n 1,000,000,000 would take"),
    ("sample", ["--seed", "18446744073709551616"], "--seed: expected an integer in 0 .. 4294967295"),
    ("sample", ["--seed", "4294967296"], "--seed: expected an integer in 0 .. 4294967295, got '4294967296'"),
    ("evaluate", ["--seed", "1.5"], "--seed: expected an integer in 0 .. 4294967295, got '1.5'"),
    ("sample", ["--export", "x.txt"], "--export must be an .npz file"),
])
def test_bad_values_are_one_line_and_leave_nothing(script, args, message, idx_mnist, tmp_path,
                                                   monkeypatch, capsys):
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    workdir = tmp_path / "w"
    argv = [*TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(workdir)] if script == "train" \
        else ["--workdir", str(workdir)]
    try:
        code = cli.execute(TOOLS[script].main, argv + args)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = error_lines(capsys.readouterr().err)
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not workdir.exists() and not Path("x.txt").exists()


@pytest.mark.slow
def test_bad_runs_are_one_line_errors(idx_mnist, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(run_cli("train", *TINY_FLAGS, "--data-dir", idx_mnist, "--batch-size", "1000",
                                  "--workdir", str(tmp_path / "a")), "larger than the dataset")
    assert_one_line_error(run_cli("train", *TINY_FLAGS, "--data-dir", str(tmp_path / "none"),
                                  "--workdir", str(tmp_path / "b")), "does not exist")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("train", *TINY_FLAGS, "--data-dir", str(tmp_path / "empty"),
                                  "--workdir", str(tmp_path / "d")), "not prepared", "--data-dir")
    assert_one_line_error(run_cli("train", *TINY_FLAGS, "--data-dir", idx_mnist,
                                  "--workdir", str(blocker / "run")), "not writable")
    assert_one_line_error(run_cli("sample", "--workdir", str(tmp_path / "empty")), "no checkpoints")


# --- the tools' outputs ----------------------------------------------------------------------


def test_sample_tool_grids_interpolations_and_exports(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    sample = sample_tool
    out, npz = tmp_path / "g.png", tmp_path / "x.npz"
    ckpt = str(tmp_path / "run" / "checkpoints" / "1")
    assert cli.execute(sample.main, ["--checkpoint", ckpt, "--grid", "3x5", "--out", str(out),
                                 "--export", str(npz), "--uint8"]) == 0
    images = np.load(npz)["images"]
    assert images.shape == (15, 28, 28) and images.dtype == np.uint8 and out.exists()
    assert cli.execute(sample.main, ["--workdir", str(tmp_path / "run"), "--grid", "2x6",
                                 "--interpolate", "--out", str(out), "--export", str(npz)]) == 0
    walk = np.load(npz)["images"]
    assert walk.shape == (12, 28, 28)
    # Interpolation is smooth: neighbours in a row differ less than the row's two ends.
    step = np.abs(walk[1] - walk[0]).mean()
    assert step < np.abs(walk[5] - walk[0]).mean()
    with pytest.raises(SystemExit) as e:
        sample.main(["--workdir", str(tmp_path / "run"), "--grid", "0x4"])
    assert e.value.code == 2
    assert cli.execute(sample.main, ["--workdir", str(tmp_path / "run"), "--out", str(tmp_path / "x.jpg")]) == 2


def test_plot_skips_bad_rows_and_refuses_bad_outputs(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    plot = plot_tool
    (tmp_path / "dir.png").mkdir()
    capsys.readouterr()
    for out, message in [(tmp_path / "none" / "c.png", "is not a directory"), (tmp_path / "c.xyz", "must end in"),
                         (tmp_path / "dir.png", "cannot write")]:
        assert cli.execute(plot.main, ["--workdir", str(tmp_path / "run"), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:
        f.write('[1, 2]\n{"kind": "train", "epoch": 3}\n"text"\n')
    assert cli.execute(plot.main, ["--workdir", str(tmp_path / "run")]) == 0
    assert "skipped 1 metrics rows" in capsys.readouterr().err  # the row without losses
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def _write_metrics(folder: Path, seconds: list[float], fids: dict[int, float]) -> None:
    import json

    folder.mkdir(parents=True)
    rows = [{"kind": "train", "epoch": e + 1, "d_loss": 1.0, "g_loss": 1.0, "d_real": 0.5, "d_fake": 0.5,
             "seconds": s} for e, s in enumerate(seconds)]
    rows += [{"kind": "eval", "epoch": e, "fid": f} for e, f in fids.items()]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_time_quality_plots_fid_against_cumulative_training_seconds(tmp_path, capsys):
    train_rows = [{"epoch": e, "seconds": s} for e, s in [(1, 2.0), (2, 1.5), (3, 1.0), (4, 1.0)]]
    assert plot_tool.time_quality(train_rows, [{"epoch": 2, "fid": 30.0}, {"epoch": 4, "fid": 10.0}]) == (
        [3.5, 5.5], [30.0, 10.0])
    _write_metrics(tmp_path / "a0", [1.0, 1.0], {1: 20.0, 2: 10.0})
    _write_metrics(tmp_path / "a1", [1.0, 1.0], {1: 24.0, 2: 12.0})
    _write_metrics(tmp_path / "b", [3.0], {1: 50.0})
    out = tmp_path / "tq.png"
    args = ["--time-quality", f"a={tmp_path / 'a0'},{tmp_path / 'a1'}", "--time-quality", f"b={tmp_path / 'b'}"]
    assert cli.execute(plot_tool.main, [*args, "--out", str(out)]) == 0
    assert "2 groups of runs" in capsys.readouterr().out and out.read_bytes()[:4] == b"\x89PNG"
    _write_metrics(tmp_path / "no_eval", [1.0], {})
    for bad, message in [(["--time-quality", "a"], "must be NAME=DIR"), (args, "needs --out"),
                         (["--time-quality", f"c={tmp_path / 'no_eval'}", "--out", str(out)], "--eval-every")]:
        assert cli.execute(plot_tool.main, bad) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
