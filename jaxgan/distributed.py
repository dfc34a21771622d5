"""A run of several processes: joining it (a local launch checked before JAX's runtime can abort
the process, or what the cluster says), and the decisions every process must take together."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxgan.errors import ConfigError, JaxganError, TrainingError, arg
from jaxgan.files import content_digest

# The distributed runtime's timeouts. A lost process usually surfaces at once, as a collective
# whose peer closed its connection; a process that hangs is declared dead after HEARTBEAT_S.
CONNECT_TIMEOUT_S = 60


HEARTBEAT_S = 30


SHUTDOWN_S = 10


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: int = CONNECT_TIMEOUT_S,
) -> None:
    """Join a multi-process run: with any of the three given (or set as JAX_COORDINATOR_ADDRESS,
    JAX_NUM_PROCESSES, JAX_PROCESS_ID), exactly those; with none, what the cluster tells JAX
    (SLURM, Cloud TPU, MPI). CPU processes talk over gloo."""
    env = {
        "coordinator_address": os.environ.get("JAX_COORDINATOR_ADDRESS"),
        "num_processes": os.environ.get("JAX_NUM_PROCESSES"),
        "process_id": os.environ.get("JAX_PROCESS_ID"),
    }
    given = {
        "coordinator_address": coordinator_address,
        "num_processes": num_processes,
        "process_id": process_id,
    }
    values = {k: v if v is not None else env[k] for k, v in given.items()}
    timeouts = dict(
        initialization_timeout=timeout_s,
        heartbeat_timeout_seconds=HEARTBEAT_S,
        shutdown_timeout_seconds=SHUTDOWN_S,
    )
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    # JAX's preemption service catches SIGTERM natively, out of Python's reach: jaxgan's own
    # stop, agreed by all processes at an epoch's end, handles it like Ctrl-C.
    jax.config.update("jax_enable_preemption_service", False)
    if all(v is None for v in values.values()):
        try:
            jax.distributed.initialize(**timeouts)
        except Exception as e:  # no cluster found
            raise ConfigError(
                f"{arg('distributed')}: jax.distributed.initialize() failed ({e}); pass "
                f"{arg('coordinator_address')}, {arg('num_processes')} and {arg('process_id')} "
                f"(or set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID), "
                f"or run under SLURM or on Cloud TPU"
            ) from None
        return
    address, count, index = _checked_launch(values)
    deadline = time.monotonic() + timeout_s
    if index == 0:
        _check_port_free(address)
    else:
        _wait_for(address, timeout_s)
    # JAX aborts the process (a native stack, no Python error) when the processes do not all
    # join within its timeout: jaxgan's own deadline comes first and ends it with one line.
    missing = (
        f"the run's {count} processes did not all join within {timeout_s:g} s: start each with "
        "the same "
        f"{arg('coordinator_address')} {address} and {arg('num_processes')} {count}, and its own "
        f"{arg('process_id')} in 0 .. {count - 1} (see {arg('connect_timeout')})"
    )
    watchdog = threading.Timer(max(deadline - time.monotonic(), 0.1), _exit_with, (missing,))
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(
            address, count, index, **{**timeouts, "initialization_timeout": timeout_s + 30}
        )
    finally:
        watchdog.cancel()
    check_same_on_every_process(
        content_digest(np.int64(count)), f"another {arg('num_processes')} than process 0's {count}"
    )


def _exit_with(message: str) -> None:
    """End the process from a watchdog thread, while the main thread waits in native code."""
    print(
        f"{os.path.basename(sys.argv[0]) or 'jaxgan'}: error: {message}",
        file=sys.stderr,
        flush=True,
    )
    os._exit(2)


def _checked_launch(values: dict) -> tuple[str, int, int]:
    if missing := [k for k, v in values.items() if v is None]:
        raise ConfigError(
            f"a distributed launch needs {', '.join(arg(k) for k in missing)} too "
            f"(or JAX_{'/JAX_'.join(k.upper() for k in missing)})"
        )
    address = str(values["coordinator_address"])
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{arg('coordinator_address')} must be HOST:PORT, got {address!r}")
    try:
        count, index = int(values["num_processes"]), int(values["process_id"])
    except ValueError:
        raise ConfigError(
            f"{arg('num_processes')} and {arg('process_id')} must be integers, got "
            f"{values['num_processes']!r} and {values['process_id']!r}"
        ) from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(
            f"{arg('process_id')} must be in 0 .. {arg('num_processes')} - 1 = {count - 1}, "
            f"got {index}"
        )
    return address, count, index


def _check_port_free(address: str) -> None:
    """Process 0's coordinator listens on the port on every interface; a port already taken
    crashes JAX's service natively (a segfault), so it is tried first."""
    port = int(address.rpartition(":")[2])
    try:
        probe, host = socket.socket(socket.AF_INET6), "::"
    except OSError:  # a host without IPv6
        probe, host = socket.socket(socket.AF_INET), "0.0.0.0"
    with probe:
        probe.setsockopt(
            socket.SOL_SOCKET, socket.SO_REUSEADDR, 1
        )  # a recently closed run's port is free
        try:
            probe.bind((host, port))
        except OSError as e:
            raise ConfigError(
                f"the coordinator cannot listen on port {port} of {arg('coordinator_address')} "
                f"{address} ({e.strerror or e}): another program holds it; choose another port"
            ) from None


def _wait_for(address: str, timeout_s: float) -> None:
    """Process 0 hosts the coordinator: the others wait for it to listen (JAX would abort)."""
    host, _, port = address.rpartition(":")
    end = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
            return
        except OSError as e:
            if time.monotonic() > end:
                raise ConfigError(
                    f"the coordinator {address} cannot be reached ({e.strerror or e}) within "
                    f"{timeout_s:g} s; start process 0 first, or check "
                    f"{arg('coordinator_address')}"
                ) from None
            time.sleep(0.2)


def check_same_on_every_process(
    digest: str, differs: str = "other settings, seeds or data than process 0"
) -> None:
    """Refuse a run whose processes were started differently (flags, seeds, data): compared by
    the digest of everything that decides the run, before any work."""
    if jax.process_count() == 1:
        return
    mine = np.frombuffer(bytes.fromhex(digest), np.uint8)
    every = np.asarray(multihost_utils.process_allgather(mine))
    if differ := [i for i in range(len(every)) if not np.array_equal(every[i], every[0])]:
        raise ConfigError(
            f"process{'es' * (len(differ) > 1)} {', '.join(map(str, differ))} "
            f"{'were' if len(differ) > 1 else 'was'} started with {differs}; start every "
            f"process with the same flags and data"
        )


def any_process(flag: bool) -> bool:
    """`flag` of any process: one decision that every process takes at the same point (a stop
    asked of one process is the stop of all). Every process must call it."""
    if jax.process_count() == 1:
        return flag
    return bool(np.asarray(multihost_utils.process_allgather(np.int32(flag))).any())


def on_process_0(fn):
    """`fn()` on process 0 (None elsewhere); when it raises a jaxgan error there, every other
    process raises too, rather than waiting for process 0 in the next collective."""
    if jax.process_count() == 1:
        return fn()
    result, error = None, None
    if jax.process_index() == 0:
        try:
            result = fn()
        except JaxganError as e:
            error = e
    ok = int(multihost_utils.broadcast_one_to_all(np.int32(error is None)))
    if error is not None:
        raise error
    if not ok:
        raise TrainingError("process 0 refused to start the run (its output says why)")
    return result
