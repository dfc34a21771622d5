"""Where third-party output goes: library log records, Python warnings, background-thread
tracebacks and what native code prints go to a run's debug.log, not the user's terminal; jaxgan
reports a failure itself, as one line."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class DebugLog(logging.Handler):
    """Where third-party log records and background-thread tracebacks go instead of the terminal:
    held in memory until `attach` names a file (WORKDIR/debug.log), then written there."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._pending: list[str] = []
        self._file = None
        self._between_runs = False

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record) + "\n"
        if self._file is not None:
            self._file.write(text)
            self._file.flush()
        elif not self._between_runs:
            self._pending = self._pending[-1000:] + [text]

    def begin(self) -> None:
        """A run begins: its records are held until `attach` names its file."""
        self._between_runs = False

    def detach(self) -> None:
        """A run has ended: its file is closed, and records until the next run begins belong to
        none (a notebook's own work) and are dropped."""
        self._close_file()
        self._pending, self._between_runs = [], True

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def attach(self, path: Path) -> None:
        self._close_file()
        try:
            self._file = open(path, "a")
        except OSError:
            return
        self._file.writelines(self._pending)
        self._pending = []

    @contextlib.contextmanager
    def native_stderr(self) -> Iterator[None]:
        """Send file descriptor 2 to the debug log for the block: native libraries (TensorStore
        under Orbax) print Python tracebacks of their failed callbacks straight to it. Before
        `attach`, what they print is held with the pending records."""
        target = self._file or tempfile.TemporaryFile("w+")
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(target.fileno(), 2)
        python_stderr = sys.stderr
        if _writes_to_fd_2(
            python_stderr
        ):  # jaxgan's own lines (a Ctrl-C's notice) still reach the user
            sys.stderr = open(saved, "w", closefd=False)
        try:
            yield
        finally:
            sys.stderr.flush()
            sys.stderr = python_stderr
            os.dup2(saved, 2)
            os.close(saved)
            if target is not self._file:
                target.seek(0)
                self._pending = (self._pending + target.readlines())[-1000:]
                target.close()

    def close(self) -> None:
        self._close_file()
        super().close()

    def install(self, whole_process: bool = True) -> DebugLog:
        """Take over the loggers that TensorFlow, Orbax and JAX write to; for a command-line tool
        (`whole_process`) also the root logger, Python warnings and thread crashes."""
        if (previous := installed_debug_log()) is not None:
            previous.close()
        for name in ("", "absl", "jax", "orbax", "tensorflow", "py.warnings")[1 - whole_process :]:
            logger = logging.getLogger(name)
            # A tool owns the process's logging; a program's own handlers (a notebook's) stay.
            logger.handlers = [self] if whole_process else [*logger.handlers, self]
            logger.propagate = name == ""
        if not whole_process:  # a notebook's or a program's own logging and hooks stay its own
            return self
        logging.getLogger().setLevel(logging.WARNING)
        logging.captureWarnings(True)  # Python warnings of libraries (JAX's cache, say): logged too
        log = logging.getLogger("jaxgan.threads")
        threading.excepthook = lambda a: log.error(
            "exception in thread %s",
            getattr(a.thread, "name", "?"),
            exc_info=(a.exc_type, a.exc_value, a.exc_traceback),
        )

        # TensorStore reports errors of its Python callbacks through sys.excepthook, from any
        # thread; the entry points print their own uncaught errors, so all of these are noise.
        sys.excepthook = lambda *exc_info: log.error("exception in a callback", exc_info=exc_info)
        return self


def _writes_to_fd_2(stream: Any) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a test's or a notebook's capture
        return False


def installed_debug_log() -> DebugLog | None:
    """The DebugLog installed by a command-line entry point or by the Python API, if any."""
    return next((h for h in logging.getLogger("absl").handlers if isinstance(h, DebugLog)), None)


def quiet_libraries() -> DebugLog:
    """For the Python API: the libraries' log records go to the debug log (a run's debug.log),
    not to a notebook's output; what a command-line tool installed stays."""
    return installed_debug_log() or DebugLog().install(whole_process=False)


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """What native libraries print to file descriptor 2 in the block (TensorFlow's C++ warnings,
    TensorStore's callback tracebacks under Orbax) goes to the debug log an entry point installed,
    not the terminal: jaxgan reports the failure itself as one line."""
    debug_log = installed_debug_log()
    with debug_log.native_stderr() if debug_log else contextlib.nullcontext():
        yield


def quiet_tensorflow() -> None:
    """TensorFlow only decodes records and writes summaries here: keep its start-up banners off
    the user's screen, and the GPU JAX's (the settings apply at TensorFlow's import)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
