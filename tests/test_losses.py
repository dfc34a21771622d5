"""The objectives against their formulas: BCE, ADC-GAN's classifier losses and MSGAN's mode-seeking
term, each computed by hand."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.losses import bce_with_logits, class_losses, mode_seeking_loss


def test_bce_matches_the_textbook_formula():
    logits = jnp.array([-30.0, -2.0, 0.0, 0.5, 20.0])
    p = 1 / (1 + np.exp(-np.asarray(logits, np.float64)))
    with np.errstate(divide="ignore"):
        expected_1 = np.mean(-np.log(p))
        expected_0 = np.mean(-np.log1p(-p))
    np.testing.assert_allclose(float(bce_with_logits(logits, 1.0)), expected_1, rtol=1e-5)
    np.testing.assert_allclose(float(bce_with_logits(logits, 0.0)), expected_0, rtol=1e-5)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_class_losses_match_a_hand_computed_value():
    real = np.array([[2.0, 0.0] + [0.0] * 18, [0.0] * 20])
    fake = np.array([[0.0] * 10 + [1.0] + [0.0] * 9, [0.0, 3.0] + [0.0] * 18])
    labels = np.array([0, 1])
    lr, lf = _log_softmax(real), _log_softmax(fake)
    # D: real digit k is class k, generated digit k is class 10 + k; G: the reverse pull
    d_want = -(lr[0, 0] + lr[1, 1]) / 2 - (lf[0, 10] + lf[1, 11]) / 2
    g_want = -(lf[0, 0] + lf[1, 1]) / 2 + (lf[0, 10] + lf[1, 11]) / 2
    d, g = class_losses(jnp.asarray(real), jnp.asarray(fake), jnp.asarray(labels))
    assert float(d) == pytest.approx(d_want, rel=1e-6)
    assert float(g) == pytest.approx(g_want, rel=1e-6)
    # 20 uniform classes: log 20 each; G's two terms cancel
    d, g = class_losses(jnp.zeros((2, 20)), jnp.zeros((2, 20)), jnp.asarray(labels))
    assert float(d) == pytest.approx(2 * math.log(20), rel=1e-6) and float(g) == pytest.approx(
        0.0, abs=1e-6
    )


def test_mode_seeking_loss_matches_a_hand_computed_value():
    rng = np.random.default_rng(0)
    images, z = (
        rng.normal(size=(6, 784)).astype(np.float32),
        rng.normal(size=(6, 8)).astype(np.float32),
    )
    labels = np.array([1, 0, 1, 0, 1, 2])
    # each sample and the next of its digit: 0s (1, 3), 1s (0, 2) and (2, 4); the single 2 pairs with none
    pairs = [(1, 3), (0, 2), (2, 4)]

    def want(pairs):
        image = np.mean([np.abs(images[i] - images[j]).mean() for i, j in pairs])
        latent = np.mean([np.abs(z[i] - z[j]).mean() for i, j in pairs])
        return 1 / (image / latent + 1e-5)

    got = mode_seeking_loss(jnp.asarray(images), jnp.asarray(z), jnp.asarray(labels))
    assert float(got) == pytest.approx(want(pairs), rel=1e-5)
    unlabelled = mode_seeking_loss(jnp.asarray(images), jnp.asarray(z), None)
    assert float(unlabelled) == pytest.approx(want([(i, i + 1) for i in range(5)]), rel=1e-5)
