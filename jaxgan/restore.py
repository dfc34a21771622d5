"""What a path given to the tools names: a run's newest checkpoint, one saved checkpoint, a
population member's folder, or a whole population."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jaxgan.checkpoint import make_manager, restore_epoch, restore_latest
from jaxgan.errors import CheckpointError, IncompatibleCheckpointError, one_line
from jaxgan.members import Members, member_state, restore_members
from jaxgan.population import MEMBER_FILE, POPULATION_FILE, Population
from jaxgan.step import GANState


def is_population(path: str | Path) -> bool:
    return (Path(path) / POPULATION_FILE).is_file() and (Path(path) / "checkpoints").is_dir()


def restore_population(path: str | Path) -> tuple[Members, dict[str, Any], Population]:
    """A population's newest readable checkpoint, from its workdir."""
    return restore_members(Path(path) / "checkpoints")


def restore_member(path: Path) -> tuple[GANState, dict[str, Any]]:
    """One member of a population, from its folder WORKDIR/members/<id>/, as a single run's state."""
    try:
        record = json.loads((path / MEMBER_FILE).read_text())
        index, member_id = int(record["index"]), str(record["id"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path / MEMBER_FILE} is unreadable ({one_line(e)})") from None
    members, meta, population = restore_population(path.parent.parent)
    listed = population.members()
    if not 0 <= index < len(listed) or listed[index].id != member_id:
        raise CheckpointError(f"{path} names member {member_id!r}, which its population does not have")
    member = listed[index]
    return member_state(members, index, member.config), {**meta, "config": member.config.to_json(),
                                                          "member": member.id}


def restore_path(path: str | Path) -> tuple[GANState, dict[str, Any]]:
    """A single run's state, from its workdir, its checkpoints/ folder, one saved step's folder
    or a population member's folder."""
    path = Path(path)
    if (path / MEMBER_FILE).is_file():
        return restore_member(path)
    if is_population(path):
        raise IncompatibleCheckpointError(f"{path} is a population; open one member's folder "
                                          f"({path / 'members'}/ID)")
    if (path / "checkpoints").is_dir():
        return restore_latest(path / "checkpoints")
    if path.name.isdigit() and path.is_dir():
        manager = make_manager(path.parent, read_only=True)
        try:
            return restore_epoch(manager, int(path.name))
        except IncompatibleCheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(f"checkpoint {path} is unreadable ({one_line(e)})") from None
    return restore_latest(path)
