"""The training step: determinism, the reference's update order and losses, and each option's maths."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan.config import Config
from jaxgan.losses import bce_with_logits, class_losses, mode_seeking_loss
from jaxgan.models import latent_codes
from jaxgan.sampling import generate

from conftest import assert_trees_equal, fns, init, real_batch, step_of

CONFIG = Config(batch_size=16, hidden_dim=32, latent_dim=8)
INFO = Config(batch_size=16, hidden_dim=32, latent_dim=12, codes=10)
step = step_of(CONFIG)


def batch(seed: int = 0, n: int = 16) -> dict:
    return real_batch(n, seed)


def run(seed: int, steps: int = 3, step_fn=step):
    state = init(CONFIG, jax.random.key(seed))
    key = jax.random.key(seed + 1000)
    history = []
    for i in range(steps):
        state, metrics = step_fn(state, batch(i), jax.random.fold_in(key, i))
        history.append(metrics)
    return state, history


def test_same_seed_gives_bit_identical_state(xla_optimized):
    a, ma = run(0)
    b, mb = run(0)
    assert_trees_equal(a, b)
    assert [float(m["d_loss"]) for m in ma] == [float(m["d_loss"]) for m in mb]
    assert int(a.step) == 3


def test_other_seed_gives_other_state():
    a, _ = run(0)
    b, _ = run(1)
    assert not np.array_equal(
        np.asarray(a.g_params["out"]["kernel"]), np.asarray(b.g_params["out"]["kernel"])
    )


@pytest.mark.slow
def test_jit_and_eager_agree(xla_optimized):
    a, ma = run(0, steps=2)
    with jax.disable_jit():
        b, mb = run(0, steps=2, step_fn=fns(CONFIG).step)
    assert_trees_equal(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(ma[-1]["g_loss"]), float(mb[-1]["g_loss"]), rtol=1e-5)


def test_input_state_is_not_mutated():
    state = init(CONFIG)
    before = jax.tree.map(np.array, state)
    new, _ = step(state, batch(), jax.random.key(1))
    assert_trees_equal(before, state)
    assert not np.array_equal(new.g_params["out"]["kernel"], before.g_params["out"]["kernel"])


def test_initial_losses_are_what_bce_predicts():
    """At init |D logits| is small, so each BCE term is ln 2 + O(|logit|): D ~ 2 ln 2, G ~ ln 2."""
    config = Config()  # the reference sizes: the bound below is about their init scale
    state, gan = init(config), fns(config)
    real = batch(0, 64)
    z = jax.random.normal(jax.random.key(7), (64, 100))
    fake = gan.generator.apply({"params": state.g_params}, z)
    logits = [
        gan.discriminator.apply({"params": state.d_params}, x)[0] for x in (real["image"], fake)
    ]
    max_logit = max(float(jnp.abs(x).max()) for x in logits)
    # |BCE(l, y) - ln 2| <= |l|/2 + l^2/8 for each term; D's loss has two terms.
    bound = 2 * (max_logit / 2 + max_logit**2 / 8)
    assert max_logit < 0.5  # PyTorch's init keeps the logits near 0
    _, metrics = step_of(config)(state, real, jax.random.key(7))
    assert abs(float(metrics["d_loss"]) - 2 * math.log(2)) <= bound
    assert abs(float(metrics["d_loss"]) - 2 * math.log(2)) < 0.2
    assert 0.4 < float(metrics["d_real"]) < 0.6 and 0.4 < float(metrics["d_fake"]) < 0.6


def test_step_follows_the_reference_update_order(xla_optimized):
    """D is updated on real(1)+fake(0); G is then scored on the same z by the *updated* D."""
    state, gan = init(CONFIG), fns(CONFIG)
    real, key = batch()["image"], jax.random.key(3)
    new, metrics = step(state, {"image": real}, key)

    z = jax.random.normal(key, (16, CONFIG.latent_dim))
    fake = gan.generator.apply({"params": state.g_params}, z)

    def d(variables, x):
        return gan.discriminator.apply(variables, x)[0]

    def d_loss(p):
        return bce_with_logits(d({"params": p}, real), 1.0) + bce_with_logits(
            d({"params": p}, jax.lax.stop_gradient(fake)), 0.0
        )

    d_grads = jax.grad(d_loss)(state.d_params)
    tx = optax.adam(2e-4)
    d_updates, _ = tx.update(d_grads, tx.init(state.d_params))
    d_params = optax.apply_updates(state.d_params, d_updates)
    # Adam's first step is lr * g / (|g| + eps): where |g| is near eps, the last bits of g (which
    # differ between CPUs' vector units) move it by a fraction of lr. A wrong order moves it by lr.
    step_tolerance = {"rtol": 1e-6, "atol": 2e-4 / 100}
    assert_trees_equal(d_params, new.d_params, **step_tolerance)

    def g_loss(p):
        return bce_with_logits(d({"params": d_params}, gan.generator.apply({"params": p}, z)), 1.0)

    np.testing.assert_allclose(float(metrics["g_loss"]), float(g_loss(state.g_params)), rtol=1e-6)
    g_grads = jax.grad(g_loss)(state.g_params)
    g_updates, _ = tx.update(g_grads, tx.init(state.g_params))
    g_params = optax.apply_updates(state.g_params, g_updates)
    assert_trees_equal(g_params, new.g_params, **step_tolerance)


def test_first_adam_step_moves_each_parameter_by_lr():
    """torch.optim.Adam's first step is lr * g / (|g| + eps): about lr for every non-zero grad."""
    state = init(CONFIG)
    new, _ = step(state, batch(), jax.random.key(1))
    delta = np.abs(
        np.asarray(new.d_params["hidden"]["kernel"] - state.d_params["hidden"]["kernel"])
    )
    assert delta.max() <= 2e-4 * (1 + 1e-4)
    assert np.median(delta) == pytest.approx(2e-4, rel=1e-2)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["hinge", "lsgan"])
