"""A small Flax CNN MNIST classifier whose penultimate features define jaxgan's MNIST-FID.

jaxgan ships its trained weights and the real MNIST test set's feature statistics as package data,
pinned by sha256, so every user on every device scores with the same network and needs no dataset.
`train` with its recipe on MNIST's training split reproduces them (`jaxgan-train-classifier`).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import numpy as np
import optax

from jaxgan import networks
from jaxgan.data import PARTIAL_DATA_ENV, in_batches, load_dataset, normalize
from jaxgan.errors import EvaluationError
from jaxgan.files import content_digest
from jaxgan.mnist import IMAGE_SHAPE, NUM_CLASSES
from jaxgan.models import Conv

FEATURE_DIM = 128
MIN_TEST_ACCURACY = 0.985


class Classifier(nn.Module):
    """conv32-pool-conv64-pool-dense128-dense10 on (B, 784) images in [-1, 1].

    Returns (penultimate features (B, 128), logits (B, 10))."""

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = nn.relu(nn.Dense(FEATURE_DIM)(conv_trunk(x)))
        return h, nn.Dense(NUM_CLASSES)(h)


def conv_trunk(x: jax.Array) -> jax.Array:
    """conv32-pool-conv64-pool of (B, 784) images, flattened: called inside a compact module."""
    x = x.reshape(-1, *IMAGE_SHAPE, 1)
    for i, features in enumerate((32, 64)):  # names fixed: they seed the shipped networks' init
        x = nn.max_pool(
            nn.relu(Conv(features, 3, dense=True, name=f"Conv3x3_{i}")(x)), (2, 2), (2, 2)
        )
    return x.reshape(x.shape[0], -1)


def _loss(params, images, labels):
    _, logits = Classifier().apply({"params": params}, images)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


CLASSIFIER = networks.Network(
    name="classifier",
    module=Classifier(),
    loss=_loss,
    recipe={"arch": "cnn-v1", "epochs": 5, "batch_size": 128, "lr": 2e-3, "seed": 0},
    shipped={
        "mnist_classifier.npz": "560aff7562bee74e70ec6ec788aba5aae158f396cb129e4e8a4067bf5a42c212",
        "mnist_test_features.npz": (
            "99b296bfd5b1cca35bb88ec4da366e89c09b07393925a3bc3802327ae7d0caa7"
        ),
    },
)


def train(images: np.ndarray, labels: np.ndarray, *, seed: int | None = None, verbose=True) -> Any:
    """Classifier parameters trained by the recipe on uint8 images (N, 784): Adam with a
    cosine-decayed learning rate, about 99% MNIST test accuracy."""
    return networks.fit(CLASSIFIER, images, labels, seed=seed, verbose=verbose)


@jax.jit
def apply(params, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    return Classifier().apply({"params": params}, images)


def batched(params, images: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(features, logits) of float images (N, 784) in [-1, 1], in fixed-size batches."""
    return in_batches(functools.partial(apply, params), images, size=batch_size)


def accuracy(params, images_u8: np.ndarray, labels: np.ndarray) -> float:
    _, logits = batched(params, np.asarray(normalize(images_u8)))
    return float((logits.argmax(-1) == labels).mean())


def check_accuracy(test_accuracy: float) -> None:
    """A classifier that cannot read digits cannot rank generators: refuse it."""
    if test_accuracy >= MIN_TEST_ACCURACY:
        return
    message = (
        f"the evaluation classifier's test accuracy is {test_accuracy:.2%}, under the "
        f"{MIN_TEST_ACCURACY:.1%} its metrics need"
    )
    if not os.environ.get(PARTIAL_DATA_ENV):
        raise EvaluationError(
            f"{message}; check the data (--data-dir) and retrain it with "
            f"scripts/train_classifier.py --force"
        )
    print(f"warning: {message}; using it because {PARTIAL_DATA_ENV} is set", file=sys.stderr)


def load_or_train(
    cache_dir: str | Path, data_dir: str | None = None, *, force: bool = False
) -> tuple[Any, float]:
    """The classifier for the MNIST in `data_dir` and its test accuracy: cached, or trained
    (a few minutes on a CPU) and cached. Refused under MIN_TEST_ACCURACY."""
    images, labels = load_dataset("train", data_dir, cache_dir)
    train_digest = content_digest(images, labels)
    path = networks.cache_path(CLASSIFIER, cache_dir, train_digest)
    cached = None if force else networks.load(CLASSIFIER, path, train_digest)
    if cached is None:
        print(f"training the evaluation classifier; it is cached in {path}", file=sys.stderr)
        params = train(images, labels)
        test_accuracy = accuracy(params, *load_dataset("test", data_dir, cache_dir))
        print(f"classifier test accuracy: {test_accuracy:.4f}", file=sys.stderr)
        networks.save(CLASSIFIER, params, path, train_digest, test_accuracy=test_accuracy)
    else:
        params, test_accuracy = cached[0], float(cached[1]["test_accuracy"])
    check_accuracy(test_accuracy)
    return params, test_accuracy


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of feature rows."""
    f = np.asarray(features, np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def export(params, test_images_u8: np.ndarray, folder: str | Path) -> dict[str, str]:
    """Write the classifier's weights and the test set's feature mean and covariance as the
    shipped files into `folder`; their sha256 by name."""
    mean, cov = gaussian(batched(params, np.asarray(normalize(test_images_u8)))[0])
    weights, stats = CLASSIFIER.shipped
    return networks.write_files(
        folder, {weights: networks.flat_params(params), stats: {"mean": mean, "cov": cov}}
    )


@functools.cache
def shipped() -> tuple[Any, tuple[np.ndarray, np.ndarray]]:
    """The shipped classifier's parameters and the real test set's feature (mean, covariance)."""
    weights, stats = CLASSIFIER.shipped
    flat = networks.read_shipped(CLASSIFIER, weights)
    params = networks.params_from_flat(flat, CLASSIFIER.init(jax.random.key(0)))
    stats = networks.read_shipped(CLASSIFIER, stats)
    return params, (stats["mean"], stats["cov"])
