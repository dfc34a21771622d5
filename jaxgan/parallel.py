"""Parallelism with JAX's SPMD partitioner: batches split over a `data` mesh axis, the state
replicated, and a population's members split over a `members` axis (they never communicate)."""

from __future__ import annotations

import math
import os
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxgan.config import Config
from jaxgan.epoch import state_template
from jaxgan.errors import ConfigError, arg

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
