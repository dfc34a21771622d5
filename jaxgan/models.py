"""Generators and discriminators as Flax linen modules: the reference MLPs and a DCGAN-style pair.

Every layer uses PyTorch's default initialisation (layers.py), so that training starts from the
same distribution as the reference. Images are flat
(B, pixels) rows in [-1, 1] at every interface; discriminators return (logits (B,), code logits
(B, codes) of an InfoGAN Q head (Chen et al., 2016), or None without codes).
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.config import Config
from jaxgan.layers import Conv, Dropout, ModulatedLinear, TorchLinear, upsample2x


class Logits(NamedTuple):
    """A discriminator's outputs on (B, pixels) image rows."""

    logit: jax.Array  # (B,) real/fake
    code_logits: jax.Array | None  # (B, codes): InfoGAN's Q head, with codes
    class_logits: jax.Array | None  # (B, 2 * classes): ADC-GAN's classifier, with class_loss


def latent_codes(z: jax.Array, codes: int) -> jax.Array:
    """The categorical code of each latent: the argmax of its first `codes` coordinates, uniform
    over 0..codes-1 and independent of the rest of z ~ N(0, I)."""
    return jnp.argmax(z[..., :codes], -1)


def _generator_input(
    z: jax.Array, labels: jax.Array | None, num_classes: int, codes: int
) -> jax.Array:
    """z, with the one-hot class label appended for a conditional generator. With `codes`, the
    first `codes` coordinates of z are replaced by their one-hot argmax (InfoGAN's categorical code)."""
    if codes:
        one_hot = jax.nn.one_hot(latent_codes(z, codes), codes, dtype=z.dtype)
        z = jnp.concatenate([z[..., codes:], one_hot], -1)
    if not num_classes:
        return z
    return jnp.concatenate([z, jax.nn.one_hot(labels, num_classes, dtype=z.dtype)], -1)


class DiscriminatorHead(nn.Module):
    """The last stage of both discriminators, on (B, F) features: dropout (training only), the
    real/fake logit, + <embed(label), features> when conditional (the projection discriminator,
    Miyato & Koyama, 2018), InfoGAN's Q head with codes, and with `class_head` ADC-GAN's
    classifier over 2 x classes (real digit k: k, generated digit k: classes + k)."""

    num_classes: int = 0
    dropout: float | jax.Array = 0.0  # training binds the state's rate
    codes: int = 0
    class_head: bool = False

    @nn.compact
    def __call__(self, features: jax.Array, labels: jax.Array | None, train: bool) -> Logits:
        if isinstance(self.dropout, jax.Array) or self.dropout:
            features = Dropout(self.dropout, name="Dropout_0")(features, not train)
        logit = TorchLinear(1, name="out")(features)[..., 0]
        if self.num_classes:
            dim = features.shape[-1]
            embed = nn.Embed(
                self.num_classes,
                dim,
                name="embed",
                embedding_init=nn.initializers.normal(1 / dim**0.5),
            )
            logit = logit + jnp.sum(embed(labels) * features, -1)
        code_logits = TorchLinear(self.codes, name="q")(features) if self.codes else None
        class_logits = (
            TorchLinear(2 * self.num_classes, name="classes")(features) if self.class_head else None
        )
        return Logits(logit, code_logits, class_logits)


def _head(d: nn.Module) -> DiscriminatorHead:
    """A head whose parameters sit beside the discriminator's own ("out", "embed", "q")."""
    head = DiscriminatorHead(d.num_classes, d.dropout, d.codes, d.class_head)
    nn.share_scope(d, head)
    return head


def _layer_name(i: int) -> str:
    return "hidden" if i == 0 else f"hidden{i}"


