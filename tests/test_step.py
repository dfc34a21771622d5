import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan.config import Config
from jaxgan.step import bce_with_logits, create_train_state, train_step

CONFIG = Config(batch_size=16, hidden_dim=32, latent_dim=8)


def batch(seed: int = 0, n: int = 16) -> jax.Array:
    return jax.random.uniform(jax.random.key(seed), (n, 784), minval=-1, maxval=1)


def run(seed: int, steps: int = 3, step_fn=jax.jit(train_step)):
    state = create_train_state(CONFIG, jax.random.key(seed))
    key = jax.random.key(seed + 1000)
    history = []
    for i in range(steps):
        state, metrics = step_fn(state, batch(i), jax.random.fold_in(key, i))
        history.append(metrics)
    return state, history


def leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(state)]


def test_same_seed_gives_bit_identical_state():
    a, ma = run(0)
    b, mb = run(0)
    for x, y in zip(leaves(a), leaves(b)):
        np.testing.assert_array_equal(x, y)
    assert [float(m["d_loss"]) for m in ma] == [float(m["d_loss"]) for m in mb]
    assert int(a.step) == 3


def test_other_seed_gives_other_state():
    a, _ = run(0)
    b, _ = run(1)
    assert not np.array_equal(np.asarray(a.g_params["out"]["kernel"]),
                              np.asarray(b.g_params["out"]["kernel"]))


def test_jit_and_eager_agree():
    a, ma = run(0, steps=2, step_fn=jax.jit(train_step))
    with jax.disable_jit():
        b, mb = run(0, steps=2, step_fn=train_step)
    for x, y in zip(leaves(a), leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(ma[-1]["g_loss"]), float(mb[-1]["g_loss"]), rtol=1e-5)


def test_input_state_is_not_mutated():
    state = create_train_state(CONFIG, jax.random.key(0))
    before = leaves(state)
    new, _ = jax.jit(train_step)(state, batch(), jax.random.key(1))
    for x, y in zip(before, leaves(state)):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(before, leaves(new)))


def test_initial_losses_are_what_bce_predicts():
    """At init |D logits| is small, so each BCE term is ln 2 + O(|logit|): D ~ 2 ln 2, G ~ ln 2."""
    config = Config()  # the reference sizes: the bound below is about their init scale
    state = create_train_state(config, jax.random.key(0))
    real = batch(0, 64)
    z = jax.random.normal(jax.random.key(7), (64, 100))
    fake = state.generator.apply({"params": state.g_params}, z)
    logits = [state.discriminator.apply({"params": state.d_params}, x) for x in (real, fake)]
    max_logit = max(float(jnp.abs(x).max()) for x in logits)
    # |BCE(l, y) - ln 2| <= |l|/2 + l^2/8 for each term; D's loss has two terms.
    bound = 2 * (max_logit / 2 + max_logit**2 / 8)
    assert max_logit < 0.5  # PyTorch's init keeps the logits near 0
    _, metrics = jax.jit(train_step)(state, real, jax.random.key(7))
    assert abs(float(metrics["d_loss"]) - 2 * math.log(2)) <= bound
    assert abs(float(metrics["d_loss"]) - 2 * math.log(2)) < 0.2
    assert 0.4 < float(metrics["d_real"]) < 0.6 and 0.4 < float(metrics["d_fake"]) < 0.6


def test_bce_matches_the_textbook_formula():
    logits = jnp.array([-30.0, -2.0, 0.0, 0.5, 20.0])
    p = 1 / (1 + np.exp(-np.asarray(logits, np.float64)))
    with np.errstate(divide="ignore"):
        expected_1 = np.mean(-np.log(p))
        expected_0 = np.mean(-np.log1p(-p))
    np.testing.assert_allclose(float(bce_with_logits(logits, 1.0)), expected_1, rtol=1e-5)
    np.testing.assert_allclose(float(bce_with_logits(logits, 0.0)), expected_0, rtol=1e-5)


def test_step_follows_the_reference_update_order():
    """D is updated on real(1)+fake(0); G is then scored on the same z by the *updated* D."""
    state = create_train_state(CONFIG, jax.random.key(0))
    real, key = batch(), jax.random.key(3)
    new, metrics = jax.jit(train_step)(state, real, key)

    z = jax.random.normal(key, (16, CONFIG.latent_dim))
    fake = state.generator.apply({"params": state.g_params}, z)
    d = state.discriminator.apply

    def d_loss(p):
        return bce_with_logits(d({"params": p}, real), 1.0) + bce_with_logits(
            d({"params": p}, jax.lax.stop_gradient(fake)), 0.0)

    d_grads = jax.grad(d_loss)(state.d_params)
    tx = optax.adam(2e-4)
    d_updates, _ = tx.update(d_grads, tx.init(state.d_params))
    d_params = optax.apply_updates(state.d_params, d_updates)
    for x, y in zip(jax.tree.leaves(d_params), jax.tree.leaves(new.d_params)):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)

    def g_loss(p):
        return bce_with_logits(d({"params": d_params}, state.generator.apply({"params": p}, z)), 1.0)

    np.testing.assert_allclose(float(metrics["g_loss"]), float(g_loss(state.g_params)), rtol=1e-6)
    g_grads = jax.grad(g_loss)(state.g_params)
    g_updates, _ = tx.update(g_grads, tx.init(state.g_params))
    g_params = optax.apply_updates(state.g_params, g_updates)
    for x, y in zip(jax.tree.leaves(g_params), jax.tree.leaves(new.g_params)):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_first_adam_step_moves_each_parameter_by_lr():
    """torch.optim.Adam's first step is lr * g / (|g| + eps): about lr for every non-zero grad."""
    state = create_train_state(CONFIG, jax.random.key(0))
    new, _ = jax.jit(train_step)(state, batch(), jax.random.key(1))
    delta = np.abs(np.asarray(new.d_params["hidden"]["kernel"] - state.d_params["hidden"]["kernel"]))
    assert delta.max() <= 2e-4 * (1 + 1e-4)
    assert np.median(delta) == pytest.approx(2e-4, rel=1e-2)
