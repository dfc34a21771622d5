"""A run's human and machine-readable record: progress lines, a per-epoch metrics JSONL and
TensorBoard summaries."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from jaxgan.debuglog import quiet_tensorflow
from jaxgan.files import atomic_path


def progress_lines(
    epoch: int, epochs: int, metrics: dict[str, np.ndarray], log_every: int
) -> list[str]:
    """The reference's `Epoch [e/E] Batch i/N Loss D: x, loss G: y` lines, every log_every batches."""
    steps = len(metrics["d_loss"])
    return [
        f"Epoch [{epoch}/{epochs}] Batch {i}/{steps} Loss D: {metrics['d_loss'][i]:.4f}, "
        f"loss G: {metrics['g_loss'][i]:.4f}"
        for i in range(0, steps, log_every)
    ]


def describe_scores(scores: dict[str, Any], dataset: str = "mnist") -> str:
    """An evaluation's scores in one line: the classifier's (MNIST-FID on MNIST, FID in another
    dataset's own classifier; none for data without labels), the encoder's, and the extras."""
    extras = [
        f"conditional accuracy {scores['conditional_accuracy']:.4f}"
        if "conditional_accuracy" in scores
        else "",
        f"CAS {scores['cas']:.4f}" if "cas" in scores else "",
        f"code purity {scores['code_purity']:.4f} (digit per code {scores['code_digits']})"
        if "code_purity" in scores
        else "",
    ]
    classifier = (
        f"{'MNIST-FID' if dataset == 'mnist' else 'FID'} {scores['fid']:.3f}, classifier score "
        f"{scores['classifier_score']:.3f}, classes covered {scores['classes_covered']}/"
        f"{len(scores['histogram'])}, KL to uniform {scores['kl_to_uniform']:.3f}, histogram "
        f"{scores['histogram']}; "
        if "fid" in scores
        else "no classifier (the data has no labels); "
    )
    return (
        f"{classifier}encoder FID {scores['encoder_fid']:.3f}, precision "
        f"{scores['precision']:.3f}, recall {scores['recall']:.3f}, density {scores['density']:.3f}, "
        f"coverage {scores['coverage']:.3f} ({scores['num_samples']} samples)"
        + "".join(f", {e}" for e in extras if e)
    )


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
        keys = [
            k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        means.append(
            {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys} | {"epoch": epoch}
        )
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
            numbers = ", ".join(map(str, bad[:10])) + (
                f" and {len(bad) - 10} more" if len(bad) > 10 else ""
            )
            print(
                f"warning: {self.path}: line{'s' * (len(bad) > 1)} {numbers} "
                f"{'are' if len(bad) > 1 else 'is'} not a JSON row; {what}",
                file=sys.stderr,
            )

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
        return [
            {
                **{k: v for k, v in r.items() if k != "kind"},
                **{
                    k: v
                    for k, v in evals.get(r.get("epoch"), {}).items()
                    if k not in ("kind", "epoch", "seed")
                },
            }
            for r in rows
            if r.get("kind", "train") == "train"
        ]

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
        return [
            p for p in self.logdir.glob("events.out.tfevents.*") if f".{os.getpid()}." in p.name
        ]

    def scalars(self, step: int, values: dict[str, float]) -> None:
        tf = self._tf()
        with self._writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)
        self._writer.flush()

    def image(self, step: int, name: str, image: np.ndarray) -> None:
        """One uint8 image, grey (H, W) or RGB (H, W, 3)."""
        tf = self._tf()
        with self._writer.as_default(step=step):
            tf.summary.image(name, image.reshape(1, *image.shape[:2], -1), max_outputs=1)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
