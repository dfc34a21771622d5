"""Workdirs: only jaxgan's folders are written, only what jaxgan wrote is deleted, one run at a time,
nothing is written through a link out of it, and damaged metrics are skipped and kept."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from jaxgan.errors import ConfigError, TrainingError
from jaxgan.runlog import MetricsLog
from jaxgan.workdir import MARKER, Workdir, open_workdir

from conftest import (
    TINY,
)
from conftest import file_tree as tree
from conftest import train_tiny as train

# --- only jaxgan's, only what jaxgan wrote ---------------------------------------------------


def test_a_folder_that_is_not_a_run_is_never_written(idx_mnist, tmp_path, monkeypatch):
    user = tmp_path / "d"
    (user / "images").mkdir(parents=True)
    (user / "config.json").write_text('{"my": 1}')
    (user / "images" / "0.png").write_bytes(b"mine")
    before = tree(user)
    for overwrite in (False, True):
        with pytest.raises(TrainingError, match="not empty and is not a jaxgan run"):
            train(user, idx_mnist, overwrite=overwrite)
    monkeypatch.chdir(user)  # an empty workdir is refused, never taken as the current folder
    with pytest.raises(ConfigError, match="workdir must be a path"):
        train("", idx_mnist, overwrite=True)
    assert tree(user) == before


def test_overwrite_deletes_only_what_jaxgan_wrote(idx_mnist, tmp_path):
    run = tmp_path / "run"
    train(run, idx_mnist, epochs=2)
    (run / "images" / "holiday.jpg").write_bytes(b"a user's photo")
    (run / "notes.txt").write_text("mine")
    old = (run / "metrics.jsonl").read_text()
    train(run, idx_mnist, overwrite=True)
    assert (run / "images" / "holiday.jpg").read_bytes() == b"a user's photo"
    assert (run / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == ["1"]
    assert (run / "metrics.jsonl").read_text() != old and len(MetricsLog(run).read()) == 1
    assert "notes.txt" not in json.loads((run / MARKER).read_text())["manifest"]


def test_a_run_that_saved_nothing_is_not_a_run(idx_mnist, tmp_path):
    run = open_workdir(tmp_path / "run", resume=False, overwrite=False)  # then died compiling
    (tmp_path / "run" / "config.json").write_text("{}")
    run.add_to_manifest("config.json")
    run.unlock()
    train(tmp_path / "run", idx_mnist)  # no --overwrite needed
    assert MetricsLog(tmp_path / "run").read()[0]["epoch"] == 1


def test_overwrite_refuses_checkpoints_it_did_not_write(idx_mnist, tmp_path):
    train(tmp_path / "other", idx_mnist, epochs=3)
    train(tmp_path / "run", idx_mnist, epochs=2)
    shutil.copytree(
        tmp_path / "other" / "checkpoints" / "3", tmp_path / "run" / "checkpoints" / "150"
    )
    before = tree(tmp_path / "run")
    for kwargs in (
        {"overwrite": True, "keep": 2},
        {"overwrite": True, "keep": 10},
        {"resume": True, "epochs": 4},
    ):
        with pytest.raises(TrainingError, match="checkpoints/150 was not written by this run"):
            train(tmp_path / "run", idx_mnist, **kwargs)
        assert tree(tmp_path / "run") == before


# --- one run per workdir ---------------------------------------------------------------------


def test_a_workdir_in_use_is_refused_and_left_alone(idx_mnist, tmp_path):
    train(tmp_path / "run", idx_mnist)
    before = tree(tmp_path / "run")
    holder = Workdir(tmp_path / "run")
    holder.lock()  # another live run
    try:
        for kwargs in ({}, {"resume": True}, {"overwrite": True}):
            with pytest.raises(TrainingError, match=f"in use by pid {os.getpid()}"):
                train(tmp_path / "run", idx_mnist, epochs=3, **kwargs)
    finally:
        holder.unlock()
    assert tree(tmp_path / "run") == before
    assert not (tmp_path / "run" / "unreadable_checkpoints").exists()


# --- links out of the workdir ----------------------------------------------------------------


@pytest.mark.parametrize("link", ["checkpoints", "images", "metrics.jsonl"])
def test_nothing_is_written_through_a_link_out_of_the_workdir(link, idx_mnist, tmp_path):
    train(tmp_path / "run", idx_mnist, epochs=1)
    target = tmp_path / "elsewhere"
    source = tmp_path / "run" / link
    shutil.move(source, target)
    if target.is_dir():
        (target / "0.png").write_bytes(b"a user's picture")
    source.symlink_to(target)
    before = tree(tmp_path / "run")
    outside = (
        {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
        if target.is_dir()
        else target.read_bytes()
    )
    for kwargs in ({"overwrite": True}, {"resume": True, "epochs": 2}):
        with pytest.raises(
            TrainingError, match=f"{link} is a symlink to .*elsewhere, outside the workdir"
        ):
            train(tmp_path / "run", idx_mnist, **kwargs)
    assert tree(tmp_path / "run") == before
    now = (
        {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
        if target.is_dir()
        else target.read_bytes()
    )
    assert now == outside


def test_a_member_folder_linked_out_is_refused(idx_mnist, tmp_path):
    from jaxgan.population import Population

    spec = Population(TINY, seeds=2)
    train(tmp_path / "pop", idx_mnist, population=spec)
    member = tmp_path / "pop" / "members" / "1"
    shutil.move(member, tmp_path / "moved")
    member.symlink_to(tmp_path / "moved")
    with pytest.raises(TrainingError, match="members/1 is a symlink"):
        train(tmp_path / "pop", idx_mnist, population=spec, overwrite=True)
    assert (tmp_path / "moved" / "metrics.jsonl").is_file()


def test_a_dangling_symlink_workdir_is_named(idx_mnist, tmp_path):
    (tmp_path / "run").symlink_to(tmp_path / "gone")
    with pytest.raises(TrainingError, match="is a symlink to .*gone, which does not exist"):
        train(tmp_path / "run", idx_mnist)


# --- read-only outputs, damaged metrics ------------------------------------------------------
