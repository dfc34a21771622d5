import numpy as np
import pytest

import jaxgan
from jaxgan import classifier
from jaxgan.config import Config
from jaxgan.data import load_dataset, normalize
from jaxgan.evaluation import Evaluator, gaussian

from conftest import fns, init, random_classifier, random_pixels, real_mnist_dir


def test_generator_metrics_are_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    evaluator = Evaluator.from_real_images(
        random_classifier(), rng.integers(0, 256, (300, 784), dtype=np.uint8)
    )
    config = Config(hidden_dim=16, latent_dim=8)
    gan, state = fns(config), init(config)
    a = evaluator.score_generator(gan, state, n=200, seed=1)
    assert a == evaluator.score_generator(gan, state, n=200, seed=1)
    assert a["fid"] != evaluator.score_generator(gan, state, n=200, seed=2)["fid"]
    assert a["num_samples"] == 200


@pytest.mark.slow
def test_the_shipped_classifier_reads_real_digits_and_scores_real_mnist_near_zero(xla_optimized):
    test_images, test_labels = load_dataset("test", real_mnist_dir())
    evaluator = Evaluator.standard()
    features, logits = classifier.batched(evaluator.params, np.asarray(normalize(test_images)))
    assert (logits.argmax(-1) == test_labels).mean() >= classifier.MIN_TEST_ACCURACY
    for ours, shipped in zip(gaussian(features), evaluator.reference, strict=True):
        np.testing.assert_allclose(
            ours, shipped, rtol=1e-5, atol=1e-6
        )  # the test set's own statistics
    real = evaluator.score_images(test_images[:2000])
    noise = evaluator.score_images(np.random.default_rng(0).uniform(-1, 1, (2000, 784)))
    assert real["fid"] < 0.05 * noise["fid"]
    assert real["classes_covered"] == 10 and real["classifier_score"] > 5
    assert noise["classifier_score"] < real["classifier_score"]


@pytest.mark.slow
def test_evaluate_reads_every_pixel_range_alike_and_refuses_what_it_cannot_score():
    pixels = random_pixels(300)
    scores = jaxgan.evaluate(pixels)
    assert set(scores) >= {"fid", "classifier_score", "classes_covered", "histogram", "num_samples"}
    assert set(scores) >= {"encoder_fid", "precision", "recall", "density", "coverage"}
    for same in (pixels.astype(np.float32) / 127.5 - 1, pixels / 255.0, pixels.reshape(300, 784)):
        again = jaxgan.evaluate(same)
        for key in ("fid", "encoder_fid", "precision", "recall", "coverage"):
            assert again[key] == pytest.approx(scores[key], rel=1e-6)
    assert jaxgan.evaluate(pixels, n=256)["num_samples"] == 256
    labels = np.arange(300) % 10
    assert 0 <= jaxgan.evaluate(pixels, labels=labels)["conditional_accuracy"] <= 1
    assert (
        jaxgan.evaluate(pixels, labels=3, n=100)["num_samples"] == 100
    )  # one digit for every image
    nan = pixels.astype(np.float32) / 255
    nan[0, 0, 0] = np.nan
    for images, kwargs, message in [
        (nan, {}, "images: 1 pixels are NaN"),
        (pixels[:1], {}, "1 image"),
        (np.zeros((5, 30, 30)), {}, "shape"),
        (pixels, {"labels": labels + 3}, "labels must be in 0 .. 9"),
        (pixels, {"labels": labels[:5]}, "300"),
        (pixels, {"n": 1}, "n must be an integer >= 2"),
        (
            pixels.reshape(300, 56, 14),
            {},
            r"shape \(300, 56, 14\); expected \(N, 28, 28\), \(N, 784\)",
        ),
        (pixels.reshape(300, 784, 1), {}, r"shape \(300, 784, 1\)"),
        (pixels.reshape(300, 7, 4, 28), {}, "shape"),
        ([pixels[0], pixels[0, :27]], {}, "not an array of images of one shape"),
        (
            np.broadcast_to(pixels[:1], (10**9, 28, 28)),
            {},
            r"1,000,000,000 images would take [\d,.]+ GiB",
        ),
    ]:
        with pytest.raises(jaxgan.EvaluationError, match=message):
            jaxgan.evaluate(images, **kwargs)
