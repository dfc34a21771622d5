"""A small Flax CNN MNIST classifier whose penultimate features define jaxgan's metrics.

jaxgan ships its trained weights and the real MNIST test set's feature statistics as package data,
pinned by sha256, so every user on every device scores with the same network and needs no dataset.
`train` with RECIPE on MNIST's training split reproduces them (`jaxgan-train-classifier`); such a
classifier is cached as an Orbax checkpoint keyed by the recipe and the digest of its training data,
so a classifier trained on other data is never reused.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan import checkpoint
from jaxgan.data import PARTIAL_DATA_ENV, epoch_order, in_batches, load_dataset, normalize
from jaxgan.errors import DataError, EvaluationError
from jaxgan.files import content_digest, write_json_atomic
from jaxgan.mnist import IMAGE_PIXELS, IMAGE_SHAPE, NUM_CLASSES
from jaxgan.models import Conv

FEATURE_DIM = 128
SHIPPED = Path(__file__).parent / "weights"
# The shipped files' sha256, checked at every load.
SHIPPED_SHA256 = {
    "mnist_classifier.npz": "560aff7562bee74e70ec6ec788aba5aae158f396cb129e4e8a4067bf5a42c212",
    "mnist_test_features.npz": "99b296bfd5b1cca35bb88ec4da366e89c09b07393925a3bc3802327ae7d0caa7",
}
# Everything the trained weights depend on besides the data; the cache is keyed by both.
RECIPE = {"arch": "cnn-v1", "epochs": 5, "batch_size": 128, "lr": 2e-3, "seed": 0}
MIN_TEST_ACCURACY = 0.985


class Classifier(nn.Module):
    """conv32-pool-conv64-pool-dense128-dense10 on (B, 784) images in [-1, 1].

    Returns (penultimate features (B, 128), logits (B, 10))."""

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = x.reshape(-1, *IMAGE_SHAPE, 1)
        for i, features in enumerate((32, 64)):  # names fixed: they seed the cached network's init
            x = nn.max_pool(
                nn.relu(Conv(features, 3, dense=True, name=f"Conv3x3_{i}")(x)), (2, 2), (2, 2)
            )
        h = nn.relu(nn.Dense(FEATURE_DIM)(x.reshape(x.shape[0], -1)))
        return h, nn.Dense(NUM_CLASSES)(h)


def _loss(params, images, labels):
    _, logits = Classifier().apply({"params": params}, images)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@functools.partial(jax.jit, static_argnums=(4, 5), donate_argnums=(0, 1))
def _train_epoch(params, opt_state, images_u8, labels, batch_size: int, tx, key):
    order, _ = epoch_order(key, len(images_u8), batch_size, drop_last=True)

    def body(carry, idx):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(_loss)(params, normalize(images_u8[idx]), labels[idx])
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), order)
    return params, opt_state, losses.mean()


def train(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int = RECIPE["epochs"],
    batch_size: int = RECIPE["batch_size"],
    lr: float = RECIPE["lr"],
    seed: int = RECIPE["seed"],
    verbose: bool = True,
) -> Any:
    """Classifier parameters trained on uint8 images (N, 784) with a fixed seed.

    Adam with a cosine-decayed learning rate; the defaults reach about 99% MNIST test accuracy.
    """
    if len(images) < batch_size:
        raise DataError(
            f"the classifier's recipe trains on batches of {batch_size}: {len(images)} training "
            f"images are too few"
        )
    init_key, data_key = jax.random.split(jax.random.key(seed))
    params = Classifier().init(init_key, jnp.zeros((1, IMAGE_PIXELS)))["params"]
    tx = optax.adam(optax.cosine_decay_schedule(lr, epochs * (len(images) // batch_size)))
    opt_state = tx.init(params)
    images, labels = jnp.asarray(images), jnp.asarray(labels, jnp.int32)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        params, opt_state, loss = _train_epoch(
            params, opt_state, images, labels, batch_size, tx, jax.random.fold_in(data_key, epoch)
        )
        if verbose:
            print(
                f"classifier epoch {epoch + 1}/{epochs}: loss {float(loss):.4f} "
                f"({time.perf_counter() - t0:.1f} s)",
                file=sys.stderr,
            )
    return params


@jax.jit
def apply(params, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    return Classifier().apply({"params": params}, images)


def batched(params, images: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(features, logits) of float images (N, 784) in [-1, 1], in fixed-size batches."""
    return in_batches(functools.partial(apply, params), images, size=batch_size)


