"""Parallelism with JAX's SPMD partitioner: batches split over a `data` mesh axis, the state
replicated, and a population's members split over a `members` axis (they never communicate)."""

from __future__ import annotations

import math
import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxgan.checkpoint import state_template
from jaxgan.config import Config
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
        raise ConfigError(f"{arg('devices')} must be between 1 and {len(devices)} "
                          f"(the devices JAX sees), got {num_devices}")
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
        raise ConfigError(f"{arg('batch_size', batch_size)} is not divisible by the {n} devices; "
                          f"choose a multiple of {n} or pass {arg('devices')}")
    rest = num_examples % batch_size
    if not drop_last and rest % n:
        raise ConfigError(f"the last batch of each epoch has {rest} examples, not divisible by the "
                          f"{n} devices; pass {arg('drop_last', True)} or choose another {arg('batch_size')}")


def check_fits(config: Config, device: jax.Device, copies: int = 1) -> None:
    """Refuse, before allocating anything, `copies` states (a population's members on one
    device) that cannot fit in the device's memory."""
    shapes = state_template(config)
    state_bytes = copies * sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes))
    params = copies * sum(x.size for x in jax.tree.leaves((shapes.g_params, shapes.d_params)))
    stats = device.memory_stats() if device.platform != "cpu" else None
    available = (stats or {}).get("bytes_limit") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if 2 * state_bytes > available:  # the state, and the gradients and updates of one step
        what = f"{copies} members' models do" if copies > 1 else "the model does"
        raise ConfigError(f"{what} not fit: {params:,} parameters need "
                          f"{2 * state_bytes / 2**30:,.1f} GiB to train (weights, Adam moments, "
                          f"gradients), more than the {available / 2**30:,.1f} GiB of {device.platform} memory")
