"""Third-party output kept off the terminal: records wait for a run's debug.log, go to it, and
belong to no run between runs; what native code prints to file descriptor 2 goes there too."""

from __future__ import annotations

import logging
import os

from jaxgan.debuglog import DebugLog


def record(message: str) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": "absl", "msg": message, "levelno": logging.WARNING, "levelname": "WARNING"}
    )


def test_records_wait_for_the_run_file_and_belong_to_no_run_between_runs(tmp_path):
    log = DebugLog()
    log.handle(record("before the run's folder exists"))
    log.attach(tmp_path / "a.log")
    log.handle(record("during the run"))
    log.detach()
    log.handle(record("a notebook's own work between runs"))
    log.begin()
    log.handle(record("the next run's start"))
    log.attach(tmp_path / "b.log")
    log.close()
    first, second = (tmp_path / "a.log").read_text(), (tmp_path / "b.log").read_text()
    assert "before the run's folder exists" in first and "during the run" in first
    assert "the next run's start" in second and "between runs" not in first + second


def test_what_native_code_prints_goes_to_the_debug_log(tmp_path, capfd):
    log = DebugLog()
    with log.native_stderr():
        os.write(2, b"a native traceback\n")
    log.attach(tmp_path / "debug.log")
    with log.native_stderr():
        os.write(2, b"a native warning\n")
    log.close()
    assert "native" not in capfd.readouterr().err
    text = (tmp_path / "debug.log").read_text()
    assert "a native traceback" in text and "a native warning" in text
