"""Run directories that jaxgan owns: marked, locked while a run uses them, and cleared only of the
files jaxgan wrote there (the marker's manifest), never of anything else."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jaxgan.errors import CheckpointError, TrainingError, arg, one_line
from jaxgan.files import write_json_atomic

if TYPE_CHECKING:
    from jaxgan.population import Population

MARKER = "jaxgan-run.json"
LOCK = ".jaxgan.lock"
MEMBER_FILE = "member.json"  # in WORKDIR/members/<id>/: which member of ../.. the folder is
POPULATION_FILE = "population.json"  # in the population's workdir: the spec and the members
FORMAT = 1
OWN_FOLDERS = ("images", "tensorboard", "checkpoints", "unreadable_checkpoints", "members")
OWN_FILES = (
    MARKER,
    LOCK,
    "config.json",
    "metrics.jsonl",
    "debug.log",
    "population.json",
    "member.json",
)


def check_writable(path: Path) -> None:
    """Fail before any work if `path` cannot be created or written (nothing is created here)."""
    if path.is_symlink() and not path.exists():
        raise TrainingError(
            f"workdir {path} is a symlink to {os.readlink(path)}, which does not exist"
        )
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        what = "is not a directory" if not existing.is_dir() else "is not writable"
        raise TrainingError(f"workdir {path} is not writable: {existing} {what}")


def workdir_of(path: str | Path) -> Path | None:
    """The run directory a workdir, its checkpoints/ folder or one checkpoint belongs to."""
    path = Path(path).absolute()
    for candidate in (path, path.parent, path.parent.parent):
        if (candidate / MARKER).is_file():
            return candidate
    return None


def links_out(path: Path) -> list[Path]:
    """The paths jaxgan writes in the run at `path` (and in its members' folders) that are
    symlinks leading out of it: writing there would change files that are not the run's."""
    root, found = path.resolve(), []
    folders = [path, *(sorted((path / "members").iterdir()) if (path / "members").is_dir() else [])]
    for folder in folders:
        for candidate in ([] if folder == path else [folder]) + [
            folder / name for name in OWN_FOLDERS + OWN_FILES
        ]:
            if candidate.is_symlink() and root not in candidate.resolve().parents:
                found.append(candidate)
    return found


def has_checkpoints(folder: Path) -> bool:
    """`folder` (a run's checkpoints/) holds at least one saved epoch."""
    return folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir())


