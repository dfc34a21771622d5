"""The run's record: metrics.jsonl rows that survive a killed writer and bad bytes, and progress lines."""

from __future__ import annotations

import pytest

from jaxgan import cli
from jaxgan.cli import plot as plot_tool
from jaxgan.runlog import MetricsLog

from conftest import train_tiny as train


def test_a_row_cut_short_is_never_glued_to_the_next(tmp_path):
    log = MetricsLog(tmp_path)
    log.append({"epoch": 1})
    with open(log.path, "a") as f:
        f.write('{"epoch": 2, "d_lo')  # killed mid-append
    log.append({"epoch": 3})
    assert log.read() == [{"epoch": 1}, {"epoch": 3}]


@pytest.mark.slow
def test_bad_bytes_in_metrics_are_named_skipped_and_kept(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=2)
    log = MetricsLog(tmp_path / "run")
    with open(log.path, "ab") as f:
        f.write(b"\xff\xfe\nnot json\n")
    capsys.readouterr()
    assert [r["epoch"] for r in log.read()] == [1, 2]
    assert "lines 3, 4 are not a JSON row; skipped" in capsys.readouterr().err
    assert cli.execute(plot_tool.main, ["--workdir", str(tmp_path / "run")]) == 0
    train(tmp_path / "run", idx_mnist, epochs=3, resume=True)
    assert "moved to metrics.jsonl.unparsed" in capsys.readouterr().err
    assert log.aside.read_bytes() == b"\xff\xfe\nnot json\n"
    assert [r["epoch"] for r in log.read()] == [1, 2, 3]
    assert capsys.readouterr().err == ""