class Generator(nn.Module):
    """The reference MLP: z (B, latent_dim) [+ labels (B,)] -> image rows (B, pixels) in [-1, 1]
    (MNIST: 784).

    With `modulation`, each hidden layer is a ModulatedLinear conditioned on G's input (z, its
    code and label)."""

    hidden_dim: int = 128
    depth: int = 1
    num_classes: int = 0
    codes: int = 0
    modulation: bool = False
    pixels: int = 784

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        h = c = _generator_input(z, labels, self.num_classes, self.codes)
        for i in range(self.depth):
            if self.modulation:
                h = nn.relu(ModulatedLinear(self.hidden_dim, name=_layer_name(i))(h, c))
            else:
                h = nn.relu(TorchLinear(self.hidden_dim, name=_layer_name(i))(h))
        return jnp.tanh(TorchLinear(self.pixels, name="out")(h))


class Discriminator(nn.Module):
    """The reference MLP: image rows (B, pixels) [+ labels (B,)] -> logit (B,); sigmoid(logit) is
    the reference's output."""

    hidden_dim: int = 128
    depth: int = 1
    num_classes: int = 0
    dropout: float = 0.0
    codes: int = 0
    class_head: bool = False

    @nn.compact
    def __call__(
        self, x: jax.Array, labels: jax.Array | None = None, train: bool = False
    ) -> Logits:
        h = x
        for i in range(self.depth):
            h = nn.leaky_relu(
                TorchLinear(self.hidden_dim, name=_layer_name(i))(h), negative_slope=0.2
            )
        return _head(self)(h, labels, train)


class ConvGenerator(nn.Module):
    """DCGAN-style: z -> (H/4)x(W/4)x(2c) -> upsample, conv3x3 c -> upsample, conv3x3 C -> tanh;
    rows (B, H*W*C). (The layers' names are MNIST's sizes: 7x7, 14x14, 28x28.)

    Upsample + conv in place of transposed convolutions (no checkerboard artefacts); no batch
    norm, so the step stays a pure function of parameters."""

    channels: int = 64
    num_classes: int = 0
    codes: int = 0
    image_shape: tuple[int, int, int] = (28, 28, 1)

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        c, (height, width, colours) = self.channels, self.image_shape
        h = _generator_input(z, labels, self.num_classes, self.codes)
        h = TorchLinear(height // 4 * width // 4 * 2 * c, name="project")(h)
        h = nn.relu(h).reshape(-1, height // 4, width // 4, 2 * c)
        h = nn.relu(Conv(c, 3, name="conv14")(upsample2x(h)))
        h = Conv(colours, 3, name="conv28")(upsample2x(h))
        return jnp.tanh(h.reshape(h.shape[0], -1))


class ConvDiscriminator(nn.Module):
    """DCGAN-style: image -> conv4x4/2 c -> conv4x4/2 2c (H/4 x W/4) -> linear logit;
    LeakyReLU(0.2)."""

    channels: int = 64
    num_classes: int = 0
    dropout: float = 0.0
    codes: int = 0
    class_head: bool = False
    image_shape: tuple[int, int, int] = (28, 28, 1)

    @nn.compact
    def __call__(
        self, x: jax.Array, labels: jax.Array | None = None, train: bool = False
    ) -> Logits:
        h = x.reshape(-1, *self.image_shape)
        for name, features in (("conv14", self.channels), ("conv7", 2 * self.channels)):
            h = nn.leaky_relu(Conv(features, 4, stride=2, name=name)(h), 0.2)
        return _head(self)(h.reshape(h.shape[0], -1), labels, train)


def make_models(config: Config) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of the config's architecture: "mlp" (the reference's) or "dcgan"."""
    classes = config.num_classes if config.conditional else 0
    class_head, shape = bool(config.class_loss), config.image_shape
    if config.arch == "dcgan":
        return (
            ConvGenerator(config.channels, classes, config.codes, shape),
            ConvDiscriminator(
                config.channels, classes, config.d_dropout, config.codes, class_head, shape
            ),
        )
    return (
        Generator(
            config.hidden_dim, config.depth, classes, config.codes, config.modulation, config.pixels
        ),
        Discriminator(
            config.hidden_dim, config.depth, classes, config.d_dropout, config.codes, class_head
        ),
    )
