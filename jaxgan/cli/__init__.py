"""The command-line tools. What they share: strict argument types, the config's flags generated
from its fields, and one-line errors."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from jaxgan.config import GROUPS, MAX_SEED, PRESETS, Config, checked_seed, flag
from jaxgan.debuglog import DebugLog
from jaxgan.errors import ConfigError, JaxganError, command_line
from jaxgan.files import default_cache_dir
from jaxgan.signals import StoppedAndSaved


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block), exit code 2, and no abbreviated flags
    (a prefix that works today would silently mean another flag tomorrow)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def seed(text: str) -> int:
    try:
        return checked_seed(int(text))
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(
            f"expected an integer in 0 .. {MAX_SEED}, got {text!r}"
        ) from None


def _default_text(field: dataclasses.Field) -> str:
    """The reference default, and each preset's own value where it differs (flags: none)."""
    if isinstance(field.default, bool):
        return ""
    others = [
        f"{name}: {values[field.name]}"
        for name, values in PRESETS.items()
        if field.name in values and values[field.name] != field.default
    ]
    return f" (default: {field.default}{''.join('; ' + o for o in others)})"


def add_config_args(parser: argparse.ArgumentParser) -> dict[str, argparse._ArgumentGroup]:
    """One flag per Config field, in its group. Flags not given are absent from the namespace, so
    that the preset (or the checkpoint, on --resume) provides them; Config.validate checks them."""
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    types = {"int": int, "float": float, "str": str}
    for field in dataclasses.fields(Config):
        if not field.metadata["flag"]:
            continue
        group, help_ = (
            groups[field.metadata["group"]],
            field.metadata["help"] + _default_text(field),
        )
        if field.type == "bool":
            group.add_argument(
                flag(field.name),
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_,
            )  # --no-FLAG turns off what a preset turned on
        else:
            group.add_argument(
                flag(field.name),
                type=types[field.type],
                default=argparse.SUPPRESS,
                metavar=field.name.upper(),
                help=help_,
            )
    groups["model"].add_argument(
        "--preset",
        default=None,
        choices=sorted(PRESETS),
        help="start from a named config (default: reference)",
    )
    return groups


def config_from_args(base: Config, args: argparse.Namespace) -> Config:
    """`base` with every config flag that was given."""
    names = {f.name for f in dataclasses.fields(Config)}
    return base.replace(**{k: v for k, v in vars(args).items() if k in names})


def add_run_args(
    parser: argparse.ArgumentParser, workdir_help: str
) -> argparse._MutuallyExclusiveGroup:
    """--workdir or --checkpoint: the run a tool reads."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--workdir", default="runs/mnist_gan", help=workdir_help)
    source.add_argument("--checkpoint", help="one saved checkpoint folder (WORKDIR/checkpoints/N)")
    return source


def add_data_args(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("TFDS_DATA_DIR"),
        help="TFDS data dir with MNIST prepared, or a folder of the four IDX .gz "
        "files (default: $TFDS_DATA_DIR, else TFDS's default)",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="where decoded arrays are cached (default: ~/.cache/jaxgan)",
    )
    parser.add_argument("--no-cache", action="store_true", help="decode the dataset every run")


def cache_dir(args: argparse.Namespace):
    if args.no_cache:
        return None
    path = args.cache_dir or default_cache_dir()
    if Path(path).exists() and not Path(path).is_dir():
        raise ConfigError(
            f"--cache-dir {path} is a file, not a folder; pass a folder or --no-cache"
        )
    return path


def _exit_if_distributed(code: int) -> int:
    """In a multi-process run that failed, exit now: the runtime's orderly shutdown would wait
    for processes that are gone."""
    jax = sys.modules.get("jax")
    if jax is not None and jax.distributed.is_initialized():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _leave_in_order(code: int) -> int:
    """A multi-process run that ended in order (finished, or stopped by agreement): JAX's shutdown
    waits for every process, so process 0's coordinator outlives the others' last calls."""
    jax = sys.modules.get("jax")
    if jax is not None and jax.distributed.is_initialized():
        for sig in (signal.SIGINT, signal.SIGTERM):  # the run is over: a late signal stops nothing
            signal.signal(sig, signal.SIG_IGN)
        try:
            jax.distributed.shutdown()
        except Exception:  # a process left meanwhile: nothing more to wait for
            return _exit_if_distributed(code)
    return code


def execute(
    main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None
) -> int:
    """Call `main`; user errors become one line on stderr and exit code 2, Ctrl-C code 130."""
    prog = os.path.basename(sys.argv[0]) or "jaxgan"
    DebugLog().install()  # library logs and thread tracebacks: to WORKDIR/debug.log, not the terminal
    # A polite kill (SIGTERM, e.g. a preempted job) is handled like Ctrl-C: save, then exit.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with command_line():
            return _leave_in_order(main(argv) or 0)
    except JaxganError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return _exit_if_distributed(2)
    except KeyboardInterrupt as e:  # the run's own (after saving) says what was saved
        print(f"{prog}: interrupted" + (f": {e}" if str(e) else ""), file=sys.stderr)
        return _leave_in_order(130) if isinstance(e, StoppedAndSaved) else _exit_if_distributed(130)
    except Exception:  # a bug: the whole traceback, for a report
        traceback.print_exc()
        return 1
