"""A small Flax CNN classifier whose penultimate features define jaxgan's FID (MNIST-FID on MNIST).

jaxgan ships its MNIST weights and the real MNIST test set's feature statistics as package data,
pinned by sha256, so every user on every device scores with the same network and needs no dataset.
`train` with its recipe on MNIST's training split reproduces them (`jaxgan-train-classifier`); the
same recipe builds the classifier of any other labelled dataset (references.py).
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
from jaxgan.images import MNIST_SHAPE
from jaxgan.layers import Conv
from jaxgan.mnist import NUM_CLASSES
from jaxgan.networks import Shape

FEATURE_DIM = 128
MIN_TEST_ACCURACY = 0.985


class Classifier(nn.Module):
    """conv32-pool-conv64-pool-dense128-dense K on images (B, H*W*C) in [-1, 1] (MNIST's: 28x28,
    10 classes). Returns (penultimate features (B, 128), logits (B, K))."""

    image_shape: Shape = MNIST_SHAPE
    num_classes: int = NUM_CLASSES

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = nn.relu(nn.Dense(FEATURE_DIM)(conv_trunk(x, self.image_shape)))
        return h, nn.Dense(self.num_classes)(h)


def conv_trunk(x: jax.Array, shape: Shape) -> jax.Array:
    """conv32-pool-conv64-pool of images (B, H*W*C), flattened: called inside a compact module."""
    x = x.reshape(-1, *shape)
    for i, features in enumerate((32, 64)):  # names fixed: they seed the shipped networks' init
        x = nn.max_pool(
            nn.relu(Conv(features, 3, dense=True, name=f"Conv3x3_{i}")(x)), (2, 2), (2, 2)
        )
    return x.reshape(x.shape[0], -1)


MNIST_CLASSIFIER = Classifier()


def _loss(module: Classifier, params, images, labels):
    _, logits = module.apply({"params": params}, images)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


CLASSIFIER = networks.Network(
    name="classifier",
    loss=_loss,
    recipe={"arch": "cnn-v1", "epochs": 5, "batch_size": 128, "lr": 2e-3, "seed": 0},
    files={
        "classifier.npz": "560aff7562bee74e70ec6ec788aba5aae158f396cb129e4e8a4067bf5a42c212",
        "test_features.npz": "99b296bfd5b1cca35bb88ec4da366e89c09b07393925a3bc3802327ae7d0caa7",
    },
)


def train(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    module: Classifier = MNIST_CLASSIFIER,
    min_steps: int = 0,
    seed: int | None = None,
    verbose: bool = True,
) -> Any:
    """`module`'s parameters trained by the recipe on uint8 images as rows: Adam with a
    cosine-decayed learning rate, about 99% MNIST test accuracy."""
    return networks.fit(
        CLASSIFIER, module, images, labels, min_steps=min_steps, seed=seed, verbose=verbose
    )


@functools.partial(jax.jit, static_argnums=2)
def apply(params, images: jax.Array, module: Classifier = MNIST_CLASSIFIER):
    return module.apply({"params": params}, images)


def batched(
    params, images: np.ndarray, module: Classifier = MNIST_CLASSIFIER
) -> tuple[np.ndarray, np.ndarray]:
    """(features, logits) of float images as rows in [-1, 1], in batches of 1,000."""
    return in_batches(lambda x: apply(params, x, module), images)


def accuracy(
    params, images_u8: np.ndarray, labels: np.ndarray, module: Classifier = MNIST_CLASSIFIER
) -> float:
    _, logits = batched(params, np.asarray(normalize(images_u8)), module)
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
    cached = None if force else networks.load(CLASSIFIER, MNIST_CLASSIFIER, path, train_digest)
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


def reference_files(
    params, test_images_u8: np.ndarray, module: Classifier = MNIST_CLASSIFIER
) -> dict[str, dict[str, np.ndarray]]:
    """The classifier's two files of a reference: its weights, and the mean and covariance of its
    features of the real test images."""
    mean, cov = gaussian(batched(params, np.asarray(normalize(test_images_u8)), module)[0])
    weights, features = CLASSIFIER.files
    return {weights: networks.flat_params(params), features: {"mean": mean, "cov": cov}}


def from_files(
    weights: dict[str, np.ndarray], features: dict[str, np.ndarray], module: Classifier
) -> tuple[Any, tuple[np.ndarray, np.ndarray]]:
    """(parameters, the real features' (mean, covariance)) from a reference's two files."""
    params = networks.params_from_flat(weights, networks.init(module, jax.random.key(0)))
    return params, (features["mean"], features["cov"])


@functools.cache
def shipped() -> tuple[Any, tuple[np.ndarray, np.ndarray]]:
    """The shipped classifier's parameters and the real test set's feature (mean, covariance)."""
    return from_files(*networks.read_shipped(CLASSIFIER), MNIST_CLASSIFIER)
