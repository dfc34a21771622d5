"""What a checkpoint says of itself, stored as JSON beside its arrays: the epoch, step, config,
keys and the digests that prove the record and the arrays were not edited."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from jaxgan.config import Config
from jaxgan.errors import CheckpointError, ConfigError

# The layout of the state and its record; other formats are refused, not converted.
FORMAT_VERSION = 4


def record_digest(meta: dict[str, Any]) -> str:
    """sha256 of the record's canonical JSON, less its own digest: what proves the config, epoch,
    step and keys were not edited."""
    body = {k: v for k, v in meta.items() if k != "record_sha256"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


@dataclasses.dataclass(frozen=True)
class CheckpointRecord:
    """What a checkpoint says of itself (stored as JSON beside the arrays, verified at restore)."""

    epoch: int  # epochs completed: the checkpoint folder's name
    step: int  # steps completed
    config: Config  # the run's config (a population member's: its own)
    state_sha256: str  # of the state's arrays, checked against them at restore
    run_key: list[int]  # key_data(key(seed))
    format: int
    member: str | None = None  # a population member's id
    population: dict[str, Any] | None = None  # a population's spec (its whole checkpoint)
    # a population's failed members
    failures: dict[str, Any] = dataclasses.field(default_factory=dict)


def verified(meta: Any, epoch: int) -> CheckpointRecord:
    """The record read from checkpoint `epoch`, verified: its digest, its epoch against the
    folder's name, its step and config against their types. A record that fails is a corrupt
    checkpoint."""
    if not isinstance(meta, dict) or "config" not in meta:
        raise CheckpointError(f"checkpoint {epoch} has no jaxgan record")
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {epoch} has record format {meta.get('format')!r}, not "
            f"{FORMAT_VERSION}: written by another jaxgan version, it cannot be read"
        )
    if meta.get("record_sha256") != record_digest(meta):
        raise CheckpointError("its record does not match its digest: corrupt or edited")
    if meta.get("epoch") != epoch or type(meta["epoch"]) is not int:
        raise CheckpointError(
            f"its record says epoch {meta.get('epoch')!r}, its folder {epoch}: corrupt or edited"
        )
    if (
        type(meta.get("step")) is not int
        or meta["step"] < epoch
        or not isinstance(meta["config"], dict)
    ):
        raise CheckpointError(
            f"its record's step {meta.get('step')!r} or config is malformed: corrupt"
        )
    try:  # a record that passes its digest but not the config's checks was edited (or is another version's)
        config = Config.from_json(meta["config"])
    except ConfigError as e:
        raise CheckpointError(f"its record's config is invalid ({e})") from None
    fields = {f.name for f in dataclasses.fields(CheckpointRecord)}
    return CheckpointRecord(
        **{k: v for k, v in meta.items() if k in fields and k != "config"}, config=config
    )
