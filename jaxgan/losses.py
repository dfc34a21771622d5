"""The GAN's objectives on D's outputs: BCE (the reference), hinge and least squares; InfoGAN's
code loss, ADC-GAN's classifier losses and MSGAN's mode-seeking term. Pure functions of arrays."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxgan.models import latent_codes


def bce_with_logits(logits: jax.Array, label: float) -> jax.Array:
    """Mean binary cross-entropy of sigmoid(logits) against a constant label (nn.BCELoss)."""
    return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)).mean()


def d_objective(loss: str, real: jax.Array, fake: jax.Array) -> jax.Array:
    if loss == "hinge":
        return jax.nn.relu(1 - real).mean() + jax.nn.relu(1 + fake).mean()
    if loss == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    return bce_with_logits(real, 1.0) + bce_with_logits(fake, 0.0)


def g_objective(loss: str, fake: jax.Array) -> jax.Array:
    if loss == "hinge":
        return -fake.mean()
    if loss == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    return bce_with_logits(fake, 1.0)  # non-saturating, as the reference


def info_loss(
    codes: int, code_logits: jax.Array | None, z: jax.Array, weight: Any
) -> jax.Array | float:
    """InfoGAN's mutual-information bound as a loss: info_weight * CE(Q(G(z)), code(z)); 0 without
    codes. D (which holds Q) and G both minimise it."""
    if code_logits is None:
        return 0.0
    ce = optax.softmax_cross_entropy_with_integer_labels(code_logits, latent_codes(z, codes))
    return weight * ce.mean()


def _class_ce(class_logits: jax.Array, labels: jax.Array, generated: bool) -> jax.Array:
    """Mean cross-entropy of ADC-GAN's 2K-way classifier against class k, real (k) or generated
    (K + k)."""
    num_classes = class_logits.shape[-1] // 2
    return optax.softmax_cross_entropy_with_integer_labels(
        class_logits, labels + num_classes * generated
    ).mean()


def class_losses(
    real: jax.Array | None, fake: jax.Array, labels: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """ADC-GAN's classifier losses (Hou et al., 2022), unweighted: D's, CE(real x, k) + CE(G(z, k),
    K + k), and G's, CE(G(z, k), k) - CE(G(z, k), K + k). `real` None: D's term on real images is 0."""
    d = _class_ce(fake, labels, True) + (0.0 if real is None else _class_ce(real, labels, False))
    g = _class_ce(fake, labels, False) - _class_ce(fake, labels, True)
    return d, g


def mode_seeking_loss(images: jax.Array, z: jax.Array, labels: jax.Array | None) -> jax.Array:
    """MSGAN's term (Mao et al., 2019): 1 / (mean |G(z_i) - G(z_j)| / mean |z_i - z_j| + 1e-5), the
    means over pairs of the batch given the same digit: each sample and the next of its digit
    (each and the next without labels), so the cost is linear in the batch."""
    digits = jnp.zeros(images.shape[0], jnp.int32) if labels is None else labels
    order = jnp.argsort(digits, stable=True)
    images, z, digits = images[order], z[order], digits[order]
    pair = digits[1:] == digits[:-1]
    image_distance = jnp.where(pair, jnp.abs(images[1:] - images[:-1]).mean(-1), 0).sum()
    latent_distance = jnp.where(pair, jnp.abs(z[1:] - z[:-1]).mean(-1), 0).sum()
    return 1 / (image_distance / jnp.maximum(latent_distance, 1e-12) + 1e-5)
