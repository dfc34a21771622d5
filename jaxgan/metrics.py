"""The numbers behind jaxgan's scores, as pure functions of features and predictions: the Fréchet
distance, the classifier score, mode coverage, InfoGAN's code purity, and k-NN precision, recall,
density and coverage."""

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
    classes = np.shape(probs)[1]
    counts = np.bincount(np.asarray(probs).argmax(1), minlength=classes)
    share = counts / counts.sum()
    kl = float(np.sum(share[share > 0] * np.log(share[share > 0] * classes)))
    return {
        "histogram": counts.tolist(),
        "kl_to_uniform": kl,
        "classes_covered": int((share >= COVERAGE_SHARE).sum()),
    }


def code_purity(
    codes: np.ndarray, predicted: np.ndarray, num_codes: int, num_classes: int = NUM_CLASSES
) -> dict[str, Any]:
    """How far InfoGAN's codes found the digits, unsupervised: the share of samples whose predicted
    digit is their code's most common one, and that digit per code (-1: code never drawn)."""
    table = np.zeros((num_codes, num_classes), np.int64)
    np.add.at(table, (np.asarray(codes), np.asarray(predicted)), 1)
    digits = np.where(table.sum(1) > 0, table.argmax(1), -1)
    return {
        "code_purity": float(table.max(1).sum() / max(table.sum(), 1)),
        "code_digits": digits.tolist(),
    }


K_PRECISION_RECALL = 3  # Kynkäänniemi et al. (2019)
K_DENSITY_COVERAGE = 5  # Naeem et al. (2020)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float32: the k-NN decisions need no more, and it is 7 times faster than float64 here."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0)


def knn_radii(
    features: np.ndarray, ks: tuple[int, ...], chunk: int = 1000
) -> dict[int, np.ndarray]:
    """Each row's squared distance to its k-th nearest other row, for each k of `ks`."""
    parts = [
        np.partition(_squared_distances(features[i : i + chunk], features), ks, axis=1)[:, ks]
        for i in range(0, len(features), chunk)
    ]
    radii = np.concatenate(parts)
    return {k: radii[:, j] for j, k in enumerate(ks)}


def manifold_scores(
    real: np.ndarray, fake: np.ndarray, real_radii: dict[int, np.ndarray] | None = None
) -> dict[str, float]:
    """Fidelity and diversity of `fake` features against `real` ones, apart: precision (the share
    of fakes inside the real k-NN manifold) and recall (of reals inside the fake one), k = 3
    (Kynkäänniemi et al., 2019); density (fakes per real neighbourhood they fall in, / k: about 1
    when fakes are distributed like reals) and coverage (the share of real neighbourhoods holding
    a fake), k = 5 (Naeem et al., 2020). `real_radii`: `knn_radii(real, (3, 5))`, if computed
    (fewer than 6 images use smaller k)."""
    k_pr, k_dc = (
        min(k, len(fake) - 1, len(real) - 1) for k in (K_PRECISION_RECALL, K_DENSITY_COVERAGE)
    )
    if real_radii is None or k_pr not in real_radii or k_dc not in real_radii:
        real_radii = knn_radii(real, (k_pr, k_dc))
    real_pr, real_dc = real_radii[k_pr], real_radii[k_dc]
    fake_pr = knn_radii(fake, (k_pr,))[k_pr]
    precise, inside = 0, 0
    recalled = np.zeros(len(real), bool)
    nearest = np.full(len(real), np.inf)
    for i in range(0, len(fake), 1000):
        d = _squared_distances(fake[i : i + 1000], real)
        precise += int((d <= real_pr[None]).any(1).sum())
        inside += int((d <= real_dc[None]).sum())
        recalled |= (d <= fake_pr[i : i + 1000, None]).any(0)
        nearest = np.minimum(nearest, d.min(0))
    return {
        "precision": precise / len(fake),
        "recall": float(recalled.mean()),
        "density": inside / (k_dc * len(fake)),
        "coverage": float((nearest <= real_dc).mean()),
    }
