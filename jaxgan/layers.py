"""Layers shared by the GAN models and the evaluation classifier."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


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


def patches(x: jax.Array, size: int, stride: int = 1, pad: int = 1) -> jax.Array:
    """(B, H, W, C) -> (B, H', W', size*size*C): each output pixel's zero-padded receptive field."""
    p = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out_h = (x.shape[1] + 2 * pad - size) // stride + 1
    out_w = (x.shape[2] + 2 * pad - size) // stride + 1
    return jnp.concatenate([p[:, i:i + stride * (out_h - 1) + 1:stride,
                              j:j + stride * (out_w - 1) + 1:stride]
                            for i in range(size) for j in range(size)], -1)


class Conv3x3(nn.Module):
    """The classifier's 3x3 'same' convolution (Flax Dense init), as patches @ kernel."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.Dense(self.features)(patches(x, 3))


class TorchConv(nn.Module):
    """A size x size convolution of (B, H, W, C) with zero padding, initialised as
    torch.nn.Conv2d's default: weight and bias ~ U(±1/sqrt(fan_in)), fan_in = size*size*C.

    Written as patches @ kernel: inside the epoch's lax.scan, XLA's CPU convolutions ran 5-50x
    slower than alone (a whole DCGAN step: 1.7 s in the scan against 52 ms jitted alone)."""

    features: int
    size: int = 3
    stride: int = 1
    pad: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return TorchLinear(self.features, name="linear")(patches(x, self.size, self.stride, self.pad))


def upsample2x(x: jax.Array) -> jax.Array:
    """Nearest-neighbour 2x upsampling of (B, H, W, C)."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
