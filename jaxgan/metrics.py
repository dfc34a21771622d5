"""The numbers behind jaxgan's scores, as pure functions of features and predictions: the Fréchet
distance, the classifier score, mode coverage and InfoGAN's code purity."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.linalg

from jaxgan.mnist import NUM_CLASSES

COVERAGE_SHARE = 0.02  # a class counts as covered with at least 2% of the samples


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2), the FID formula (Heusel et al., 2017).

    The square root of the (non-symmetric) product is taken with scipy's sqrtm; a near-singular
    product gets a small ridge first, and the imaginary part that round-off leaves is dropped.
    """
    diff = mu1 - mu2
    with warnings.catch_warnings():  # generated features are often rank-deficient (dead ReLUs)
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        ridge = np.eye(len(sigma1)) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + ridge) @ (sigma2 + ridge))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def classifier_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))): 10 for confident, balanced predictions; 1 for one class."""
    p = np.asarray(probs, np.float64)
    marginal = p.mean(0, keepdims=True)
    kl = np.sum(p * (np.log(p + 1e-12) - np.log(marginal + 1e-12)), axis=1)
    return float(np.exp(kl.mean()))


def mode_coverage(probs: np.ndarray) -> dict[str, Any]:
    """Predicted-class histogram, its KL to uniform, and the classes with >= 2% of samples."""
    counts = np.bincount(np.asarray(probs).argmax(1), minlength=NUM_CLASSES)
    share = counts / counts.sum()
    kl = float(np.sum(share[share > 0] * np.log(share[share > 0] * NUM_CLASSES)))
    return {
        "histogram": counts.tolist(),
        "kl_to_uniform": kl,
        "classes_covered": int((share >= COVERAGE_SHARE).sum()),
    }


def code_purity(codes: np.ndarray, predicted: np.ndarray, num_codes: int) -> dict[str, Any]:
    """How far InfoGAN's codes found the digits, unsupervised: the share of samples whose predicted
    digit is their code's most common one, and that digit per code (-1: code never drawn)."""
    table = np.zeros((num_codes, NUM_CLASSES), np.int64)
    np.add.at(table, (np.asarray(codes), np.asarray(predicted)), 1)
    digits = np.where(table.sum(1) > 0, table.argmax(1), -1)
    return {
        "code_purity": float(table.max(1).sum() / max(table.sum(), 1)),
        "code_digits": digits.tolist(),
    }
