"""Orbax checkpoints of a run: the full GAN state plus a JSON record (config, epoch, RNG key).

Orbax writes each checkpoint into a temporary folder and renames it when complete, so a run killed
at any moment, mid-save included, leaves the earlier checkpoints restorable.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxgan.config import Config
from jaxgan.debuglog import quiet_native_output
from jaxgan.epoch import state_template
from jaxgan.errors import (
    CheckpointError,
    CheckpointSaveError,
    IncompatibleCheckpointError,
    arg,
    on_command_line,
    one_line,
)
from jaxgan.files import content_digest
from jaxgan.parallel import to_host
from jaxgan.record import FORMAT_VERSION, CheckpointRecord, record_digest, verified


def state_digest(state: Any) -> str:
    """sha256 of every array of the state, whole (see `to_host`)."""
    return content_digest(*jax.tree.leaves(to_host(state)))


def checkpoint_dir(workdir: str | Path) -> Path:
    return Path(workdir).absolute() / "checkpoints"


def make_manager(
    directory: str | Path, keep: int | None = None, read_only: bool = False
) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep,
        create=not read_only,
        read_only=read_only,
        cleanup_tmp_directories=not read_only,
        enable_async_checkpointing=False,
    )
    return ocp.CheckpointManager(
        Path(directory).absolute(), options=options, item_names=("state", "meta")
    )


def save(
    manager: ocp.CheckpointManager,
    state: Any,
    *,
    epoch: int,
    config: Config,
    run_key: jax.Array,
    extra: dict[str, Any] | None = None,
) -> None:
    """Save `state` (a GANState, or a population's stacked one) after `epoch` completed epochs.
    The epoch count is the checkpoint's name."""
    meta = {
        "format": FORMAT_VERSION,
        "epoch": epoch,
        "step": int(np.max(to_host(state.step))),  # a population's: its furthest member's
        "run_key": np.asarray(jax.random.key_data(run_key)).tolist(),
        "config": config.to_json(),
        "state_sha256": state_digest(state),
        **(extra or {}),
    }
    meta["record_sha256"] = record_digest(meta)
    try:
        with quiet_native_output():
            manager.save(
                epoch,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
                ),
                force=True,
            )
            manager.wait_until_finished()
    except Exception as e:
        for tmp in Path(manager.directory).glob(f"{epoch}.orbax-checkpoint-tmp*"):
            shutil.rmtree(tmp, ignore_errors=True)  # the unfinished save, to give the space back
        raise CheckpointSaveError(f"saving checkpoint {epoch} failed: {e}") from e


def read_record(manager: ocp.CheckpointManager, epoch: int) -> CheckpointRecord:
    """The record of checkpoint `epoch`, verified (`record.verified`)."""
    meta = manager.restore(epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    return verified(meta, epoch)


def _structure(config: Config) -> list[tuple[str, tuple[int, ...], str]]:
    leaves = jax.tree_util.tree_flatten_with_path(state_template(config))[0]
    return [(jax.tree_util.keystr(path), x.shape, str(x.dtype)) for path, x in leaves]


def structure_changes(saved: Config, asked: Config) -> list[str]:
    """The fields whose change alone gives the state other arrays: a checkpoint of `saved`
    cannot continue as `asked` if any is listed."""
    base = _structure(saved)
    if base == _structure(asked):
        return []
    return [
        f.name
        for f in dataclasses.fields(Config)
        if getattr(saved, f.name) != getattr(asked, f.name)
        and _structure(saved.replace(**{f.name: getattr(asked, f.name)})) != base
    ]


def _describe(config: Config, name: str) -> str:
    value = getattr(config, name)
    if isinstance(value, bool) and on_command_line():
        return f"{'with' if value else 'without'} {arg(name)}"
    return arg(name, value)


def restore_epoch(
    manager: ocp.CheckpointManager, epoch: int, expected: Config | None = None, template: Any = None
) -> tuple[Any, CheckpointRecord]:
    """The state and record saved after `epoch`, as `expected` (default: its own config), into
    `template`'s arrays (or those of `template(saved_config)`; default: a single run's state)."""
    record = read_record(manager, epoch)
    saved = record.config
    if (template is None or callable(template)) and record.population is not None:
        raise IncompatibleCheckpointError(
            f"checkpoint {epoch} holds a population; open one member's folder (WORKDIR/members/ID)"
        )
    if callable(template):
        template = template(saved)
    stored = Path(manager.directory) / str(epoch) / "state"
    changed = structure_changes(saved, expected) if expected is not None else []
    if template is None:  # the record's config must fit its arrays before it is compared with yours
        corrupt = stored_shapes(stored) != _shapes(state_template(saved))
    else:  # the arrays fit your template exactly when the record names your structure, or it lies
        corrupt = (stored_shapes(stored) == _shapes(template)) == bool(changed)
    if corrupt:
        raise CheckpointError(
            "its arrays' shapes do not match its record's config: corrupt or edited"
        )
    if changed:
        raise IncompatibleCheckpointError(
            f"this run was trained {', '.join(_describe(saved, f) for f in changed)}; you passed "
            f"{', '.join(_describe(expected, f) for f in changed)}, which changes the model's "
            "arrays"
        )
    template = template or state_template(expected or saved)
    placed = placed_on_this_host(template)
    with quiet_native_output():
        restored = manager.restore(
            epoch, args=ocp.args.Composite(state=ocp.args.StandardRestore(placed))
        )["state"]
    if state_digest(restored) != record.state_sha256:
        raise CheckpointError("its arrays do not match the digest in its record: corrupt")
    if (step := int(np.max(to_host(restored.step)))) != record.step:
        raise CheckpointError(f"its record says step {record.step}, its state {step}: corrupt")
    return restored, record


def _shapes(tree: Any) -> dict[tuple[str, ...], tuple[tuple[int, ...], str]]:
    """Each array's path (as names), shape and dtype."""

    def names(path: tuple) -> tuple[str, ...]:
        return tuple(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path)

    return {
        names(p): (tuple(x.shape), str(x.dtype))
        for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]
    }


