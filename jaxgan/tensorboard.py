"""TensorBoard scalars and images for `tensorboard --logdir WORKDIR` (tf.summary, imported lazily
so that TensorFlow's start-up does not delay the first training step)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class SummaryWriter:
    def __init__(self, logdir: str | Path):
        self.logdir = str(logdir)
        self._writer = None

    def _tf(self):
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        import tensorflow as tf

        if self._writer is None:
            tf.config.set_visible_devices([], "GPU")
            self._writer = tf.summary.create_file_writer(self.logdir)
        return tf

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
