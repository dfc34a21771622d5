"""The run's record: metrics.jsonl rows that survive a killed writer and bad bytes, and progress lines."""

from __future__ import annotations

import pytest

from jaxgan import cli
from jaxgan.cli import plot as plot_tool
from jaxgan.runlog import MetricsLog, describe_scores

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


def test_a_line_of_scores_names_its_feature_spaces():
    encoder_scores = {
        "encoder_fid": 1.0,
        "precision": 0.5,
        "recall": 0.25,
        "density": 0.75,
        "coverage": 0.5,
        "num_samples": 8,
    }
    line = describe_scores(encoder_scores, "array:ab12")
    assert "no classifier (the data has no labels); encoder FID 1.000" in line
    classifier_scores = {
        "fid": 2.0,
        "classifier_score": 4.0,
        "classes_covered": 3,
        "kl_to_uniform": 0.1,
        "histogram": [4, 2, 2],
    }
    line = describe_scores({**encoder_scores, **classifier_scores}, "array:ab12")
    assert "FID 2.000, classifier score 4.000, classes covered 3/3" in line
    assert "MNIST-FID" not in line
    assert "MNIST-FID 2.000" in describe_scores({**encoder_scores, **classifier_scores})
