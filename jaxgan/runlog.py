"""A run's human and machine-readable record: progress lines, a per-epoch metrics JSONL, and a
debug log that keeps third-party output off the user's terminal."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from jaxgan.files import atomic_path


def progress_lines(epoch: int, epochs: int, metrics: dict[str, np.ndarray],
                   log_every: int) -> list[str]:
    """The reference's `Epoch [e/E] Batch i/N Loss D: x, loss G: y` lines, every log_every batches."""
    steps = len(metrics["d_loss"])
    return [f"Epoch [{epoch}/{epochs}] Batch {i}/{steps} Loss D: {metrics['d_loss'][i]:.4f}, "
            f"loss G: {metrics['g_loss'][i]:.4f}" for i in range(0, steps, log_every)]


def epoch_summary(metrics: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-epoch means of the per-step metrics."""
    return {name: float(np.mean(values)) for name, values in metrics.items()}


class MetricsLog:
    """`metrics.jsonl` in the workdir: one JSON object per epoch, keyed by completed epochs."""

    def __init__(self, workdir: str | Path):
        self.path = Path(workdir) / "metrics.jsonl"

    def read(self) -> list[dict[str, Any]]:
        """The rows that are JSON objects; a line cut short by a killed run is skipped."""
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows

    def truncate_after(self, epoch: int) -> None:
        """Drop rows past `epoch` (written by a run that died before checkpointing them)."""
        kept = [r for r in self.read() if r.get("epoch", 0) <= epoch]
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def append(self, row: dict[str, Any]) -> None:
        with open(self.path, "ab") as f:
            if f.tell() and _last_byte(self.path) != b"\n":
                f.write(b"\n")  # end a line a killed writer left unfinished, never extend it
            f.write((json.dumps(row) + "\n").encode())


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


class DebugLog(logging.Handler):
    """Where third-party log records and background-thread tracebacks go instead of the terminal:
    held in memory until `attach` names a file (WORKDIR/debug.log), then written there."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._pending: list[str] = []
        self._file = None

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record) + "\n"
        if self._file is None:
            self._pending = self._pending[-1000:] + [text]
        else:
            self._file.write(text)
            self._file.flush()

    def attach(self, path: Path) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        try:
            self._file = open(path, "a")
        except OSError:
            return
        self._file.writelines(self._pending)
        self._pending = []

    @contextlib.contextmanager
    def native_stderr(self) -> Iterator[None]:
        """Send file descriptor 2 to the debug log for the block: native libraries (TensorStore
        under Orbax) print Python tracebacks of their failed callbacks straight to it."""
        if self._file is None:
            yield
            return
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()

    def install(self) -> DebugLog:
        """Take over the loggers that TensorFlow, Orbax and JAX write to, and thread crashes."""
        if (previous := installed_debug_log()) is not None:
            previous.close()
        for name in ("", "absl", "jax", "orbax", "tensorflow"):
            logger = logging.getLogger(name)
            logger.handlers = [self]
            logger.propagate = name == ""
        logging.getLogger().setLevel(logging.WARNING)
        log = logging.getLogger("jaxgan.threads")
        threading.excepthook = lambda a: log.error("exception in thread %s", getattr(a.thread, "name", "?"),
                                                   exc_info=(a.exc_type, a.exc_value, a.exc_traceback))

        # TensorStore reports errors of its Python callbacks through sys.excepthook, from any
        # thread; the entry points print their own uncaught errors, so all of these are noise.
        sys.excepthook = lambda *exc_info: log.error("exception in a callback", exc_info=exc_info)
        return self


def installed_debug_log() -> DebugLog | None:
    """The DebugLog a command-line entry point installed, if any."""
    return next((h for h in logging.getLogger().handlers if isinstance(h, DebugLog)), None)
