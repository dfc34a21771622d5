"""Errors that mean 'the user must change something' (CLIs print them as one line, exit 2), the
checks of Python arguments that raise them, and how a run's failures become them.

A message names what the user passed as they passed it: `arg("batch_size", 64)` is
`batch_size=64` from Python and `--batch-size 64` inside `command_line()` (the CLI's voice)."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import logging
import os
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


def check_type(value: Any, kind: type, name: str) -> Any:
    """`value` if it is a `kind`, else a ConfigError naming the argument `name`."""
    if not isinstance(value, kind):
        raise ConfigError(
            f"{arg(name)} must be a {kind.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def checked_path(value: Any, name: str) -> Path:
    """A path argument (a str or os.PathLike, not empty) as a Path, else a ConfigError naming `name`."""
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ConfigError(
            f"{arg(name)} must be a path (a str or pathlib.Path, not empty), got {value!r}"
        )
    return Path(value)


def one_line(error: BaseException, limit: int = 200) -> str:
    """An error for a one-line message: jaxgan's own as written, others as `Type: first line`."""
    if isinstance(error, JaxganError):
        return str(error)
    text = str(error)
    return f"{type(error).__name__}: {text.splitlines()[0][:limit] if text else ''}"


def on_command_line() -> bool:
    return _COMMAND_LINE.get()


def kept_checkpoints(last_saved: int) -> str:
    return (
        f"checkpoints up to epoch {last_saved} are intact"
        if last_saved
        else "no checkpoint was saved"
    )


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
        raise TrainingError(
            f"training stopped: {reason}; {kept_checkpoints(last_saved())}{advice} "
            f"(details: {workdir / 'debug.log'})"
        ) from None


# What a collective reports when a peer process died (gloo on CPU; the coordination service, also
# through a checkpoint's barrier when the peer dies while the checkpoint is being saved).
LOST_PROCESS = (
    "Connection closed by peer",
    "Gloo",
    "coordination service",
    "Connection reset by peer",
    "heartbeat timeout",
    "Barrier failed",
)
