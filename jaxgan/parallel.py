"""Parallelism with JAX's SPMD partitioner: batches split over a `data` mesh axis, the state
replicated, and a population's members split over a `members` axis (they never communicate)."""

from __future__ import annotations

import math
import os
import socket
import sys
import threading
import time
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxgan.config import Config
from jaxgan.epoch import state_template
from jaxgan.errors import ConfigError, JaxganError, TrainingError, arg
from jaxgan.files import content_digest

DATA_AXIS = "data"
MEMBERS_AXIS = "members"


def make_mesh(num_devices: int | None = None, members: int = 0) -> Mesh:
    """A mesh over the first `num_devices` devices (None: all devices of all hosts).

    For a population of `members`, a 2-D (members, data) mesh: as many devices on the members
    axis as divide both counts, the rest split each member's batches."""
    devices = jax.devices()
    if num_devices is None:
        num_devices = len(devices)
    if not 1 <= num_devices <= len(devices):
        raise ConfigError(
            f"{arg('devices')} must be between 1 and {len(devices)} "
            f"(the devices JAX sees), got {num_devices}"
        )
    if not members:
        return Mesh(np.asarray(devices[:num_devices]), (DATA_AXIS,))
    on_members = math.gcd(members, num_devices)
    grid = np.asarray(devices[:num_devices]).reshape(on_members, num_devices // on_members)
    return Mesh(grid, (MEMBERS_AXIS, DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def member_sharded(mesh: Mesh) -> NamedSharding:
    """Leading (member) axis split over the mesh's members axis."""
    return NamedSharding(mesh, PartitionSpec(MEMBERS_AXIS))


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over the mesh; other axes whole."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_divisible(mesh: Mesh, num_examples: int, batch_size: int, drop_last: bool) -> None:
    """Every batch of an epoch, the partial last one included, must split evenly over devices."""
    n = mesh.shape[DATA_AXIS]
    if batch_size % n:
        raise ConfigError(
            f"{arg('batch_size', batch_size)} is not divisible by the {n} devices; "
            f"choose a multiple of {n} or pass {arg('devices')}"
        )
    rest = num_examples % batch_size
    if not drop_last and rest % n:
        raise ConfigError(
            f"the last batch of each epoch has {rest} examples, not divisible by the "
            f"{n} devices; pass {arg('drop_last', True)} or choose another {arg('batch_size')}"
        )


def host_memory() -> int:
    """The host's physical memory, in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_host_memory(
    count: int, bytes_each: int, name: str, error: type[Exception] = ConfigError
) -> None:
    """Refuse, from arithmetic and before allocating anything, `count` items of `bytes_each` bytes
    (samples, images) that would need more than half of the host memory; `name` says which
    argument asked for them."""
    limit = host_memory() // 2
    if count * bytes_each > limit:
        raise error(
            f"{name} would take {count * bytes_each / 2**30:,.1f} GiB of memory; at most "
            f"{limit // bytes_each:,} fit in half of the host memory ({2 * limit / 2**30:,.1f} GiB)"
        )


def check_fits(config: Config, device: jax.Device, copies: int = 1) -> None:
    """Refuse, before allocating anything, `copies` states (a population's members on one
    device) that cannot fit in the device's memory."""
    shapes = state_template(config)
    state_bytes = copies * sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes))
    params = copies * sum(x.size for x in jax.tree.leaves((shapes.g_params, shapes.d_params)))
    stats = device.memory_stats() if device.platform != "cpu" else None
    available = (stats or {}).get("bytes_limit") or host_memory()
    if 2 * state_bytes > available:  # the state, and the gradients and updates of one step
        what = f"{copies} members' models do" if copies > 1 else "the model does"
        raise ConfigError(
            f"{what} not fit: {params:,} parameters need "
            f"{2 * state_bytes / 2**30:,.1f} GiB to train (weights, Adam moments, "
            f"gradients), more than the {available / 2**30:,.1f} GiB of {device.platform} memory"
        )


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


GPU_DETERMINISM = "--xla_gpu_deterministic_ops=true"


def deterministic_gpu(enabled: bool = True) -> None:
    """Ask XLA for deterministic GPU kernels (no autotuning races, no atomics whose order varies),
    so that the same seed gives the same bits on a GPU too; it must run before JAX starts its
    backend, and changes nothing on CPUs and TPUs. `enabled=False` leaves XLA_FLAGS as they are."""
    flags = os.environ.get("XLA_FLAGS", "")
    if enabled and "xla_gpu_deterministic_ops" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {GPU_DETERMINISM}".strip()


def to_host(tree: Any) -> Any:
    """Every array of `tree` whole, as numpy: one copy of a replicated array; one split over
    several processes (a population's members) gathered from all, so all must call this."""

    def whole(x: Any) -> np.ndarray:
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return np.asarray(x)
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return jax.device_get(tree) if jax.process_count() == 1 else jax.tree.map(whole, tree)
