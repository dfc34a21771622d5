"""Errors that mean 'the user must change something' (CLIs print them as one line, exit 2), and
how a run's failures and interrupts become them.

A message names what the user passed as they passed it: `arg("batch_size", 64)` is
`batch_size=64` from Python and `--batch-size 64` inside `command_line()` (the CLI's voice)."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import gc
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_COMMAND_LINE = contextvars.ContextVar("jaxgan_command_line", default=False)
_UNSET = object()


@contextlib.contextmanager
def command_line() -> Iterator[None]:
    """Within: error messages name command-line flags rather than Python arguments."""
    token = _COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


def arg(name: str, value: Any = _UNSET) -> str:
    """The argument `name` (a Python name), with its value if given, as the caller spells it."""
    if on_command_line():
        text = "--" + name.replace("_", "-")
        return text if value is _UNSET or value is True else f"{text} {value}"
    return name if value is _UNSET else f"{name}={value!r}"


class JaxganError(Exception):
    """Base of all user-facing errors; the message is complete and actionable."""


class ConfigError(JaxganError, ValueError):
    """A configuration or command-line value that cannot work."""


class DataError(JaxganError):
    """The dataset cannot be provided."""


class CheckpointError(JaxganError):
    """No usable checkpoint."""


class IncompatibleCheckpointError(CheckpointError):
    """The checkpoint is readable but was trained with other model shapes."""


class CheckpointSaveError(Exception):
    """A checkpoint could not be written (disk full, I/O error); earlier ones are untouched."""


class EvaluationError(JaxganError):
    """The metrics cannot be computed trustworthily (inputs or classifier)."""


class TrainingError(JaxganError):
    """Training cannot start or continue (existing run, diverged losses, unwritable workdir)."""


def one_line(error: BaseException, limit: int = 200) -> str:
    """An error for a one-line message: jaxgan's own as written, others as `Type: first line`."""
    if isinstance(error, JaxganError):
        return str(error)
    text = str(error)
    return f"{type(error).__name__}: {text.splitlines()[0][:limit] if text else ''}"


def on_command_line() -> bool:
    return _COMMAND_LINE.get()


def kept_checkpoints(last_saved: int) -> str:
    return f"checkpoints up to epoch {last_saved} are intact" if last_saved else "no checkpoint was saved"


@contextlib.contextmanager
def failures_as_one_line(workdir: Path, last_saved: Callable[[], int]) -> Iterator[None]:
    """Disk-full, unwritable-file and out-of-memory failures mid-run, and a lost process of a
    multi-process run, become one TrainingError; the details go to WORKDIR/debug.log."""
    import jax

    try:
        yield
    except Exception as e:
        text = str(e)
        if jax.distributed.is_initialized() and any(s in text for s in LOST_PROCESS):
            reason = f"lost another process of this run ({one_line(e, 160)})"
            advice = f"; start every process again with {arg('resume', True)}"
        elif isinstance(e, (OSError, jax.errors.JaxRuntimeError, CheckpointSaveError)):
            advice = ""
            if "No space left" in text or getattr(e, "errno", None) == errno.ENOSPC:
                reason = f"no space left on the device of {workdir}"
            elif "RESOURCE_EXHAUSTED" in text:
                reason = f"out of device memory (try a smaller {arg('batch_size')} or model)"
            else:
                reason = one_line(e)
        else:
            raise
        logging.getLogger("jaxgan").error("run failed", exc_info=e)
        raise TrainingError(f"training stopped: {reason}; {kept_checkpoints(last_saved())}{advice} "
                            f"(details: {workdir / 'debug.log'})") from None


# What a collective reports when a peer process died (gloo on CPU; the coordination service, also
# through a checkpoint's barrier when the peer dies while the checkpoint is being saved).
LOST_PROCESS = ("Connection closed by peer", "Gloo", "coordination service", "Connection reset by peer",
                "heartbeat timeout", "Barrier failed")


class StopSignals:
    """Ctrl-C and SIGTERM while a run is on. Before its loop they interrupt at once; once `defer`
    is set (the loop, or the whole of a multi-process run), the first only asks for a stop that
    the loop acts on between epochs, and a second aborts at once.

    Raising mid-epoch could land after the state's buffers were donated to the running epoch, and
    in a multi-process run one process would leave the others waiting in a collective: finishing
    the epoch, agreeing on the stop and saving is both safe and what the user wants."""

    def __init__(self, defer: bool = False):
        self.defer = defer
        self.received: list[int] = []

    def __bool__(self) -> bool:
        return bool(self.received)

    def handler(self, signum: int, frame: Any) -> None:
        self.received.append(signum)
        if self.defer and len(self.received) == 1:
            print("\ninterrupt: finishing this epoch and saving a checkpoint (again to abort)", file=sys.stderr)
        elif not _unsafe_to_raise(frame):
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise a stop that was asked for and not yet acted on (see `_unsafe_to_raise`)."""
        if self.received and not self.defer:
            raise KeyboardInterrupt


def _unsafe_to_raise(frame: Any) -> bool:
    """The interrupted code is an import (raising would leave the module half-imported for the
    rest of the process: JAX's, say) or a garbage-collection callback (JAX has one; Python would
    print the KeyboardInterrupt and drop it)."""
    callbacks = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks or frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


_ACTIVE: list[StopSignals] = []


@contextlib.contextmanager
def stop_signals(defer: bool = False) -> Iterator[StopSignals]:
    """`StopSignals` handling SIGINT and SIGTERM in the block (in the main thread only: elsewhere
    Python cannot install handlers, and the caller's own stay). Inside another such block, the
    outer one goes on (deferring if either asks): a stop asked for before the run started (a
    multi-process launch) is still the run's."""
    if _ACTIVE and threading.current_thread() is threading.main_thread():
        outer, was = _ACTIVE[-1], _ACTIVE[-1].defer
        outer.defer = was or defer
        try:
            yield outer
        finally:
            outer.defer = was
        return
    stop = StopSignals(defer)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, stop.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    _ACTIVE.append(stop)
    try:
        yield stop
    finally:
        _ACTIVE.pop()
        for sig, old in previous.items():
            signal.signal(sig, old)
