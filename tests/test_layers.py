"""The layers: PyTorch's initialisation, a convolution equal to torch's Conv2d, modulation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.layers import Conv, ModulatedLinear, TorchLinear


def naive_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """torch.nn.Conv2d's definition, NHWC, written as loops."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k = w.shape[0]
    out_h, out_w = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    y = np.zeros((x.shape[0], out_h, out_w, w.shape[-1]))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride : i * stride + k, j * stride : j * stride + k]
            y[:, i, j] = np.einsum("bhwc,hwco->bo", window, w) + b
    return y


@pytest.mark.slow
@pytest.mark.parametrize("size, stride, shape", [(3, 1, (2, 7, 7, 3)), (4, 2, (2, 8, 8, 2))])
def test_conv_is_a_torch_conv2d(size, stride, shape):
    x = jax.random.normal(jax.random.key(0), shape)
    conv = Conv(5, size, stride=stride)
    params = conv.init(jax.random.key(1), x)["params"]["linear"]
    bound = 1 / math.sqrt(size * size * shape[-1])  # torch's default init: U(±1/sqrt(fan_in))
    for leaf in (params["kernel"], params["bias"]):
        assert float(jnp.abs(leaf).max()) <= bound
    assert float(jnp.abs(params["kernel"]).max()) > 0.8 * bound
    kernel = np.asarray(params["kernel"], np.float64).reshape(size, size, shape[-1], 5)
    want = naive_conv(
        np.asarray(x, np.float64), kernel, np.asarray(params["bias"], np.float64), stride, 1
    )
    np.testing.assert_allclose(
        conv.apply({"params": {"linear": params}}, x), want, rtol=1e-5, atol=1e-5
    )


def test_a_modulated_layer_at_zero_modulation_is_the_plain_layer():
    x, c = (
        jax.random.normal(jax.random.key(0), (5, 7)),
        jax.random.normal(jax.random.key(1), (5, 3)),
    )
    layer = ModulatedLinear(4)
    params = layer.init(jax.random.key(2), x, c)["params"]
    plain = TorchLinear(4).apply({"params": params["linear"]}, x)
    np.testing.assert_array_equal(layer.apply({"params": params}, x, c), plain)  # zero-initialised
    np.testing.assert_array_equal(layer.apply({"params": params}, x, None), plain)
    gamma = jax.tree.map(lambda p: p + 0.5, params["gamma"])
    beta = jax.tree.map(lambda p: p - 0.25, params["beta"])
    moved = layer.apply({"params": {**params, "gamma": gamma, "beta": beta}}, x, c)
    g = c @ gamma["kernel"] + gamma["bias"]
    b = c @ beta["kernel"] + beta["bias"]
    np.testing.assert_allclose(moved, plain * (1 + g) + b, rtol=1e-5, atol=1e-6)
