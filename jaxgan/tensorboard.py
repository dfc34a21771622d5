"""TensorBoard scalars and images for `tensorboard --logdir WORKDIR` (tf.summary, imported lazily
so that TensorFlow's start-up does not delay the first training step)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class SummaryWriter:
    def __init__(self, logdir: str | Path):
        self.logdir = Path(logdir)
        self._writer = None

    def _tf(self):
        from jaxgan.sources import quiet_tensorflow

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