def test_alternative_objectives_follow_their_formulas(loss):
    config = CONFIG.replace(loss=loss)
    state, gan = init(config), fns(config)
    key, real = jax.random.key(1), batch()["image"]
    _, metrics = step_of(config)(state, {"image": real}, key)
    fake = gan.generator.apply({"params": state.g_params}, jax.random.normal(key, (16, 8)))
    r, f = (gan.discriminator.apply({"params": state.d_params}, x)[0] for x in (real, fake))
    if loss == "hinge":
        want = jax.nn.relu(1 - r).mean() + jax.nn.relu(1 + f).mean()
    else:
        want = 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean()
    assert float(metrics["d_loss"]) == pytest.approx(float(want), rel=1e-5)


def test_generator_ema_follows_its_formula():
    state = init(CONFIG.replace(ema_decay=0.9))
    new, _ = step_of(CONFIG.replace(ema_decay=0.9))(state, batch(), jax.random.key(1))
    expected = jax.tree.map(lambda old, cur: 0.9 * old + 0.1 * cur, state.g_params, new.g_params)
    assert_trees_equal(new.g_ema_params, expected, rtol=1e-6, atol=1e-7)
    assert new.sampling_params is new.g_ema_params
    off = init(CONFIG)
    assert off.g_ema_params == {} and off.sampling_params is off.g_params


@pytest.mark.slow
def test_info_loss_is_q_cross_entropy_added_to_both_losses():
    on, off, gan = init(INFO), init(INFO.replace(info_weight=0.0)), fns(INFO)
    key = jax.random.key(1)
    new_on, m_on = step_of(INFO)(on, batch(), key)
    new_off, m_off = step_of(INFO)(off, batch(), key)  # the weight is the state's
    z = jax.random.normal(key, (16, 12))  # the step's draw
    fake = generate(gan.generator, on, z).reshape(16, 784)
    code_logits = gan.discriminator.apply({"params": on.d_params}, fake).code_logits
    ce = optax.softmax_cross_entropy_with_integer_labels(code_logits, latent_codes(z, 10)).mean()
    assert float(m_on["info_loss"]) == pytest.approx(float(ce), rel=1e-5)
    assert float(m_on["d_loss"] - m_off["d_loss"]) == pytest.approx(float(ce), rel=1e-4)
    # Weight 0: Q gets no gradient, so Adam leaves it exactly where it was; weight 1 trains it.
    np.testing.assert_array_equal(new_off.d_params["q"]["kernel"], off.d_params["q"]["kernel"])
    assert not np.allclose(new_on.d_params["q"]["kernel"], on.d_params["q"]["kernel"])
    assert "info_loss" not in step(init(CONFIG), batch(), key)[1]


