"""Generators and discriminators as Flax linen modules: the reference MLPs and a DCGAN-style pair.

Every layer uses PyTorch's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight
and bias, so that training starts from the same distribution as the reference. Images are flat
(B, 784) in [-1, 1] at every interface; discriminators return logits (B,).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.layers import TorchConv, TorchLinear, upsample2x

IMAGE_SIZE = 28 * 28


def _generator_input(z: jax.Array, labels: jax.Array | None, num_classes: int) -> jax.Array:
    """z, with the one-hot class label appended for a conditional generator."""
    if not num_classes:
        return z
    return jnp.concatenate([z, jax.nn.one_hot(labels, num_classes, dtype=z.dtype)], -1)


def _logit(features: jax.Array, labels: jax.Array | None, num_classes: int) -> jax.Array:
    """Linear real/fake logit of (B, F) features; conditional: + <embed(label), features>, the
    projection discriminator (Miyato & Koyama, 2018). Call inside a compact method."""
    logit = TorchLinear(1, name="out")(features)[..., 0]
    if num_classes:
        dim = features.shape[-1]
        embed = nn.Embed(num_classes, dim, name="embed",
                         embedding_init=nn.initializers.normal(1 / dim**0.5))
        logit = logit + jnp.sum(embed(labels) * features, -1)
    return logit


class Generator(nn.Module):
    """The reference MLP: z (B, latent_dim) [+ labels (B,)] -> image (B, 784) in [-1, 1].

    The reference is depth 1, width 128, unconditional."""

    hidden_dim: int = 128
    depth: int = 1
    num_classes: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        h = _generator_input(z, labels, self.num_classes)
        for i in range(self.depth):
            h = nn.relu(TorchLinear(self.hidden_dim, name="hidden" if i == 0 else f"hidden{i}")(h))
        return jnp.tanh(TorchLinear(IMAGE_SIZE, name="out")(h))


class Discriminator(nn.Module):
    """The reference MLP: image (B, 784) [+ labels (B,)] -> logit (B,); sigmoid(logit) is the
    reference's output. `dropout` on the last hidden features applies when called with train=True."""

    hidden_dim: int = 128
    depth: int = 1
    num_classes: int = 0
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False) -> jax.Array:
        h = x
        for i in range(self.depth):
            h = nn.leaky_relu(TorchLinear(self.hidden_dim, name="hidden" if i == 0 else f"hidden{i}")(h),
                              negative_slope=0.2)
        h = nn.Dropout(self.dropout, deterministic=not train)(h)  # rate 0: the identity
        return _logit(h, labels, self.num_classes)


class ConvGenerator(nn.Module):
    """DCGAN-style: z -> 7x7x(2c) -> upsample, conv3x3 c -> upsample, conv3x3 1 -> tanh.

    Upsample + conv in place of transposed convolutions (no checkerboard artefacts); no batch
    norm, so the step stays a pure function of parameters."""

    channels: int = 64
    num_classes: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        c = self.channels
        h = TorchLinear(7 * 7 * 2 * c, name="project")(_generator_input(z, labels, self.num_classes))
        h = nn.relu(h).reshape(-1, 7, 7, 2 * c)
        h = nn.relu(TorchConv(c, 3, name="conv14")(upsample2x(h)))
        h = TorchConv(1, 3, name="conv28")(upsample2x(h))
        return jnp.tanh(h.reshape(-1, IMAGE_SIZE))


class ConvDiscriminator(nn.Module):
    """DCGAN-style: image -> conv4x4/2 c -> conv4x4/2 2c (7x7) -> linear logit; LeakyReLU(0.2)."""

    channels: int = 64
    num_classes: int = 0
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False) -> jax.Array:
        h = x.reshape(-1, 28, 28, 1)
        for name, features in (("conv14", self.channels), ("conv7", 2 * self.channels)):
            h = nn.leaky_relu(TorchConv(features, 4, stride=2, name=name)(h), 0.2)
        h = h.reshape(h.shape[0], -1)
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        return _logit(h, labels, self.num_classes)


def make_models(arch: str, *, hidden_dim: int, depth: int, channels: int, num_classes: int,
                dropout: float) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of an architecture: "mlp" (the reference's) or "dcgan"."""
    if arch == "mlp":
        return (Generator(hidden_dim, depth, num_classes),
                Discriminator(hidden_dim, depth, num_classes, dropout))
    if arch == "dcgan":
        return (ConvGenerator(channels, num_classes),
                ConvDiscriminator(channels, num_classes, dropout))
    raise ValueError(f"unknown architecture {arch!r}")
