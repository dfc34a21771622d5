"""Joining a run of several processes: a malformed launch is one line before anything starts (the
runs themselves: test_multiprocess.py)."""

from __future__ import annotations

import re

import pytest

from jaxgan import distributed
from jaxgan.errors import ConfigError


@pytest.mark.parametrize(
    "launch, message",
    [
        (("127.0.0.1:1234", 2, None), "a distributed launch needs process_id too"),
        (("localhost", 2, 0), "coordinator_address must be HOST:PORT, got 'localhost'"),
        (("127.0.0.1:1234", 2, 2), "process_id must be in 0 .. num_processes - 1 = 1, got 2"),
        (("127.0.0.1:99999", 2, 0), "must be HOST:PORT"),
    ],
)
def test_a_malformed_launch_is_one_line_before_anything_starts(launch, message, monkeypatch):
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match=re.escape(message)):
        distributed.initialize_distributed(*launch)
    monkeypatch.setenv("JAX_PROCESS_ID", "7")  # the environment fills what the call leaves out
    with pytest.raises(
        ConfigError, match="process_id must be in 0 .. num_processes - 1 = 1, got 7"
    ):
        distributed.initialize_distributed("127.0.0.1:1234", 2)
