"""Ctrl-C and SIGTERM while jaxgan works: deferred to an epoch's end while a run trains (so the
stop saves a checkpoint, and every process of a multi-process run stops at the same epoch), and
never raised inside an import or a garbage-collection callback."""

from __future__ import annotations

import contextlib
import gc
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any


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
            print(
                "\ninterrupt: finishing this epoch and saving a checkpoint (again to abort)",
                file=sys.stderr,
            )
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


class StoppedAndSaved(KeyboardInterrupt):
    """A stop that a signal asked for, that every process of the run agreed to and carried out:
    the checkpoint is saved and every process is alive to leave the run in order."""
