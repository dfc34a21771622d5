"""Stop signals: when a Ctrl-C or SIGTERM interrupts at once and when it waits for a safe point."""

from __future__ import annotations

import gc
import importlib
import os
import signal
import sys

import pytest

from jaxgan.signals import stop_signals


def test_a_stop_before_the_loop_interrupts_and_a_deferred_one_waits_for_a_second():
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), stop_signals():
        os.kill(os.getpid(), signal.SIGINT)
    with stop_signals() as stop:
        stop.defer = True
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop and stop.received == [signal.SIGTERM]
        stop.check()  # deferred: the loop acts on it at the epoch's end
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the second aborts at once
    assert (
        signal.getsignal(signal.SIGINT),
        signal.getsignal(signal.SIGTERM),
    ) == handlers  # the caller's, back


def test_an_inner_block_shares_the_outer_stop():
    with stop_signals(defer=True) as outer:
        os.kill(os.getpid(), signal.SIGINT)  # e.g. a multi-process run stopped while it starts
        with stop_signals() as inner:
            assert inner is outer and inner.defer and inner
        assert outer.defer


def test_a_stop_during_a_gc_callback_or_an_import_is_raised_after_it(tmp_path, monkeypatch):
    raised = []

    def callback(phase, info):
        if phase == "start" and not raised:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                raised.append(False)
            except KeyboardInterrupt:
                raised.append(True)

    (tmp_path / "slow_module.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nDONE = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with stop_signals() as stop:
        gc.callbacks.append(callback)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(callback)
        assert raised == [False] and stop  # Python would print a KeyboardInterrupt here and drop it
        with pytest.raises(KeyboardInterrupt):
            stop.check()
        stop.received.clear()
        module = importlib.import_module("slow_module")  # not left half-imported
        assert module.DONE and stop
    del sys.modules["slow_module"]