@pytest.mark.slow
def test_d_dropout_masks_are_drawn_from_the_step_key():
    config = CONFIG.replace(hidden_dim=64)
    plain, dropped = init(config), init(config.replace(d_dropout=0.5))
    _, m_plain = step_of(config)(plain, batch(), jax.random.key(1))
    drop_step = step_of(config.replace(d_dropout=0.5))
    _, m1 = drop_step(dropped, batch(), jax.random.key(1))
    _, m2 = drop_step(dropped, batch(), jax.random.key(1))
    _, m3 = drop_step(dropped, batch(), jax.random.key(2))
    assert float(m1["d_loss"]) == float(m2["d_loss"])  # same key, same masks
    assert float(m1["d_loss"]) != float(m3["d_loss"])
    assert float(m1["d_loss"]) != float(m_plain["d_loss"])


def test_d_lr_sets_the_discriminator_step_size():
    """Adam's first update is about ±lr per weight, so D moves by --d-lr and G by --lr."""
    config = CONFIG.replace(lr=1e-4)
    state = init(config.replace(d_lr=1e-3))
    new, _ = step(state, batch(), jax.random.key(1))

    def largest_change(a, b):
        return max(
            float(jnp.abs(x - y).max())
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        )

    assert largest_change(new.d_params, state.d_params) == pytest.approx(1e-3, rel=0.01)
    assert largest_change(new.g_params, state.g_params) == pytest.approx(1e-4, rel=0.01)
    same = step(init(config.replace(d_lr=1e-4)), batch(), jax.random.key(1))
    default = step(init(config), batch(), jax.random.key(1))
    assert_trees_equal(same, default)


# --- ADC-GAN's classifier --------------------------------------------------------------------


@pytest.mark.slow
def test_class_loss_is_added_to_d_and_trains_the_classifier_head():
    config = CONFIG.replace(conditional=True, class_loss=0.5)
    state, gan = init(config), fns(config)
    b = {**batch(), "label": jnp.arange(16) % 10}
    key = jax.random.key(1)
    new, metrics = step_of(config)(state, b, key)
    z = jax.random.normal(key, (16, 8))
    fake = gan.generator.apply({"params": state.g_params}, z, b["label"])
    d = gan.discriminator.apply
    real_out = d({"params": state.d_params}, b["image"], b["label"])
    fake_out = d({"params": state.d_params}, fake, b["label"])
    want, _ = class_losses(real_out.class_logits, fake_out.class_logits, b["label"])
    assert float(metrics["class_loss"]) == pytest.approx(float(want), rel=1e-5)
    off = init(config.replace(class_loss=0.0))
    _, off_metrics = step_of(config.replace(class_loss=0.0))(off, b, key)
    assert "class_loss" not in off_metrics
    assert not np.allclose(new.d_params["classes"]["kernel"], state.d_params["classes"]["kernel"])


@pytest.mark.slow
def test_mode_seeking_adds_its_term_to_g_and_changes_only_g_step():
    config = CONFIG.replace(conditional=True)
    b = {**batch(), "label": jnp.arange(16) % 10}
    key = jax.random.key(1)
    plain, plain_metrics = step_of(config)(init(config), b, key)
    seeking_config = config.replace(mode_seeking=0.5)
    state = init(seeking_config)
    seeking, metrics = step_of(seeking_config)(state, b, key)
    z = jax.random.normal(key, (16, 8))
    fake = fns(config).generator.apply({"params": state.g_params}, z, b["label"])
    term = 0.5 * float(mode_seeking_loss(fake, z, b["label"]))
    assert float(metrics["g_loss"]) == pytest.approx(
        float(plain_metrics["g_loss"]) + term, rel=1e-5
    )
    assert_trees_equal(seeking.d_params, plain.d_params)  # D's step does not see the term
    assert not np.allclose(seeking.g_params["out"]["kernel"], plain.g_params["out"]["kernel"])