def stored_shapes(directory: Path) -> dict[tuple[str, ...], tuple[tuple[int, ...], str]]:
    """Each saved array's path, shape and dtype, from Orbax's metadata (no array is read)."""
    stored = ocp.StandardCheckpointer().metadata(directory).item_metadata
    return _shapes(getattr(stored, "tree", stored))


def placed_on_this_host(template: Any) -> Any:
    """`template`'s shapes, to be restored onto this process's devices however many devices wrote
    them: replicated over all devices of all hosts (one device when there is one process). The
    loop then places the state on its own mesh."""
    if jax.process_count() == 1:
        sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    else:
        mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ("all",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), template
    )


def _newest(
    directory: str | Path,
    read: Callable[[ocp.CheckpointManager, int], Any],
    *,
    epoch: int | None = None,
    warn: bool = True,
) -> Any:
    """`read(manager, epoch)` of the newest checkpoint in `directory` (or of `epoch` alone) that
    reads; the others are skipped, with a warning each. An incompatible one stops the search."""
    directory = Path(directory)
    manager = make_manager(directory, read_only=True) if directory.is_dir() else None
    tried = [
        e
        for e in sorted(manager.all_steps() if manager else [], reverse=True)
        if epoch in (None, e)
    ]
    if not tried:
        raise CheckpointError(
            f"no checkpoints in {directory}"
            if epoch is None
            else f"no checkpoint {directory / str(epoch)}"
        )
    for candidate in tried:
        try:
            return read(manager, candidate)
        except IncompatibleCheckpointError:
            raise
        except Exception as e:  # truncated or corrupt files surface as many exception types
            if epoch is not None:
                raise CheckpointError(
                    f"checkpoint {directory / str(epoch)} is unreadable ({one_line(e)})"
                ) from None
            if warn:
                print(
                    f"warning: checkpoint {directory / str(candidate)} is unreadable "
                    f"({one_line(e)}); "
                    f"trying an older one",
                    file=sys.stderr,
                )
    raise CheckpointError(f"no readable checkpoint in {directory} (tried {len(tried)})")


def restore_latest(
    directory: str | Path,
    expected: Config | None = None,
    template: Any = None,
    epoch: int | None = None,
) -> tuple[Any, CheckpointRecord]:
    """The state and record of the newest checkpoint in `directory` that restores (or of `epoch`);
    corrupt ones are skipped with a warning."""
    return _newest(
        directory,
        functools.partial(restore_epoch, expected=expected, template=template),
        epoch=epoch,
    )


def saved_record(
    directory: str | Path,
    read: Callable[[ocp.CheckpointManager, int], CheckpointRecord] = read_record,
    warn: bool = False,
) -> CheckpointRecord:
    """The record of the newest checkpoint whose record reads (by `read`: `read_record`, or one
    that checks more): the run's own config and more; `warn`: one line per newer one skipped."""
    return _newest(directory, read, warn=warn)


def set_aside_newer(directory: str | Path, epoch: int) -> list[Path]:
    """Move checkpoints newer than `epoch` (unreadable ones skipped on resume) out of the way.

    They are kept, renamed into WORKDIR/unreadable_checkpoints/, for inspection; a resumed run
    will save new checkpoints under their names.
    """
    directory = Path(directory)
    moved = []
    for path in sorted(directory.iterdir()):
        if path.name.isdigit() and int(path.name) > epoch:
            target = directory.parent / "unreadable_checkpoints" / f"{path.name}-{time.time_ns()}"
            target.parent.mkdir(exist_ok=True)
            path.rename(target)
            moved.append(target)
    return moved


def save_tree(path: Path, tree: Any) -> None:
    """One pytree of arrays (the evaluation classifier's parameters), written to a temporary
    folder and renamed when complete."""
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(path, tree, force=True)


def restore_tree(path: Path, template: Any) -> Any:
    """The pytree `save_tree` wrote, as `template`'s arrays, on this process's devices."""
    with ocp.StandardCheckpointer() as ckpt, quiet_native_output():
        return ckpt.restore(path, placed_on_this_host(template))
