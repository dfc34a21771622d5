"""A label-free feature space: the encoder of a small MNIST autoencoder.

The classifier's features are what tells digits apart; a generator can be tuned to match them
without drawing better digits. The encoder learned no labels: its 64-d codes are what a decoder
needs to redraw the image, so a Fréchet distance and k-NN manifolds in them judge the images, not
what a classifier attends to. jaxgan ships its weights and the MNIST test set's codes, pinned by
sha256; `train` with its recipe on MNIST's training split reproduces them
(`jaxgan-train-classifier`).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import networks
from jaxgan.classifier import conv_trunk
from jaxgan.data import in_batches, load_dataset, normalize
from jaxgan.files import content_digest
from jaxgan.mnist import IMAGE_PIXELS

CODE_DIM = 64


class Encoder(nn.Module):
    """conv32-pool-conv64-pool-dense64 on (B, 784) images in [-1, 1]: codes (B, 64)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.Dense(CODE_DIM)(conv_trunk(x))


class Autoencoder(nn.Module):
    """The encoder and an MLP decoder (64 -> 512 -> 784, tanh): (codes, reconstructions)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        codes = Encoder(name="encoder")(x)
        h = nn.relu(nn.Dense(512)(codes))
        return codes, jnp.tanh(nn.Dense(IMAGE_PIXELS)(h))


def _loss(params, images, labels):
    del labels  # label-free: the images are their own targets
    _, reconstructions = Autoencoder().apply({"params": params}, images)
    return jnp.mean(jnp.square(reconstructions - images))


ENCODER = networks.Network(
    name="encoder",
    module=Autoencoder(),
    loss=_loss,
    recipe={"arch": "ae-v1", "epochs": 5, "batch_size": 128, "lr": 2e-3, "seed": 0},
    shipped={
        "mnist_encoder.npz": "76bc7f7ee87a5353b27fd1468566964c4d9b730d616a45afe5ce383ebba40c17",
        "mnist_test_codes.npz": "6b91a421edc7d930de50b935ceacb62777880a5a80a4258d5cd40e31f1b562a5",
    },
)


@jax.jit
def apply(params, images: jax.Array) -> jax.Array:
    return Encoder().apply({"params": params}, images)


def codes(params, images: np.ndarray) -> np.ndarray:
    """Codes (N, 64) of float images (N, 784) in [-1, 1], in batches of 1,000."""
    return in_batches(functools.partial(apply, params), images)


def load_or_train(
    cache_dir: str | Path, data_dir: str | None = None, *, force: bool = False
) -> Any:
    """The encoder for the MNIST training split in `data_dir`: cached, or trained and cached."""
    images, labels = load_dataset("train", data_dir, cache_dir)
    train_digest = content_digest(images, labels)
    path = networks.cache_path(ENCODER, cache_dir, train_digest)
    cached = None if force else networks.load(ENCODER, path, train_digest)
    if cached is not None:
        return cached[0]["encoder"]
    print(f"training the evaluation encoder; it is cached in {path}", file=sys.stderr)
    params = networks.fit(ENCODER, images, labels)
    networks.save(ENCODER, params, path, train_digest)
    return params["encoder"]


def export(params, test_images_u8: np.ndarray, folder: str | Path) -> dict[str, str]:
    """Write the encoder's weights and the test set's codes as the shipped files into `folder`;
    their sha256 by name."""
    test_codes = codes(params, np.asarray(normalize(test_images_u8)))
    weights, reference = ENCODER.shipped
    return networks.write_files(
        folder, {weights: networks.flat_params(params), reference: {"codes": test_codes}}
    )


@functools.cache
def shipped() -> tuple[Any, np.ndarray]:
    """The shipped encoder's parameters and the real test set's codes (10,000, 64)."""
    weights, reference = ENCODER.shipped
    template = Encoder().init(jax.random.key(0), jnp.zeros((1, IMAGE_PIXELS)))["params"]
    params = networks.params_from_flat(networks.read_shipped(ENCODER, weights), template)
    return params, networks.read_shipped(ENCODER, reference)["codes"]
