"""A run's human and machine-readable record: progress lines, a per-epoch metrics JSONL, and a
debug log that keeps third-party output off the user's terminal."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from jaxgan.files import atomic_path


def progress_lines(epoch: int, epochs: int, metrics: dict[str, np.ndarray],
                   log_every: int) -> list[str]:
    """The reference's `Epoch [e/E] Batch i/N Loss D: x, loss G: y` lines, every log_every batches."""
    steps = len(metrics["d_loss"])
    return [f"Epoch [{epoch}/{epochs}] Batch {i}/{steps} Loss D: {metrics['d_loss'][i]:.4f}, "
            f"loss G: {metrics['g_loss'][i]:.4f}" for i in range(0, steps, log_every)]


def epoch_summary(metrics: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-epoch means of the per-step metrics."""
    return {name: float(np.mean(values)) for name, values in metrics.items()}


class EpochMetrics(TypedDict, total=False):
    """One epoch of a run, as `MetricsLog.epochs` and `jaxgan.train(...).metrics` give it: the
    means of the step metrics over the epoch, and the evaluation of that epoch where one ran."""

    epoch: int  # epochs completed (1-based)
    step: int  # steps completed
    d_loss: float
    g_loss: float
    d_real: float  # mean D(x)
    d_fake: float  # mean D(G(z))
    info_loss: float  # with codes
    class_loss: float  # with class_loss: D's ADC-GAN classifier cross-entropy
    seconds: float  # the epoch's wall time
    fid: float  # where evaluated: the keys of evaluation.Scores
    classifier_score: float
    classes_covered: int


def mean_epochs(members: list[list[EpochMetrics]]) -> list[EpochMetrics]:
    """Per epoch, the mean of each number over the members that recorded that epoch."""
    by_epoch: dict[int, list[EpochMetrics]] = {}
    for rows in members:
        for row in rows:
            by_epoch.setdefault(row["epoch"], []).append(row)
    means = []
    for epoch, rows in sorted(by_epoch.items()):
        keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        means.append({k: float(np.mean([r[k] for r in rows if k in r])) for k in keys} | {"epoch": epoch})
    return means


class MetricsLog:
    """`metrics.jsonl` in the workdir: one JSON object per epoch, keyed by completed epochs."""

    def __init__(self, workdir: str | Path):
        self.path = Path(workdir) / "metrics.jsonl"

    @property
    def aside(self) -> Path:
        """Where --resume moves the lines it cannot read, rather than delete them."""
        return self.path.with_name(self.path.name + ".unparsed")

    def _lines(self) -> list[tuple[int, bytes, dict[str, Any] | None]]:
        """(line number, bytes, the row, or None for a line that is not a JSON object)."""
        if not self.path.exists():
            return []
        lines = []
        for number, raw in enumerate(self.path.read_bytes().split(b"\n"), 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                row = None
            lines.append((number, raw, row if isinstance(row, dict) else None))
        return lines

    def _warn(self, bad: list[int], what: str) -> None:
        if bad:
            numbers = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
            print(f"warning: {self.path}: line{'s' * (len(bad) > 1)} {numbers} "
                  f"{'are' if len(bad) > 1 else 'is'} not a JSON row; {what}", file=sys.stderr)

    def read(self) -> list[dict[str, Any]]:
        """The rows that are JSON objects; other lines (one cut short by a killed run, bytes that
        are not UTF-8) are skipped with a warning naming them."""
        lines = self._lines()
        self._warn([n for n, _, row in lines if row is None], "skipped")
        return [row for _, _, row in lines if row is not None]

    def epochs(self) -> list[EpochMetrics]:
        """One dict per trained epoch: its train row with its newest evaluation's scores merged in."""
        rows = self.read()
        evals = {r.get("epoch"): r for r in rows if r.get("kind") == "eval"}
        return [{**{k: v for k, v in r.items() if k != "kind"},
                 **{k: v for k, v in evals.get(r.get("epoch"), {}).items() if k not in ("kind", "epoch", "seed")}}
                for r in rows if r.get("kind", "train") == "train"]

    def truncate_after(self, epoch: int) -> None:
        """Drop rows past `epoch` (written by a run that died before checkpointing them); lines
        that are not rows cannot be placed, and move to `aside` with their bytes unchanged."""
        lines = self._lines()
        if bad := [(n, raw) for n, raw, row in lines if row is None]:
            with open(self.aside, "ab") as f:
                f.write(b"".join(raw + b"\n" for _, raw in bad))
            self._warn([n for n, _ in bad], f"moved to {self.aside.name}")
        kept = [raw for _, raw, row in lines if row is not None and not _after(row, epoch)]
        with atomic_path(self.path) as tmp:
            tmp.write_bytes(b"".join(raw + b"\n" for raw in kept))

    def append(self, row: dict[str, Any]) -> None:
        with open(self.path, "ab") as f:
            if f.tell() and _last_byte(self.path) != b"\n":
                f.write(b"\n")  # end a line a killed writer left unfinished, never extend it
            f.write((json.dumps(row) + "\n").encode())


def _after(row: dict[str, Any], epoch: int) -> bool:
    value = row.get("epoch", 0)
    return isinstance(value, (int, float)) and value > epoch


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


class DebugLog(logging.Handler):
    """Where third-party log records and background-thread tracebacks go instead of the terminal:
    held in memory until `attach` names a file (WORKDIR/debug.log), then written there."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._pending: list[str] = []
        self._file = None
        self._between_runs = False

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record) + "\n"
        if self._file is not None:
            self._file.write(text)
            self._file.flush()
        elif not self._between_runs:
            self._pending = self._pending[-1000:] + [text]

    def begin(self) -> None:
        """A run begins: its records are held until `attach` names its file."""
        self._between_runs = False

    def detach(self) -> None:
        """A run has ended: its file is closed, and records until the next run begins belong to
        none (a notebook's own work) and are dropped."""
        self._close_file()
        self._pending, self._between_runs = [], True

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def attach(self, path: Path) -> None:
        self._close_file()
        try:
            self._file = open(path, "a")
        except OSError:
            return
        self._file.writelines(self._pending)
        self._pending = []

    @contextlib.contextmanager
    def native_stderr(self) -> Iterator[None]:
        """Send file descriptor 2 to the debug log for the block: native libraries (TensorStore
        under Orbax) print Python tracebacks of their failed callbacks straight to it. Before
        `attach`, what they print is held with the pending records."""
        target = self._file or tempfile.TemporaryFile("w+")
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(target.fileno(), 2)
        python_stderr = sys.stderr
        if _writes_to_fd_2(python_stderr):  # jaxgan's own lines (a Ctrl-C's notice) still reach the user
            sys.stderr = open(saved, "w", closefd=False)
        try:
            yield
        finally:
            sys.stderr.flush()
            sys.stderr = python_stderr
            os.dup2(saved, 2)
            os.close(saved)
            if target is not self._file:
                target.seek(0)
                self._pending = (self._pending + target.readlines())[-1000:]
                target.close()

    def close(self) -> None:
        self._close_file()
        super().close()

    def install(self, whole_process: bool = True) -> DebugLog:
        """Take over the loggers that TensorFlow, Orbax and JAX write to; for a command-line tool
        (`whole_process`) also the root logger, Python warnings and thread crashes."""
        if (previous := installed_debug_log()) is not None:
            previous.close()
        for name in ("", "absl", "jax", "orbax", "tensorflow", "py.warnings")[1 - whole_process:]:
            logger = logging.getLogger(name)
            # A tool owns the process's logging; a program's own handlers (a notebook's) stay.
            logger.handlers = [self] if whole_process else [*logger.handlers, self]
            logger.propagate = name == ""
        if not whole_process:  # a notebook's or a program's own logging and hooks stay its own
            return self
        logging.getLogger().setLevel(logging.WARNING)
        logging.captureWarnings(True)  # Python warnings of libraries (JAX's cache, say): logged too
        log = logging.getLogger("jaxgan.threads")
        threading.excepthook = lambda a: log.error("exception in thread %s", getattr(a.thread, "name", "?"),
                                                   exc_info=(a.exc_type, a.exc_value, a.exc_traceback))

        # TensorStore reports errors of its Python callbacks through sys.excepthook, from any
        # thread; the entry points print their own uncaught errors, so all of these are noise.
        sys.excepthook = lambda *exc_info: log.error("exception in a callback", exc_info=exc_info)
        return self


def _writes_to_fd_2(stream: Any) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a test's or a notebook's capture
        return False


def installed_debug_log() -> DebugLog | None:
    """The DebugLog installed by a command-line entry point or by the Python API, if any."""
    return next((h for h in logging.getLogger("absl").handlers if isinstance(h, DebugLog)), None)


def quiet_libraries() -> DebugLog:
    """For the Python API: the libraries' log records go to the debug log (a run's debug.log),
    not to a notebook's output; what a command-line tool installed stays."""
    return installed_debug_log() or DebugLog().install(whole_process=False)


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """What native libraries print to file descriptor 2 in the block (TensorFlow's C++ warnings,
    TensorStore's callback tracebacks under Orbax) goes to the debug log an entry point installed,
    not the terminal: jaxgan reports the failure itself as one line."""
    debug_log = installed_debug_log()
    with debug_log.native_stderr() if debug_log else contextlib.nullcontext():
        yield


class SummaryWriter:
    def __init__(self, logdir: str | Path):
        self.logdir = Path(logdir)
        self._writer = None

    def _tf(self):
        quiet_tensorflow()
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.logdir))
        return tf

    def files(self) -> list[Path]:
        """The event files this process wrote (TensorBoard names them with the writer's pid)."""
        return [p for p in self.logdir.glob("events.out.tfevents.*") if f".{os.getpid()}." in p.name]

    def scalars(self, step: int, values: dict[str, float]) -> None:
        tf = self._tf()
        with self._writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)
        self._writer.flush()

    def image(self, step: int, name: str, grey: np.ndarray) -> None:
        """One uint8 (H, W) image."""
        tf = self._tf()
        with self._writer.as_default(step=step):
            tf.summary.image(name, grey[None, :, :, None], max_outputs=1)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def quiet_tensorflow() -> None:
    """TensorFlow only decodes records and writes summaries here: keep its start-up banners off
    the user's screen, and the GPU JAX's (the settings apply at TensorFlow's import)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
