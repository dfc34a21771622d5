"""The metrics' numbers: the Fréchet distance against closed forms, the classifier score's bounds,
mode coverage, code purity, and k-NN precision, recall, density and coverage on point clouds whose
answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from jaxgan.evaluation import gaussian
from jaxgan.metrics import (
    classifier_score,
    code_purity,
    frechet_distance,
    knn_radii,
    manifold_scores,
    mode_coverage,
)


def random_spd(rng, d, rank=None):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d + (0 if rank else 0.1 * np.eye(d))


def test_frechet_distance_of_diagonal_gaussians_has_a_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    v1, v2 = rng.uniform(0.1, 2, 8), rng.uniform(0.1, 2, 8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_matches_a_symmetric_eigh_reference():
    """Tr (S1 S2)^1/2 = Tr (S1^1/2 S2 S1^1/2)^1/2; the latter needs only symmetric eigh."""
    rng = np.random.default_rng(1)
    s1, s2 = random_spd(rng, 32), random_spd(rng, 32)
    mu1, mu2 = rng.normal(size=32), rng.normal(size=32)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(w)) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(inner))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-6)


def test_frechet_distance_of_singular_covariances_is_finite():
    rng = np.random.default_rng(2)
    s1, s2 = random_spd(rng, 64, rank=5), random_spd(rng, 64, rank=5)
    fid = frechet_distance(np.zeros(64), s1, np.zeros(64), s2)
    assert np.isfinite(fid) and fid > 0
    features = rng.normal(size=(1000, 4))
    mu, sigma = gaussian(features)
    np.testing.assert_allclose(sigma, np.cov(features.T), rtol=1e-12)


def test_classifier_score_bounds():
    confident = np.eye(10)[np.arange(1000) % 10]
    assert classifier_score(confident) == pytest.approx(10, rel=1e-6)
    assert classifier_score(np.eye(10)[np.zeros(1000, int)]) == pytest.approx(1, rel=1e-6)
    assert classifier_score(np.full((50, 10), 0.1)) == pytest.approx(1, rel=1e-6)


def test_mode_coverage_counts_classes_with_two_percent():
    labels = np.r_[np.zeros(500, int), np.ones(490, int), np.full(10, 2)]  # class 2 has 1%
    cov = mode_coverage(np.eye(10)[labels])
    assert cov["histogram"][:3] == [500, 490, 10] and cov["classes_covered"] == 2
    assert mode_coverage(np.eye(10)[np.arange(1000) % 10])["kl_to_uniform"] == pytest.approx(0)


def test_code_purity_counts_each_codes_most_common_digit():
    scores = code_purity(np.array([0, 0, 0, 1, 1, 2]), np.array([3, 3, 5, 7, 7, 1]), num_codes=4)
    assert scores == {"code_purity": pytest.approx(5 / 6), "code_digits": [3, 7, 1, -1]}


def test_knn_radii_are_each_points_distance_to_its_kth_other_neighbour():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    radii = knn_radii(points, (1, 2))
    np.testing.assert_allclose(radii[1], [1, 1, 4, 16])  # squared
    np.testing.assert_allclose(radii[2], [9, 4, 9, 36])


def test_manifold_scores_see_fidelity_and_diversity_apart():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(2000, 8))
    same = manifold_scores(real, rng.normal(size=(2000, 8)))
    assert same["precision"] > 0.6 and same["recall"] > 0.6 and same["coverage"] > 0.9
    assert 0.8 < same["density"] < 1.2  # about 1 when fakes are distributed like reals
    collapsed = manifold_scores(real, real[:20].repeat(100, 0) + 1e-3 * rng.normal(size=(2000, 8)))
    assert collapsed["precision"] == 1.0  # every sample is a real image...
    assert collapsed["recall"] == 20 / 2000  # ...of 20 of them: the fakes' balls hold only those
    assert collapsed["coverage"] < 0.1 < same["coverage"]
    far = manifold_scores(real, rng.normal(size=(2000, 8)) + 10)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    wide = manifold_scores(real, 3 * rng.normal(size=(2000, 8)))  # covers reals, mostly off them
    assert wide["recall"] > same["recall"] and wide["precision"] < 0.2
    assert manifold_scores(real, real[:3])["coverage"] > 0  # fewer samples than k: smaller k
