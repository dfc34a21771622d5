"""What stops a run cleanly: diverged losses, Ctrl-C or SIGTERM between epochs, and disk-full or
out-of-memory failures, each reported as one line that says which checkpoints survive."""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import numpy as np

from jaxgan.checkpoint import CheckpointSaveError
from jaxgan.errors import TrainingError, one_line


def _kept(last_saved: int) -> str:
    return f"checkpoints up to epoch {last_saved} are intact" if last_saved else "no checkpoint was saved"


@contextlib.contextmanager
def failures_as_one_line(workdir: Path, last_saved: Callable[[], int]) -> Iterator[None]:
    """Disk-full, unwritable-file and out-of-memory failures mid-run become one TrainingError;
    the details go to WORKDIR/debug.log."""
    try:
        yield
    except (OSError, jax.errors.JaxRuntimeError, CheckpointSaveError) as e:
        logging.getLogger("jaxgan").error("run failed", exc_info=e)
        text = str(e)
        if "No space left" in text or getattr(e, "errno", None) == errno.ENOSPC:
            reason = f"no space left on the device of {workdir}"
        elif "RESOURCE_EXHAUSTED" in text:
            reason = "out of device memory (try a smaller --batch-size or model)"
        else:
            reason = one_line(e)
        raise TrainingError(f"training stopped: {reason}; {_kept(last_saved())} "
                            f"(details: {workdir / 'debug.log'})") from None


def check_finite(metrics: dict[str, np.ndarray], epoch: int, last_saved: int) -> None:
    """Stop at the first epoch whose losses became NaN or infinite."""
    bad = [k for k in ("d_loss", "g_loss") if not np.all(np.isfinite(metrics[k]))]
    if bad:
        step = int(np.argmin(np.isfinite(metrics[bad[0]])))
        raise TrainingError(f"{bad[0]} became NaN/Inf in epoch {epoch} at batch {step}; training "
                            f"stopped and {_kept(last_saved)}")


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[list[int]]:
    """Turn the first Ctrl-C (or SIGTERM) into a flag the loop acts on between epochs.

    Raising mid-epoch could land after the state's buffers were donated to the running epoch;
    finishing the epoch and saving it is both safe and what the user wants. A second Ctrl-C
    aborts at once.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        print("\ninterrupt: finishing this epoch and saving a checkpoint (again to abort)",
              file=sys.stderr)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
