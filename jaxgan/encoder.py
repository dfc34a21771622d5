"""A label-free feature space: the encoder of a small MNIST autoencoder.

The classifier's features are what tells digits apart; a generator can be tuned to match them
without drawing better digits. The encoder learned no labels: its 64-d codes are what a decoder
needs to redraw the image, so a Fréchet distance and k-NN manifolds in them judge the images, not
what a classifier attends to. jaxgan ships its weights and the MNIST test set's codes, pinned by
sha256; its recipe on MNIST's training split reproduces them (`jaxgan-train-classifier`), and
builds the encoder of any other dataset (references.py).
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
from jaxgan.images import MNIST_SHAPE
from jaxgan.networks import Shape

CODE_DIM = 64


class Encoder(nn.Module):
    """conv32-pool-conv64-pool-dense64 on images (B, H*W*C) in [-1, 1]: codes (B, 64)."""

    image_shape: Shape = MNIST_SHAPE

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.Dense(CODE_DIM)(conv_trunk(x, self.image_shape))


class Autoencoder(nn.Module):
    """The encoder and an MLP decoder (64 -> 512 -> H*W*C, tanh): (codes, reconstructions)."""

    image_shape: Shape = MNIST_SHAPE

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        codes = Encoder(self.image_shape, name="encoder")(x)
        h = nn.relu(nn.Dense(512)(codes))
        return codes, jnp.tanh(nn.Dense(x.shape[-1])(h))


MNIST_ENCODER = Encoder()


def _loss(module: Autoencoder, params, images, labels):
    del labels  # label-free: the images are their own targets
    _, reconstructions = module.apply({"params": params}, images)
    return jnp.mean(jnp.square(reconstructions - images))


ENCODER = networks.Network(
    name="encoder",
    loss=_loss,
    recipe={"arch": "ae-v1", "epochs": 5, "batch_size": 128, "lr": 2e-3, "seed": 0},
    files={
        "encoder.npz": "76bc7f7ee87a5353b27fd1468566964c4d9b730d616a45afe5ce383ebba40c17",
        "test_codes.npz": "6b91a421edc7d930de50b935ceacb62777880a5a80a4258d5cd40e31f1b562a5",
    },
)


@functools.partial(jax.jit, static_argnums=2)
def apply(params, images: jax.Array, module: Encoder = MNIST_ENCODER) -> jax.Array:
    return module.apply({"params": params}, images)


def codes(params, images: np.ndarray, module: Encoder = MNIST_ENCODER) -> np.ndarray:
    """Codes (N, 64) of float images as rows in [-1, 1], in batches of 1,000."""
    return in_batches(lambda x: apply(params, x, module), images)


def train(images: np.ndarray, shape: Shape, *, min_steps: int = 0, verbose: bool = True) -> Any:
    """The encoder's parameters, trained as the autoencoder of uint8 images (N, H*W*C) of
    `shape` by the recipe (`networks.fit`)."""
    labels = np.zeros(len(images), np.int32)
    module = Autoencoder(shape)
    return networks.fit(ENCODER, module, images, labels, min_steps=min_steps, verbose=verbose)[
        "encoder"
    ]


def load_or_train(
    cache_dir: str | Path, data_dir: str | None = None, *, force: bool = False
) -> Any:
    """The encoder for the MNIST training split in `data_dir`: cached, or trained and cached."""
    images, labels = load_dataset("train", data_dir, cache_dir)
    train_digest = content_digest(images, labels)
    path = networks.cache_path(ENCODER, cache_dir, train_digest)
    cached = None if force else networks.load(ENCODER, Autoencoder(), path, train_digest)
    if cached is not None:
        return cached[0]["encoder"]
    print(f"training the evaluation encoder; it is cached in {path}", file=sys.stderr)
    params = networks.fit(ENCODER, Autoencoder(), images, labels)
    networks.save(ENCODER, params, path, train_digest)
    return params["encoder"]


def reference_files(
    params, test_images_u8: np.ndarray, module: Encoder = MNIST_ENCODER
) -> dict[str, dict[str, np.ndarray]]:
    """The encoder's two files of a reference: its weights and its codes of the real test images."""
    test_codes = codes(params, np.asarray(normalize(test_images_u8)), module)
    weights, reference = ENCODER.files
    return {weights: networks.flat_params(params), reference: {"codes": test_codes}}


def from_files(
    weights: dict[str, np.ndarray], reference: dict[str, np.ndarray], module: Encoder
) -> tuple[Any, np.ndarray]:
    """(parameters, the real test images' codes) from a reference's two files."""
    params = networks.params_from_flat(weights, networks.init(module, jax.random.key(0)))
    return params, reference["codes"]


@functools.cache
def shipped() -> tuple[Any, np.ndarray]:
    """The shipped encoder's parameters and the real test set's codes (10,000, 64)."""
    return from_files(*networks.read_shipped(ENCODER), MNIST_ENCODER)
