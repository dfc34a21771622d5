"""The layers jaxgan's models are built of, initialised as PyTorch's defaults:
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, so that training starts from the same
distribution as the reference."""

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
    return jnp.concatenate(
        [
            p[
                :,
                i : i + stride * (out_h - 1) + 1 : stride,
                j : j + stride * (out_w - 1) + 1 : stride,
            ]
            for i in range(size)
            for j in range(size)
        ],
        -1,
    )


class Conv(nn.Module):
    """A size x size convolution of (B, H, W, C) with zero padding, as patches @ kernel.

    The kernel is a TorchLinear (torch.nn.Conv2d's default init: U(+-1/sqrt(fan_in)), fan_in =
    size*size*C), or with `dense` a Flax Dense (the classifier's init). A matmul over patches keeps
    XLA's CPU backend on its fast path inside the epoch's lax.scan, where its convolutions are not."""

    features: int
    size: int = 3
    stride: int = 1
    pad: int = 1
    dense: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        linear = (
            nn.Dense(self.features) if self.dense else TorchLinear(self.features, name="linear")
        )
        return linear(patches(x, self.size, self.stride, self.pad))


def upsample2x(x: jax.Array) -> jax.Array:
    """Nearest-neighbour 2x upsampling of (B, H, W, C)."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class Dropout(nn.Module):
    """nn.Dropout whose rate may be an array (the training state's): the same mask for the same key
    and rate, and the identity at rate 0."""

    rate: float | jax.Array

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        if deterministic:
            return x
        keep = 1.0 - self.rate
        mask = jax.random.bernoulli(self.make_rng("dropout"), keep, x.shape)
        return jax.lax.select(mask, x / keep, jnp.zeros_like(x))


class ModulatedLinear(nn.Module):
    """TorchLinear(x) * (1 + gamma(c)) + beta(c), gamma and beta linear in the condition c and
    zero at initialisation: self-modulation (Chen et al., 2019) when c is z, conditional
    modulation when c holds the label. With c None: the plain TorchLinear."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, c: jax.Array | None) -> jax.Array:
        h = TorchLinear(self.features, name="linear")(x)
        if c is None:
            return h
        zeros = nn.initializers.zeros
        gamma = nn.Dense(self.features, kernel_init=zeros, name="gamma")(c)
        beta = nn.Dense(self.features, kernel_init=zeros, name="beta")(c)
        return h * (1 + gamma) + beta