def accuracy(params, images_u8: np.ndarray, labels: np.ndarray) -> float:
    _, logits = batched(params, np.asarray(normalize(images_u8)))
    return float((logits.argmax(-1) == labels).mean())


def cache_path(cache_dir: str | Path, train_digest: str) -> Path:
    """The cached classifier of this recipe trained on the data whose content digest is given."""
    recipe = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:8]
    return (
        Path(cache_dir).absolute() / "classifier" / f"{RECIPE['arch']}-{recipe}-{train_digest[:16]}"
    )


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def save(params, path: Path, train_digest: str, test_accuracy: float) -> None:
    """Cache `params` with a record of the recipe, the training data and the test accuracy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.save_tree(path, params)
    write_json_atomic(
        _record_path(path),
        {
            "recipe": RECIPE,
            "train_sha256": train_digest,
            "test_accuracy": test_accuracy,
            "params_sha256": content_digest(*jax.tree.leaves(params)),
        },
    )


def load(path: Path, train_digest: str) -> tuple[Any, float] | None:
    """(params, test accuracy) of the cached classifier, or None (with a warning when an entry
    exists but is not the one it claims to be: corrupt, or of another recipe or data)."""
    if not path.exists():
        return None
    template = Classifier().init(jax.random.key(0), jnp.zeros((1, IMAGE_PIXELS)))["params"]
    try:
        record = json.loads(_record_path(path).read_text())
        params = checkpoint.restore_tree(path, template)
        valid = (
            record["recipe"] == RECIPE
            and record["train_sha256"] == train_digest
            and record["params_sha256"] == content_digest(*jax.tree.leaves(params))
        )
    except Exception as e:  # missing record, truncated files: many exception types
        valid, reason = False, type(e).__name__
    else:
        reason = "its record does not match it"
    if not valid:
        print(
            f"warning: ignoring the cached classifier {path} ({reason}); training it again",
            file=sys.stderr,
        )
        return None
    return params, float(record["test_accuracy"])


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
    path = cache_path(cache_dir, train_digest)
    cached = None if force else load(path, train_digest)
    if cached is None:
        print(f"training the evaluation classifier; it is cached in {path}", file=sys.stderr)
        params = train(images, labels)
        cached = params, accuracy(params, *load_dataset("test", data_dir, cache_dir))
        print(f"classifier test accuracy: {cached[1]:.4f}", file=sys.stderr)
        save(params, path, train_digest, cached[1])
    check_accuracy(cached[1])
    return cached


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of feature rows."""
    f = np.asarray(features, np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def export(params, test_images_u8: np.ndarray, folder: str | Path) -> dict[str, str]:
    """Write the classifier's weights and the test set's feature mean and covariance as the
    shipped files into `folder`; their sha256 by name."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    flat = {
        "/".join(k.key for k in path): np.asarray(leaf)
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
    }
    mean, cov = gaussian(batched(params, np.asarray(normalize(test_images_u8)))[0])
    for name, arrays in (
        ("mnist_classifier.npz", flat),
        ("mnist_test_features.npz", {"mean": mean, "cov": cov}),
    ):
        with open(folder / name, "wb") as f:
            np.savez(f, **arrays)
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in SHIPPED_SHA256
    }


def _read_shipped(name: str) -> dict[str, np.ndarray]:
    path = SHIPPED / name
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise EvaluationError(
            f"the shipped evaluation file {path} is unreadable ({e.strerror}); reinstall jaxgan"
        ) from None
    if hashlib.sha256(raw).hexdigest() != SHIPPED_SHA256[name]:
        raise EvaluationError(
            f"the shipped evaluation file {path} does not match its sha256; reinstall jaxgan"
        )
    import io

    with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
        return {k: arrays[k] for k in arrays.files}


@functools.cache
def shipped() -> tuple[Any, tuple[np.ndarray, np.ndarray]]:
    """The shipped classifier's parameters and the real test set's feature (mean, covariance)."""
    template = Classifier().init(jax.random.key(0), jnp.zeros((1, IMAGE_PIXELS)))["params"]
    flat = _read_shipped("mnist_classifier.npz")
    params = jax.tree_util.tree_map_with_path(
        lambda path, leaf: jnp.asarray(flat["/".join(k.key for k in path)], leaf.dtype), template
    )
    stats = _read_shipped("mnist_test_features.npz")
    return params, (stats["mean"], stats["cov"])
