"""Generators and discriminators as Flax linen modules: the reference MLPs and a DCGAN-style pair.

Every layer uses PyTorch's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight
and bias, so that training starts from the same distribution as the reference. Images are flat
(B, 784) in [-1, 1] at every interface; discriminators return logits (B,), and with
`with_codes=True` also the code logits (B, codes) of an InfoGAN Q head (Chen et al., 2016).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.layers import TorchConv, TorchLinear, upsample2x

IMAGE_SIZE = 28 * 28


def latent_codes(z: jax.Array, codes: int) -> jax.Array:
    """The categorical code of each latent: the argmax of its first `codes` coordinates, uniform
    over 0..codes-1 and independent of the rest of z ~ N(0, I)."""
    return jnp.argmax(z[..., :codes], -1)


def _generator_input(z: jax.Array, labels: jax.Array | None, num_classes: int,
                     codes: int = 0) -> jax.Array:
    """z, with the one-hot class label appended for a conditional generator. With `codes`, the
    first `codes` coordinates of z are replaced by their one-hot argmax (InfoGAN's categorical code)."""
    if codes:
        z = jnp.concatenate([z[..., codes:], jax.nn.one_hot(latent_codes(z, codes), codes,
                                                            dtype=z.dtype)], -1)
    if not num_classes:
        return z
    return jnp.concatenate([z, jax.nn.one_hot(labels, num_classes, dtype=z.dtype)], -1)


def _discriminator_head(d: nn.Module, features: jax.Array, labels: jax.Array | None, train: bool,
                        with_codes: bool) -> jax.Array | tuple[jax.Array, jax.Array | None]:
    """The last stage of both discriminators `d`, on (B, F) features; call inside d's compact method.

    Dropout at rate `d.dropout` (training only), then the linear real/fake logit (B,); conditional:
    + <embed(label), features>, the projection discriminator (Miyato & Koyama, 2018). With
    `with_codes`, also InfoGAN's Q head: the logits (B, codes) of the categorical code the image was
    generated from (None without codes)."""
    features = nn.Dropout(d.dropout, deterministic=not train)(features)  # rate 0: the identity
    logit = TorchLinear(1, name="out")(features)[..., 0]
    if d.num_classes:
        dim = features.shape[-1]
        embed = nn.Embed(d.num_classes, dim, name="embed",
                         embedding_init=nn.initializers.normal(1 / dim**0.5))
        logit = logit + jnp.sum(embed(labels) * features, -1)
    code_logits = TorchLinear(d.codes, name="q")(features) if d.codes else None
    return (logit, code_logits) if with_codes else logit


class Generator(nn.Module):
    """The reference MLP: z (B, latent_dim) [+ labels (B,)] -> image (B, 784) in [-1, 1].

    The reference is depth 1, width 128, unconditional, without codes."""

    hidden_dim: int = 128
    depth: int = 1
    num_classes: int = 0
    codes: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        h = _generator_input(z, labels, self.num_classes, self.codes)
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
    codes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False,
                 with_codes: bool = False) -> jax.Array | tuple[jax.Array, jax.Array | None]:
        h = x
        for i in range(self.depth):
            h = nn.leaky_relu(TorchLinear(self.hidden_dim, name="hidden" if i == 0 else f"hidden{i}")(h),
                              negative_slope=0.2)
        return _discriminator_head(self, h, labels, train, with_codes)


class ConvGenerator(nn.Module):
    """DCGAN-style: z -> 7x7x(2c) -> upsample, conv3x3 c -> upsample, conv3x3 1 -> tanh.

    Upsample + conv in place of transposed convolutions (no checkerboard artefacts); no batch
    norm, so the step stays a pure function of parameters."""

    channels: int = 64
    num_classes: int = 0
    codes: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        c = self.channels
        h = _generator_input(z, labels, self.num_classes, self.codes)
        h = TorchLinear(7 * 7 * 2 * c, name="project")(h)
        h = nn.relu(h).reshape(-1, 7, 7, 2 * c)
        h = nn.relu(TorchConv(c, 3, name="conv14")(upsample2x(h)))
        h = TorchConv(1, 3, name="conv28")(upsample2x(h))
        return jnp.tanh(h.reshape(-1, IMAGE_SIZE))


class ConvDiscriminator(nn.Module):
    """DCGAN-style: image -> conv4x4/2 c -> conv4x4/2 2c (7x7) -> linear logit; LeakyReLU(0.2)."""

    channels: int = 64
    num_classes: int = 0
    dropout: float = 0.0
    codes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False,
                 with_codes: bool = False) -> jax.Array | tuple[jax.Array, jax.Array | None]:
        h = x.reshape(-1, 28, 28, 1)
        for name, features in (("conv14", self.channels), ("conv7", 2 * self.channels)):
            h = nn.leaky_relu(TorchConv(features, 4, stride=2, name=name)(h), 0.2)
        return _discriminator_head(self, h.reshape(h.shape[0], -1), labels, train, with_codes)


def make_models(arch: str, *, hidden_dim: int, depth: int, channels: int, num_classes: int,
                dropout: float, g_depth: int = 0, g_hidden_dim: int = 0,
                codes: int = 0) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of an architecture: "mlp" (the reference's) or "dcgan"."""
    if arch == "mlp":
        return (Generator(g_hidden_dim or hidden_dim, g_depth or depth, num_classes, codes),
                Discriminator(hidden_dim, depth, num_classes, dropout, codes))
    if arch == "dcgan":
        return (ConvGenerator(channels, num_classes, codes),
                ConvDiscriminator(channels, num_classes, dropout, codes))
    raise ValueError(f"unknown architecture {arch!r}")
