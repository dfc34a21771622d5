"""Real multi-process runs: two local processes (one CPU device each, gloo collectives on the
loopback interface) launched as docs/scaling.md shows, against one process with two devices."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxgan import checkpoint
from jaxgan.workdir import Workdir

from conftest import ROOT, TINY_FLAGS, assert_trees_equal, error_lines

pytestmark = pytest.mark.slow
FLAGS = [*TINY_FLAGS, "--no-tensorboard", "--checkpoint-every", "1", "--keep", "5"]
CONNECT_TIMEOUT = 2  # seconds: the mistakes below are found within it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(devices: int = 1) -> dict[str, str]:
    return {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}


def launch(n: int, *args: str, port: int | None = None, per_process=None) -> list[subprocess.Popen]:
    """n processes of scripts/train.py joined through a coordinator on 127.0.0.1."""
    port = port or free_port()
    return [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "scripts" / "train.py"),
                *FLAGS,
                *args,
                *(per_process(i) if per_process else []),
                "--coordinator-address",
                f"127.0.0.1:{port}",
                "--num-processes",
                str(n),
                "--process-id",
                str(i),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env(),
        )
        for i in range(n)
    ]


def finish(procs: list[subprocess.Popen], timeout: int = 240) -> list[tuple[int, str, str]]:
    outputs = [p.communicate(timeout=timeout) for p in procs]
    return [(p.returncode, *out) for p, out in zip(procs, outputs, strict=True)]


def train_one_process(*args: str, devices: int = 2) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *FLAGS, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env(devices),
        timeout=240,
    )
    assert result.returncode == 0, result.stderr


def restore(workdir: Path, epoch: int):
    return checkpoint.restore_latest(workdir / "checkpoints", epoch=epoch)[0]


def test_two_processes_train_as_one_with_two_devices_resume_exactly_and_only_process_0_writes(
    idx_mnist, tmp_path
):
    data = ["--data-dir", idx_mnist]
    t0 = time.perf_counter()
    results = finish(launch(2, *data, "--epochs", "3", "--workdir", str(tmp_path / "two")))
    assert [r[0] for r in results] == [0, 0], results
    two_s = time.perf_counter() - t0
    (_, out0, _), (_, out1, err1) = results
    assert "Epoch [2/3] Batch 0/3" in out0 and "Epoch [" not in out1  # process 0 logs, alone
    rows = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 3 and sorted(p.name for p in (tmp_path / "two" / "images").iterdir()) == [
        "0.png",
        "2.png",
    ]
    train_one_process(*data, "--epochs", "3", "--workdir", str(tmp_path / "one"), "--devices", "2")
    for epoch in (1, 3):
        assert_trees_equal(
            restore(tmp_path / "two", epoch), restore(tmp_path / "one", epoch), rtol=1e-5, atol=1e-6
        )
    # Killed after epoch 2: a copy without checkpoint 3, resumed by two processes again.
    shutil.copytree(tmp_path / "two", tmp_path / "split")
    shutil.rmtree(tmp_path / "split" / "checkpoints" / "3")
    results = finish(
        launch(2, *data, "--epochs", "3", "--workdir", str(tmp_path / "split"), "--resume")
    )
    assert [r[0] for r in results] == [0, 0], results
    assert "resuming from epoch 2" in results[0][2]
    assert_trees_equal(restore(tmp_path / "split", 3), restore(tmp_path / "two", 3))
    print(f"2 processes x 3 epochs: {two_s:.1f} s wall")


def test_processes_started_differently_or_on_a_live_workdir_are_refused(idx_mnist, tmp_path):
    data = ["--data-dir", idx_mnist, "--epochs", "1"]
    results = finish(
        launch(2, *data, "--workdir", str(tmp_path / "a"), per_process=lambda i: ["--seed", str(i)])
    )
    for code, _, err in results:
        assert code == 2 and "process 1 was started with other settings, seeds or data" in err
        assert len(error_lines(err)) == 1 and "Traceback" not in err, err
    holder = Workdir(tmp_path / "b")
    (tmp_path / "b").mkdir()
    holder.lock()  # a run that is alive
    try:
        results = finish(launch(2, *data, "--workdir", str(tmp_path / "b")))
    finally:
        holder.unlock()
    (code0, _, err0), (code1, _, err1) = results
    assert code0 == code1 == 2 and "is in use by pid" in err0 and "process 0 refused" in err1, (
        results
    )
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [".jaxgan.lock"]


def test_an_unreachable_coordinator_is_one_line(tmp_path):
    t0 = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            "--workdir",
            str(tmp_path / "w"),
            "--coordinator-address",
            f"127.0.0.1:{free_port()}",
            "--num-processes",
            "2",
            "--process-id",
            "1",
            "--connect-timeout",
            "3",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env(),
        timeout=60,
    )
    assert result.returncode == 2 and time.perf_counter() - t0 < 30
    (line,) = error_lines(result.stderr)
    assert (
        "the coordinator 127.0.0.1:" in line
        and "cannot be reached" in line
        and "within 3 s" in line
    )


def test_a_killed_process_ends_the_other_within_a_minute_and_the_run_resumes(idx_mnist, tmp_path):
    workdir = tmp_path / "run"
    procs = launch(2, "--data-dir", idx_mnist, "--epochs", "100000", "--workdir", str(workdir))
    deadline = time.time() + 120
    while not (workdir / "checkpoints" / "3").is_dir() and time.time() < deadline:
        time.sleep(0.1)
    procs[1].send_signal(signal.SIGKILL)
    t_kill = time.perf_counter()
    procs[0].wait(timeout=90)
    detect_s = time.perf_counter() - t_kill
    _, err = procs[0].communicate()
    assert procs[0].returncode == 2 and detect_s < 60, (procs[0].returncode, err)
    (line,) = error_lines(err.split("[Gloo]")[-1].split("\n", 1)[-1] if "[Gloo]" in err else err)[
        -1:
    ]
    assert "lost another process of this run" in line and "checkpoints up to epoch" in line
    assert "Traceback" not in err
    newest = checkpoint.saved_record(workdir / "checkpoints").epoch
    results = finish(
        launch(
            2,
            "--data-dir",
            idx_mnist,
            "--epochs",
            str(newest + 1),
            "--workdir",
            str(workdir),
            "--resume",
        )
    )
    assert [r[0] for r in results] == [0, 0], results
    assert f"resuming from epoch {newest}" in results[0][2]
    print(f"the lost process was noticed in {detect_s:.1f} s")


def test_two_processes_train_a_population_whose_members_equal_the_one_process_population(
    idx_mnist, tmp_path
):
    data = ["--data-dir", idx_mnist, "--epochs", "2", "--seeds", "4"]
    results = finish(launch(2, *data, "--workdir", str(tmp_path / "two")))
    assert [r[0] for r in results] == [0, 0], results
    assert sorted(p.name for p in (tmp_path / "two" / "members").iterdir()) == ["0", "1", "2", "3"]
    train_one_process(*data, "--workdir", str(tmp_path / "one"), devices=1)
    from jaxgan.sampling import restore_member

    for member in "0123":
        two, _ = restore_member(tmp_path / "two" / "members" / member)
        one, _ = restore_member(tmp_path / "one" / "members" / member)
        assert_trees_equal(two, one, rtol=1e-5, atol=1e-6)
    rows = [
        len((tmp_path / "two" / "members" / m / "metrics.jsonl").read_text().splitlines())
        for m in "0123"
    ]
    assert rows == [2, 2, 2, 2]
    assert np.isfinite(checkpoint.saved_record(tmp_path / "two" / "checkpoints").step)


def metrics_rows(workdir: Path) -> int:
    path = workdir / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.is_file() else 0


@pytest.mark.parametrize(
    "signalled, sig, when",
    [
        ((1,), signal.SIGINT, "mid-run"),
        ((0,), signal.SIGINT, "mid-run"),
        ((0, 1), signal.SIGTERM, "mid-run"),  # 0.4 s apart: across an epoch's end
        ((1,), signal.SIGINT, "while starting"),  # before the processes have joined
    ],
)
def test_a_stop_signal_to_any_process_stops_both_at_the_same_epoch(
    idx_mnist, tmp_path, signalled, sig, when
):
    workdir, data = tmp_path / "run", ["--data-dir", idx_mnist, "--checkpoint-every", "1000"]
    procs = launch(2, *data, "--epochs", "100000", "--workdir", str(workdir))
    deadline = time.time() + 120
    if when == "mid-run":
        while metrics_rows(workdir) < 2 and time.time() < deadline:
            time.sleep(0.05)
    else:
        time.sleep(1.0)
    t_stop = time.perf_counter()
    for i in signalled:
        procs[i].send_signal(sig)
        time.sleep(0.4)
    results = finish(procs, timeout=90)
    stop_s = time.perf_counter() - t_stop
    epochs = set()
    for code, _, err in results:
        line = error_lines(err)[-1]  # after the run's "N examples ... compiled" line
        assert code == 130 and "Traceback" not in err and err.count("interrupted") == 1, (code, err)
        assert line.startswith("train.py: interrupted: saved a checkpoint at epoch "), err
        epochs.add(int(line.split("epoch ")[1].split(";")[0]))
    (epoch,) = epochs
    assert stop_s < 60 and checkpoint.saved_record(workdir / "checkpoints").epoch == epoch
    if signalled == (1,) and when == "mid-run":  # continued exactly: as a run never stopped
        results = finish(
            launch(2, *data, "--epochs", str(epoch + 1), "--workdir", str(workdir), "--resume")
        )
        assert [r[0] for r in results] == [0, 0], results
        results = finish(
            launch(2, *data, "--epochs", str(epoch + 1), "--workdir", str(tmp_path / "whole"))
        )
        assert [r[0] for r in results] == [0, 0], results
        assert_trees_equal(restore(workdir, epoch + 1), restore(tmp_path / "whole", epoch + 1))
    print(
        f"{when}, signal to {signalled}: both stopped at epoch {epoch} {stop_s:.1f} s after "
        "the signal"
    )


@pytest.mark.parametrize(
    "mistake",
    ["the same process id", "a process id out of range", "other process counts", "the port taken"],
)
def test_launch_mistakes_are_one_line_within_the_connect_timeout(mistake, tmp_path):
    port = free_port()
    flags = {
        "the same process id": lambda i: ["--num-processes", "2", "--process-id", "0"],
        "a process id out of range": lambda i: ["--num-processes", "2", "--process-id", str(2 * i)],
        "other process counts": lambda i: ["--num-processes", str(2 + i), "--process-id", str(i)],
        "the port taken": lambda i: ["--num-processes", "2", "--process-id", str(i)],
    }[mistake]
    blocker = socket.socket()
    if mistake == "the port taken":
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
    t0 = time.perf_counter()
    try:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "scripts" / "train.py"),
                    "--workdir",
                    str(tmp_path / "w"),
                    "--connect-timeout",
                    str(CONNECT_TIMEOUT),
                    "--coordinator-address",
                    f"127.0.0.1:{port}",
                    *flags(i),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env=env(),
            )
            for i in range(2)
        ]
        results = finish(procs, timeout=60)
    finally:
        blocker.close()
    assert time.perf_counter() - t0 < CONNECT_TIMEOUT + 30
    for code, _, err in results:
        lines = error_lines(err)
        assert code == 2 and len(lines) == 1 and lines[0].startswith("train.py: error: "), (
            mistake,
            err,
        )
    assert not (tmp_path / "w").exists()
