"""Errors: a run's failures become one TrainingError that says what was kept; messages name the
arguments as the caller spelled them."""

from __future__ import annotations

import jax
import pytest

from jaxgan.errors import (
    CheckpointSaveError,
    TrainingError,
    arg,
    command_line,
    failures_as_one_line,
)


def test_a_peer_lost_while_checkpointing_is_named_as_a_lost_process(tmp_path, monkeypatch):
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: True)
    barrier = (
        "saving checkpoint 4 failed: INTERNAL: Barrier failed because: task is set to ERROR: "
        "UNAVAILABLE: Task 1 heartbeat timeout."
    )
    with pytest.raises(
        TrainingError,
        match=r"lost another process of this run .*checkpoints up to epoch 3 "
        r"are intact; start every process again with",
    ):
        with failures_as_one_line(tmp_path, lambda: 3):
            raise CheckpointSaveError(barrier)
    monkeypatch.setattr(
        jax.distributed, "is_initialized", lambda: False
    )  # one process: no peer to lose
    with pytest.raises(
        TrainingError, match="training stopped: CheckpointSaveError: saving checkpoint 4"
    ):
        with failures_as_one_line(tmp_path, lambda: 3):
            raise CheckpointSaveError(barrier)


def test_messages_name_python_arguments_or_command_line_flags():
    assert (arg("batch_size", 64), arg("resume", True), arg("workdir")) == (
        "batch_size=64",
        "resume=True",
        "workdir",
    )
    with command_line():
        assert (arg("batch_size", 64), arg("resume", True), arg("workdir")) == (
            "--batch-size 64",
            "--resume",
            "--workdir",
        )
