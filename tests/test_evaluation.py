import json

import numpy as np
import pytest

from jaxgan import classifier, cli
from jaxgan.cli import evaluate as evaluate_tool
from jaxgan.cli import plot as plot_tool
from jaxgan.config import Config
from jaxgan.data import load_dataset, normalize
from jaxgan.evaluation import Evaluator, classifier_score, frechet_distance, gaussian, mode_coverage
from jaxgan.loop import train_and_evaluate

from conftest import fns, init, random_classifier, real_mnist_or_skip


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


def test_generator_metrics_are_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    evaluator = Evaluator.from_real_images(random_classifier(), rng.integers(0, 256, (300, 784), dtype=np.uint8))
    config = Config(hidden_dim=16, latent_dim=8)
    gan, state = fns(config), init(config)
    a = evaluator.score_generator(gan, state, n=200, seed=1)
    assert a == evaluator.score_generator(gan, state, n=200, seed=1)
    assert a["fid"] != evaluator.score_generator(gan, state, n=200, seed=2)["fid"]
    assert a["num_samples"] == 200


def test_the_shipped_classifier_reads_real_digits_and_scores_real_mnist_near_zero():
    test_images, test_labels = load_dataset("test", str(real_mnist_or_skip()))
    evaluator = Evaluator.standard()
    assert classifier.accuracy(evaluator.params, test_images, test_labels) >= classifier.MIN_TEST_ACCURACY
    features, _ = classifier.batched(evaluator.params, np.asarray(normalize(test_images)))
    for ours, shipped in zip(gaussian(features), evaluator.reference, strict=True):
        np.testing.assert_allclose(ours, shipped, rtol=1e-5, atol=1e-6)  # the test set's own statistics
    real = evaluator.score_images(test_images[:2000])
    noise = evaluator.score_images(np.random.default_rng(0).uniform(-1, 1, (2000, 784)))
    assert real["fid"] < 0.05 * noise["fid"]
    assert real["classes_covered"] == 10 and real["classifier_score"] > 5
    assert noise["classifier_score"] < real["classifier_score"]


def test_training_evaluates_and_logs_to_jsonl_and_tensorboard(idx_mnist, tmp_path):
    config = Config(batch_size=32, hidden_dim=16, latent_dim=8, epochs=2, eval_every=1,
                    eval_samples=50, log_every=100)
    train_and_evaluate(config, tmp_path / "run", data_dir=idx_mnist, cache_dir=tmp_path / "cache",
                       progress=False)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["epoch"] for r in evals] == [1, 2] and all(np.isfinite(r["fid"]) for r in evals)
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))

    evaluate, plot = evaluate_tool, plot_tool
    argv = ["--workdir", str(tmp_path / "run"), "--n", "64", "--data-dir", idx_mnist,
            "--cache-dir", str(tmp_path / "cache")]
    assert cli.execute(evaluate.main, argv + ["--json"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["kind"] == "eval" and rows[-1]["num_samples"] == 64
    assert cli.execute(plot.main, ["--workdir", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"
