"""A small Flax CNN MNIST classifier whose penultimate features define jaxgan's metrics.

Trained by jaxgan itself with a fixed seed and cached as an Orbax checkpoint, so every user's
MNIST-FID is computed with the same network.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

from jaxgan.data import load_dataset, normalize
from jaxgan.errors import CheckpointError
from jaxgan.layers import Conv3x3

FEATURE_DIM = 128
CLASSIFIER_VERSION = "cnn-v1"  # part of the cache path: change it when the recipe changes


class Classifier(nn.Module):
    """conv32-pool-conv64-pool-dense128-dense10 on (B, 784) images in [-1, 1].

    Returns (penultimate features (B, 128), logits (B, 10))."""

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = x.reshape(-1, 28, 28, 1)
        x = nn.max_pool(nn.relu(Conv3x3(32)(x)), (2, 2), (2, 2))
        x = nn.max_pool(nn.relu(Conv3x3(64)(x)), (2, 2), (2, 2))
        h = nn.relu(nn.Dense(FEATURE_DIM)(x.reshape(x.shape[0], -1)))
        return h, nn.Dense(10)(h)


def _loss(params, images, labels):
    _, logits = Classifier().apply({"params": params}, images)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@functools.partial(jax.jit, static_argnums=(4, 5), donate_argnums=(0, 1))
def _train_epoch(params, opt_state, images_u8, labels, batch_size: int, tx, key):
    perm = jax.random.permutation(key, len(images_u8))
    n = len(images_u8) // batch_size
    order = perm[: n * batch_size].reshape(n, batch_size)

    def body(carry, idx):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(_loss)(params, normalize(images_u8[idx]), labels[idx])
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), order)
    return params, opt_state, losses.mean()


TRAIN_EPOCHS = 5


def train(images: np.ndarray, labels: np.ndarray, *, epochs: int = TRAIN_EPOCHS, batch_size: int = 128,
          lr: float = 2e-3, seed: int = 0, verbose: bool = True) -> Any:
    """Classifier parameters trained on uint8 images (N, 784) with a fixed seed.

    Adam with a cosine-decayed learning rate; the defaults reach about 99% MNIST test accuracy.
    """
    init_key, data_key = jax.random.split(jax.random.key(seed))
    params = Classifier().init(init_key, jnp.zeros((1, 784)))["params"]
    tx = optax.adam(optax.cosine_decay_schedule(lr, epochs * (len(images) // batch_size)))
    opt_state = tx.init(params)
    images, labels = jnp.asarray(images), jnp.asarray(labels, jnp.int32)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        params, opt_state, loss = _train_epoch(params, opt_state, images, labels, batch_size, tx,
                                               jax.random.fold_in(data_key, epoch))
        if verbose:
            print(f"classifier epoch {epoch + 1}/{epochs}: loss {float(loss):.4f} "
                  f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return params


@jax.jit
def apply(params, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    return Classifier().apply({"params": params}, images)


def batched(params, images: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(features, logits) of float images (N, 784) in [-1, 1], in fixed-size batches."""
    out = [jax.device_get(apply(params, jnp.asarray(images[i: i + batch_size])))
           for i in range(0, len(images), batch_size)]
    return np.concatenate([f for f, _ in out]), np.concatenate([l for _, l in out])


def accuracy(params, images_u8: np.ndarray, labels: np.ndarray) -> float:
    _, logits = batched(params, np.asarray(normalize(images_u8)))
    return float((logits.argmax(-1) == labels).mean())


def checkpoint_path(cache_dir: str | Path) -> Path:
    return Path(cache_dir).absolute() / "classifier" / CLASSIFIER_VERSION


def save(params, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with ocp.StandardCheckpointer() as ckpt:  # writes to a temporary folder, then renames
        ckpt.save(path, params, force=True)


def load(path: Path) -> Any:
    template = Classifier().init(jax.random.key(0), jnp.zeros((1, 784)))["params"]
    try:
        with ocp.StandardCheckpointer() as ckpt:
            return ckpt.restore(path, template)
    except Exception as e:
        raise CheckpointError(f"classifier checkpoint {path} is unreadable ({type(e).__name__}); "
                              f"delete it or run scripts/train_classifier.py") from None


def load_or_train(cache_dir: str | Path, data_dir: str | None = None) -> Any:
    """The cached classifier, trained (about a minute on 2 CPU cores) on first use."""
    path = checkpoint_path(cache_dir)
    if path.exists():
        return load(path)
    print(f"training the evaluation classifier once; it is cached in {path}", file=sys.stderr)
    images, labels = load_dataset("mnist", "train", data_dir, cache_dir)
    params = train(images, labels)
    test_images, test_labels = load_dataset("mnist", "test", data_dir, cache_dir)
    print(f"classifier test accuracy: {accuracy(params, test_images, test_labels):.4f}",
          file=sys.stderr)
    save(params, path)
    return params