class Workdir:
    """A workdir jaxgan has marked as its own. `manifest` lists what jaxgan wrote in it."""

    def __init__(self, path: Path):
        self.path = path
        self._lock_file = None

    @property
    def marker(self) -> Path:
        return self.path / MARKER

    def manifest(self) -> list[str]:
        try:
            return list(json.loads(self.marker.read_text())["manifest"])
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def add_to_manifest(self, *relative: str) -> None:
        """Note files or folders (relative to the workdir) that jaxgan wrote."""
        manifest = self.manifest()
        if new := [r for r in relative if r not in manifest]:
            write_json_atomic(self.marker, {"format": FORMAT, "manifest": manifest + new})

    def foreign_checkpoints(self) -> list[str]:
        """Saved epochs in checkpoints/ that the manifest does not list (copied in by hand)."""
        folder = self.path / "checkpoints"
        if not folder.is_dir():
            return []
        listed = set(self.manifest())
        return sorted(
            (
                p.name
                for p in folder.iterdir()
                if p.name.isdigit() and f"checkpoints/{p.name}" not in listed
            ),
            key=int,
        )

    def holds_run(self) -> bool:
        """A run saved something worth keeping: a checkpoint or metrics rows."""
        saved = has_checkpoints(self.path / "checkpoints")
        metrics = self.path / "metrics.jsonl"
        return saved or (metrics.is_file() and metrics.stat().st_size > 0)

    def clear(self) -> None:
        """Delete what the manifest lists, then the folders jaxgan made if that left them empty."""
        for relative in self.manifest():
            target = (self.path / relative).resolve()
            if self.path.resolve() not in target.parents:
                continue  # never outside the workdir, whatever the marker says
            if (target / MARKER).is_file() and not target.is_symlink():  # a population member's run
                Workdir(target).clear()
                (target / MARKER).unlink()
                if not any(target.iterdir()):
                    target.rmdir()
            elif target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
        checkpoints = self.path / "checkpoints"
        if checkpoints.is_dir():  # Orbax's unfinished saves of this run
            for tmp in checkpoints.glob("*.orbax-checkpoint-tmp*"):
                shutil.rmtree(tmp, ignore_errors=True)
        for folder in OWN_FOLDERS:
            if (self.path / folder).is_dir() and not any((self.path / folder).iterdir()):
                (self.path / folder).rmdir()
        write_json_atomic(self.marker, {"format": FORMAT, "manifest": []})

    def member(self, relative: str) -> Workdir:
        """A population member's run directory inside this one (created, marked and recorded)."""
        member = Workdir(self.path / relative)
        member.path.mkdir(parents=True, exist_ok=True)
        if not member.marker.exists():
            write_json_atomic(member.marker, {"format": FORMAT, "manifest": []})
        self.add_to_manifest(relative)
        return member

    def lock(self) -> None:
        """Hold the workdir's exclusive lock until `unlock` or the process's end (the OS then
        releases it, however the process died)."""
        self._lock_file = open(self.path / LOCK, "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.seek(0)
            pid = self._lock_file.read().strip() or "unknown"
            self._lock_file.close()
            self._lock_file = None
            raise TrainingError(
                f"workdir {self.path} is in use by pid {pid} (another jaxgan run); "
                f"wait for it to end or choose another {arg('workdir')}"
            ) from None
        self._lock_file.truncate(0)
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None


def open_workdir(path: Path, *, resume: bool, overwrite: bool) -> Workdir:
    """Create (or take) and lock the workdir of a run.

    A non-empty folder without jaxgan's marker is refused, --overwrite or not. A marked one that
    holds a run needs --resume (continue) or --overwrite (delete what jaxgan wrote, then start);
    one whose run saved nothing (it died while compiling, say) is simply started again.
    """
    run = Workdir(path)
    if path.is_dir() and not run.marker.exists() and any(p.name != LOCK for p in path.iterdir()):
        raise TrainingError(
            f"workdir {path} is not empty and is not a jaxgan run (no {MARKER}); "
            f"choose another {arg('workdir')}"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        run.lock()
    except OSError as e:
        raise TrainingError(f"workdir {path} is not writable ({e.strerror})") from None
    try:
        if links := links_out(path):
            raise TrainingError(
                f"workdir {path}: {links[0].relative_to(path)} is a symlink to "
                f"{links[0].resolve()}, outside the workdir; jaxgan writes only inside "
                f"its workdir (remove the link or choose another {arg('workdir')})"
            )
        if foreign := run.foreign_checkpoints():
            raise TrainingError(
                f"workdir {path}: checkpoints/{foreign[0]} was not written by this run "
                f"(it is not in {MARKER}); move it out of checkpoints/ or choose "
                f"another {arg('workdir')}"
            )
        if not run.marker.exists():
            write_json_atomic(run.marker, {"format": FORMAT, "manifest": []})
        elif run.holds_run() and not (resume or overwrite):
            raise TrainingError(
                f"workdir {path} already holds a run; pass {arg('resume', True)} to continue "
                f"it, {arg('overwrite', True)} to replace it, or choose another {arg('workdir')}"
            )
        elif overwrite or not run.holds_run():
            run.clear()
            if has_checkpoints(path / "checkpoints"):
                raise TrainingError(
                    f"workdir {path}: checkpoints/ still holds saved epochs after "
                    f"clearing what jaxgan wrote; move them away or choose another {arg('workdir')}"
                )
    except BaseException:
        run.unlock()
        raise
    return run


def write_index(workdir: Path, population: Population, failures: dict[str, Any]) -> None:
    """WORKDIR/population.json: the spec, and each member's folder, values and failure."""
    rows = [
        {"id": m.id, "folder": f"members/{m.id}", **m.values, "failed": failures.get(m.id)}
        for m in population.members()
    ]
    write_json_atomic(
        workdir / POPULATION_FILE, {"format": 1, **population.to_json(), "members": rows}
    )


def read_index(workdir: str | Path) -> list[dict[str, Any]] | None:
    """The member rows of WORKDIR/population.json (None: not a population), checked."""
    index = Path(workdir) / POPULATION_FILE
    if not index.is_file():
        return None
    try:
        rows = json.loads(index.read_text())["members"]
        return [
            {**row, "id": str(row["id"]), "folder": Path(workdir) / row["folder"]} for row in rows
        ]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{index} is unreadable ({one_line(e)})") from None


def saved_failures(workdir: str | Path) -> dict[str, Any]:
    """The members of the population in `workdir` that stopped training: id -> where."""
    return {row["id"]: row["failed"] for row in read_index(workdir) or [] if row.get("failed")}


def is_population(path: str | Path) -> bool:
    return (Path(path) / POPULATION_FILE).is_file() and (Path(path) / "checkpoints").is_dir()
