"""A run's human and machine-readable record: progress lines and a per-epoch metrics JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


class MetricsLog:
    """`metrics.jsonl` in the workdir: one JSON object per epoch, keyed by completed epochs."""

    def __init__(self, workdir: str | Path):
        self.path = Path(workdir) / "metrics.jsonl"

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a killed run
                break
        return rows

    def truncate_after(self, epoch: int) -> None:
        """Drop rows past `epoch` (written by a run that died before checkpointing them)."""
        kept = [r for r in self.read() if r.get("epoch", 0) <= epoch]
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def append(self, row: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
