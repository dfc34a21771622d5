"""The tools' exit codes: bad flags and values are one line and exit 2 with nothing left behind; the
sample and plot tools' outputs."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from jaxgan import cli
from jaxgan.cli import evaluate as evaluate_tool
from jaxgan.cli import plot as plot_tool
from jaxgan.cli import sample as sample_tool
from jaxgan.cli import train as train_tool

from conftest import (
    ROOT,
    TINY_FLAGS,
    assert_one_line_error,
    error_lines,
    run_tool,
)

TOOLS = {"train": train_tool, "sample": sample_tool, "evaluate": evaluate_tool, "plot": plot_tool}


# --- bad input: one line on stderr, exit code 2, earlier results untouched -------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
        (["--epochs", "-3"], "--epochs must be a positive integer, got -3"),
        (["--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
        (["--batch-size", "x"], "argument --batch-size: invalid int value: 'x'"),
        (["--lr", "0"], "--lr must be a finite number > 0, got 0.0"),
        (["--lr=-1e-3"], "--lr must be a finite number > 0, got -0.001"),
        (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
        (["--beta1", "1.5"], "--beta1 must be in [0, 1), got 1.5"),
        (["--arch", "resnet"], "--arch must be one of mlp, dcgan, got 'resnet'"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args, message, tmp_path, capsys):
    try:
        code = cli.execute(train_tool.main, args + ["--workdir", str(tmp_path / "w")])
    except SystemExit as e:  # argparse's own errors: a value that is not a number at all
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    "script, args, message",
    [
        (
            "train",
            ["--seed", "99999999999999999999"],
            "--seed must be an integer in 0 .. 4294967295",
        ),
        ("train", ["--seed", "-1"], "--seed must be an integer"),
        ("train", ["--hidden-dim", "100000000"], "the model does not fit: 157,"),
        ("train", ["--batch-size", "70000"], "larger than the dataset"),
        ("train", ["--resume", "--overwrite"], "not allowed with argument"),
        ("train", ["--distributed"], "--distributed: jax.distributed.initialize() failed"),
        (
            "train",
            ["--eval-every", "1", "--eval-samples", "1000000000"],
            "--eval-samples 1000000000 would take",
        ),
        ("sample", ["--n", "1000000000"], "--n 1,000,000,000 would take"),
        (
            "sample",
            ["--seed", "18446744073709551616"],
            "--seed: expected an integer in 0 .. 4294967295",
        ),
        (
            "sample",
            ["--seed", "4294967296"],
            "--seed: expected an integer in 0 .. 4294967295, got '4294967296'",
        ),
        (
            "evaluate",
            ["--seed", "1.5"],
            "--seed: expected an integer in 0 .. 4294967295, got '1.5'",
        ),
        ("sample", ["--export", "x.txt"], "--export must be an .npz file"),
    ],
)
def test_bad_values_are_one_line_and_leave_nothing(
    script, args, message, idx_mnist, tmp_path, monkeypatch, capsys
):
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    workdir = tmp_path / "w"
    argv = (
        [*TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(workdir)]
        if script == "train"
        else ["--workdir", str(workdir)]
    )
    try:
        code = cli.execute(TOOLS[script].main, argv + args)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = error_lines(capsys.readouterr().err)
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not workdir.exists() and not Path("x.txt").exists()


@pytest.mark.slow
def test_bad_runs_are_one_line_errors(idx_mnist, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(
        run_tool(
            capsys,
            "train",
            *TINY_FLAGS,
            "--data-dir",
            idx_mnist,
            "--batch-size",
            "1000",
            "--workdir",
            str(tmp_path / "a"),
        ),
        "larger than the dataset",
    )
    assert_one_line_error(
        run_tool(
            capsys,
            "train",
            *TINY_FLAGS,
            "--data-dir",
            str(tmp_path / "none"),
            "--workdir",
            str(tmp_path / "b"),
        ),
        "does not exist",
    )
    (tmp_path / "empty").mkdir()
    assert_one_line_error(
        run_tool(
            capsys,
            "train",
            *TINY_FLAGS,
            "--data-dir",
            str(tmp_path / "empty"),
            "--workdir",
            str(tmp_path / "d"),
        ),
        "not prepared",
        "--data-dir",
    )
    assert_one_line_error(
        run_tool(
            capsys, "train", *TINY_FLAGS, "--data-dir", idx_mnist, "--workdir", str(blocker / "run")
        ),
        "not writable",
    )
    assert_one_line_error(
        run_tool(capsys, "sample", "--workdir", str(tmp_path / "empty")), "no checkpoints"
    )


# --- the tools' outputs ----------------------------------------------------------------------


def test_a_cache_dir_that_is_a_file_is_one_line(idx_mnist, tmp_path, capsys):

    (tmp_path / "cache").write_text("a file")
    argv = [
        *TINY_FLAGS[:-1],
        "--data-dir",
        idx_mnist,
        "--workdir",
        str(tmp_path / "w"),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert cli.execute(train_tool.main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a folder" in err[0], err
    assert not (tmp_path / "w").exists()


def test_every_installed_command_and_script_is_a_tool_entry():
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.scripts]\n", 1)[1].split("\n\n", 1)[0]
    commands = dict(re.findall(r'^([\w-]+) = "([\w.:]+)"$', section, re.M))
    modules = set()
    for command, target in commands.items():
        module, function = target.split(":")
        assert (
            command == "jaxgan-" + module.rsplit(".", 1)[1].replace("_", "-")
            and function == "entry"
        )
        assert callable(importlib.import_module(module).entry)
        modules.add(module.rsplit(".", 1)[1])
    scripts = {p.stem for p in (ROOT / "scripts").glob("*.py")}
    assert scripts == modules and len(modules) == 5
    for name in scripts:
        assert (
            f"from jaxgan.cli.{name} import entry" in (ROOT / "scripts" / f"{name}.py").read_text()
        )
