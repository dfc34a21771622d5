"""The DCGAN-style architecture, D dropout, a separate D learning rate, the R1 penalty."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_script
from jaxgan import cli
from jaxgan.config import Config
from jaxgan.epoch import train_epoch, train_epoch_stepwise
from jaxgan.errors import IncompatibleCheckpointError
from jaxgan.layers import TorchConv
from jaxgan.loop import train_and_evaluate
from jaxgan.sampling import generate
from jaxgan.step import create_train_state, train_step

DCGAN = Config(arch="dcgan", channels=4, latent_dim=8, batch_size=16)


def batch(n: int = 16) -> jax.Array:
    return jax.random.uniform(jax.random.key(0), (n, 784), minval=-1, maxval=1)


def naive_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """torch.nn.Conv2d's definition, NHWC, written as loops."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k = w.shape[0]
    out_h, out_w = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    y = np.zeros((x.shape[0], out_h, out_w, w.shape[-1]))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride:i * stride + k, j * stride:j * stride + k]
            y[:, i, j] = np.einsum("bhwc,hwco->bo", window, w) + b
    return y


@pytest.mark.parametrize("size, stride, shape", [(3, 1, (2, 7, 7, 3)), (4, 2, (2, 8, 8, 2))])
def test_conv_is_a_torch_conv2d(size, stride, shape):
    x = jax.random.normal(jax.random.key(0), shape)
    conv = TorchConv(5, size, stride=stride)
    params = conv.init(jax.random.key(1), x)["params"]["linear"]
    bound = 1 / math.sqrt(size * size * shape[-1])  # torch's default init: U(±1/sqrt(fan_in))
    for leaf in (params["kernel"], params["bias"]):
        assert float(jnp.abs(leaf).max()) <= bound
    assert float(jnp.abs(params["kernel"]).max()) > 0.8 * bound
    kernel = np.asarray(params["kernel"], np.float64).reshape(size, size, shape[-1], 5)
    want = naive_conv(np.asarray(x, np.float64), kernel, np.asarray(params["bias"], np.float64),
                      stride, 1)
    got = conv.apply({"params": {"linear": params}}, x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_dcgan_shapes_parameters_and_conditioning():
    c, count = 4, lambda p: sum(x.size for x in jax.tree.leaves(p))
    state = create_train_state(DCGAN, jax.random.key(0))
    assert count(state.g_params) == (8 + 1) * 49 * 2 * c + (9 * 2 * c + 1) * c + (9 * c + 1)
    assert count(state.d_params) == (16 + 1) * c + (16 * c + 1) * 2 * c + 49 * 2 * c + 1
    z = 10 * jax.random.normal(jax.random.key(1), (3, 8))
    images = generate(state, z)
    assert images.shape == (3, 28, 28) and float(jnp.abs(images).max()) <= 1
    logits = state.discriminator.apply({"params": state.d_params}, images.reshape(3, 784))
    assert logits.shape == (3,)

    cond = create_train_state(DCGAN.replace(conditional=True), jax.random.key(0))
    assert cond.d_params["embed"]["embedding"].shape == (10, 49 * 2 * c)  # projection D
    assert not np.allclose(generate(cond, z, jnp.full(3, 7)), generate(cond, z, jnp.full(3, 1)))


def test_dcgan_conditional_dropout_epoch_is_deterministic_and_equals_stepping():
    """Bit-identical across runs; against per-step calls equal to float round-off only, since XLA
    may pick a different convolution algorithm inside the scanned program."""
    config = DCGAN.replace(conditional=True, d_dropout=0.5, batch_size=32)
    images = jax.random.randint(jax.random.key(5), (80, 784), 0, 256).astype(np.uint8)
    labels = jax.random.randint(jax.random.key(6), (80,), 0, 10).astype(np.uint8)
    state = create_train_state(config, jax.random.key(0))
    fast = jax.jit(functools.partial(train_epoch, batch_size=32, drop_last=False))
    a, ma = fast(state, images, jax.random.key(1), labels)
    again, _ = fast(state, images, jax.random.key(1), labels)
    b, mb = train_epoch_stepwise(state, images, jax.random.key(1), labels, batch_size=32,
                                 drop_last=False)
    for x, y, z in zip(jax.tree.leaves(a), jax.tree.leaves(again), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        np.testing.assert_allclose(np.asarray(x), np.asarray(z), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ma["d_loss"], mb["d_loss"], rtol=1e-5)
    assert np.isfinite(ma["d_loss"]).all() and np.isfinite(ma["g_loss"]).all()


def test_d_dropout_is_seeded_by_the_step_key_and_off_outside_training():
    config = Config(batch_size=16, hidden_dim=64, latent_dim=8)
    plain = create_train_state(config, jax.random.key(0))
    dropped = create_train_state(config.replace(d_dropout=0.5), jax.random.key(0))
    step = jax.jit(train_step)
    _, m_plain = step(plain, batch(), jax.random.key(1))
    _, m1 = step(dropped, batch(), jax.random.key(1))
    _, m2 = step(dropped, batch(), jax.random.key(1))
    _, m3 = step(dropped, batch(), jax.random.key(2))
    assert float(m1["d_loss"]) == float(m2["d_loss"])  # same key, same masks
    assert float(m1["d_loss"]) != float(m3["d_loss"])
    assert float(m1["d_loss"]) != float(m_plain["d_loss"])
    # Outside training (no rngs, train=False) D is deterministic and equal to the undropped D.
    apply = functools.partial(dropped.discriminator.apply, {"params": dropped.d_params}, batch())
    np.testing.assert_array_equal(apply(), plain.discriminator.apply({"params": plain.d_params}, batch()))


def test_d_lr_sets_the_discriminator_step_size():
    """Adam's first update is about ±lr per weight, so D moves by --d-lr and G by --lr."""
    config = Config(batch_size=16, hidden_dim=32, latent_dim=8, lr=1e-4)
    state = create_train_state(config.replace(d_lr=1e-3), jax.random.key(0))
    new, _ = jax.jit(train_step)(state, batch(), jax.random.key(1))

    def largest_change(a, b):
        return max(float(jnp.abs(x - y).max()) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))

    assert largest_change(new.d_params, state.d_params) == pytest.approx(1e-3, rel=0.01)
    assert largest_change(new.g_params, state.g_params) == pytest.approx(1e-4, rel=0.01)
    same = create_train_state(config.replace(d_lr=1e-4), jax.random.key(0))
    default = create_train_state(config, jax.random.key(0))
    a, _ = jax.jit(train_step)(same, batch(), jax.random.key(1))
    b, _ = jax.jit(train_step)(default, batch(), jax.random.key(1))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_dcgan_trains_samples_and_refuses_an_mlp_resume(idx_mnist, tmp_path):
    workdir = tmp_path / "run"
    train = load_script("train")
    flags = ["--arch", "dcgan", "--channels", "4", "--latent-dim", "8", "--batch-size", "32",
             "--d-dropout", "0.2", "--d-lr", "4e-4", "--epochs", "1", "--workdir", str(workdir),
             "--data-dir", idx_mnist, "--no-progress", "--no-tensorboard"]
    assert cli.run(train.main, flags) == 0
    saved = (workdir / "config.json").read_text()
    assert '"arch": "dcgan"' in saved and '"d_dropout": 0.2' in saved
    npz = tmp_path / "s.npz"
    assert cli.run(load_script("sample").main, ["--workdir", str(workdir), "--n", "6",
                                                "--export", str(npz)]) == 0
    assert np.load(npz)["images"].shape == (6, 28, 28)
    with pytest.raises(IncompatibleCheckpointError, match="--arch dcgan \\(saved\\) vs mlp"):
        train_and_evaluate(Config(arch="mlp", channels=4, latent_dim=8, batch_size=32, epochs=2),
                           workdir, data_dir=idx_mnist, resume=True, progress=False)


def test_r1_penalty_adds_its_formula_to_the_d_loss():
    config = Config(batch_size=16, hidden_dim=32, latent_dim=8, loss="hinge")
    plain = create_train_state(config, jax.random.key(0))
    penalised = create_train_state(config.replace(r1_gamma=10.0), jax.random.key(0))
    _, a = jax.jit(train_step)(plain, batch(), jax.random.key(1))
    _, b = jax.jit(train_step)(penalised, batch(), jax.random.key(1))

    def logit(x):
        return plain.discriminator.apply({"params": plain.d_params}, x[None])[0]

    grads = jax.vmap(jax.grad(logit))(batch())  # one example at a time
    penalty = 0.5 * 10.0 * float(jnp.mean(jnp.sum(grads**2, -1)))
    assert penalty > 1e-3
    assert float(b["d_loss"]) - float(a["d_loss"]) == pytest.approx(penalty, rel=1e-4)
