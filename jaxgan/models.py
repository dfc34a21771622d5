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
    """z (B, latent_dim) -> image (B, 784) in [-1, 1]."""

    hidden_dim: int = 128

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        h = nn.relu(TorchLinear(self.hidden_dim, name="hidden")(z))
        return jnp.tanh(TorchLinear(IMAGE_SIZE, name="out")(h))


class Discriminator(nn.Module):
    """image (B, 784) -> real/fake logit (B,). sigmoid(logit) is the reference's output."""

    hidden_dim: int = 128

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.leaky_relu(TorchLinear(self.hidden_dim, name="hidden")(x), negative_slope=0.2)
        return TorchLinear(1, name="out")(h)[..., 0]
