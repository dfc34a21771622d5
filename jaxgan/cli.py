"""What the command-line scripts share: strict argument types and one-line errors."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import traceback
from typing import Callable, NoReturn, Sequence

from jaxgan.errors import JaxganError


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block) and exit code 2."""

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


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=os.environ.get("TFDS_DATA_DIR"),
                        help="TFDS data dir with MNIST prepared, or a folder of the four IDX .gz "
                             "files (default: $TFDS_DATA_DIR, else TFDS's default)")
    parser.add_argument("--cache-dir", default=None,
                        help="where decoded arrays are cached (default: ~/.cache/jaxgan)")
    parser.add_argument("--no-cache", action="store_true", help="decode the dataset every run")


def cache_dir(args: argparse.Namespace):
    from jaxgan.data import default_cache_dir

    return None if args.no_cache else (args.cache_dir or default_cache_dir())


def run(main: Callable[[Sequence[str] | None], int | None],
        argv: Sequence[str] | None = None) -> int:
    """Call `main`; user errors become one line on stderr and exit code 2, Ctrl-C code 130."""
    prog = os.path.basename(sys.argv[0]) or "jaxgan"
    from jaxgan.runlog import DebugLog

    DebugLog().install()  # library logs and thread tracebacks: to WORKDIR/debug.log, not the terminal
    # A polite kill (SIGTERM, e.g. a preempted job) is handled like Ctrl-C: save, then exit.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return main(argv) or 0
    except JaxganError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug: the whole traceback, for a report
        traceback.print_exc()
        return 1
