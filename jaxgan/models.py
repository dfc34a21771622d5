"""Generator and discriminator MLPs of the reference GAN, as Flax linen modules.

Both use PyTorch's nn.Linear default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
weight and bias, so that training starts from the same distribution as the reference.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

IMAGE_SIZE = 28 * 28


def _uniform(bound: float) -> nn.initializers.Initializer:
    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class TorchLinear(nn.Module):
    """y = x @ kernel + bias, initialised as torch.nn.Linear: both ~ U(±1/sqrt(fan_in))."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        bound = 1.0 / math.sqrt(x.shape[-1])
        kernel = self.param("kernel", _uniform(bound), (x.shape[-1], self.features))
        bias = self.param("bias", _uniform(bound), (self.features,))
        return x @ kernel + bias


class Generator(nn.Module):
    """z (B, latent_dim) [+ class labels (B,)] -> image (B, 784) in [-1, 1].

    The reference is depth 1, width 128, unconditional. With `num_classes`, a one-hot label is
    concatenated to z (the classic conditional-GAN generator).
    """

    hidden_dim: int = 128
    depth: int = 1
    num_classes: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        h = z
        if self.num_classes:
            h = jnp.concatenate([z, jax.nn.one_hot(labels, self.num_classes, dtype=z.dtype)], -1)
        for i in range(self.depth):
            h = nn.relu(TorchLinear(self.hidden_dim, name="hidden" if i == 0 else f"hidden{i}")(h))
        return jnp.tanh(TorchLinear(IMAGE_SIZE, name="out")(h))


class Discriminator(nn.Module):
    """image (B, 784) [+ class labels (B,)] -> real/fake logit (B,).

    sigmoid(logit) is the reference's output. With `num_classes`, a projection discriminator
    (Miyato & Koyama, 2018): logit += <embed(label), features>.
    """

    hidden_dim: int = 128
    depth: int = 1
    num_classes: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None) -> jax.Array:
        h = x
        for i in range(self.depth):
            h = nn.leaky_relu(TorchLinear(self.hidden_dim, name="hidden" if i == 0 else f"hidden{i}")(h),
                              negative_slope=0.2)
        logit = TorchLinear(1, name="out")(h)[..., 0]
        if self.num_classes:
            embed = nn.Embed(self.num_classes, self.hidden_dim, name="embed",
                             embedding_init=nn.initializers.normal(1 / self.hidden_dim**0.5))
            logit = logit + jnp.sum(embed(labels) * h, -1)
        return logit
