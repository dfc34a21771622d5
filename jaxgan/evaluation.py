"""GAN metrics on an MNIST classifier's features: MNIST-FID, classifier score, mode coverage."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np
import scipy.linalg

from jaxgan import classifier
from jaxgan.data import load_dataset, normalize
from jaxgan.errors import EvaluationError, one_line
from jaxgan.mnist import IMAGE_PIXELS, NUM_CLASSES
from jaxgan.models import latent_codes
from jaxgan.sampling import generate_in_batches, latents, to_uint8
from jaxgan.step import GANState

COVERAGE_SHARE = 0.02  # a class counts as covered with at least 2% of the samples


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of feature rows."""
    f = np.asarray(features, np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
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
    return {"histogram": counts.tolist(), "kl_to_uniform": kl,
            "classes_covered": int((share >= COVERAGE_SHARE).sum())}


def code_purity(codes: np.ndarray, predicted: np.ndarray, num_codes: int) -> dict[str, Any]:
    """How far InfoGAN's codes found the digits, unsupervised: the share of samples whose predicted
    digit is their code's most common one, and that digit per code (-1: code never drawn)."""
    table = np.zeros((num_codes, NUM_CLASSES), np.int64)
    np.add.at(table, (np.asarray(codes), np.asarray(predicted)), 1)
    digits = np.where(table.sum(1) > 0, table.argmax(1), -1)
    return {"code_purity": float(table.max(1).sum() / max(table.sum(), 1)),
            "code_digits": digits.tolist()}


class Evaluator:
    """Holds the classifier and the real test set's feature Gaussian; scores image sets."""

    def __init__(self, params: Any, reference_images_u8: np.ndarray):
        self.params = params
        real, _ = classifier.batched(params, np.asarray(normalize(reference_images_u8)))
        self.reference = gaussian(real)

    @classmethod
    def for_mnist(cls, cache_dir: str | Path, data_dir: str | None = None) -> Evaluator:
        params, _ = classifier.load_or_train(cache_dir, data_dir)
        test_images, _ = load_dataset("test", data_dir, cache_dir)
        return cls(params, test_images)

    def score_images(self, images: np.ndarray, labels: np.ndarray | None = None,
                     codes: np.ndarray | None = None, num_codes: int = 0) -> dict[str, Any]:
        """Metrics of float images (N, 28, 28) or (N, 784) in [-1, 1].

        With the `labels` a conditional generator was asked for, also the fraction of images the
        classifier reads as their requested digit; with InfoGAN `codes` (N,), their `code_purity`."""
        x = np.asarray(images, np.float32).reshape(len(images), IMAGE_PIXELS)
        feats, logits = classifier.batched(self.params, x)
        logits = logits.astype(np.float64)
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        scores = {"fid": frechet_distance(*gaussian(feats), *self.reference),
                  "classifier_score": classifier_score(probs),
                  **mode_coverage(probs), "num_samples": len(x)}
        predicted = probs.argmax(1)
        if labels is not None:
            scores["conditional_accuracy"] = float((predicted == np.asarray(labels)).mean())
        if codes is not None:
            scores.update(code_purity(codes, predicted, num_codes))
        return scores

    def score_generator(self, state: GANState, n: int = 10_000, seed: int = 0) -> dict[str, Any]:
        images, labels, codes = sample_images(state, n, seed)
        return self.score_images(images, labels, codes, state.codes)


def sample_images(state: GANState, n: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """n generated images (N, 28, 28), the balanced labels i % 10 a conditional generator gets,
    and the InfoGAN codes of the latents (None where they do not apply)."""
    z = latents(jax.random.key(seed), n, state.latent_dim)
    labels = np.arange(n, dtype=np.int32) % 10 if state.conditional else None
    codes = np.asarray(latent_codes(z, state.codes)) if state.codes else None
    return generate_in_batches(state, z, labels), labels, codes


def read_samples(path: str | Path) -> np.ndarray:
    """Images (N, 784) float32 in [-1, 1] from an .npz (key `images`) or .npy file, checked.

    Accepted layouts: (N, 28, 28), (N, 784), (N, 28, 28, 1), (N, 1, 28, 28); pixel ranges: uint8
    (or integers) 0..255, floats in [0, 1] or in [-1, 1]. Anything else is refused, not scored."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"--samples {path}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                loaded = loaded["images"]
        images = np.asarray(loaded)
    except KeyError:
        raise EvaluationError(f"--samples {path}: the .npz has no 'images' array "
                              f"(write it with scripts/sample.py --export)") from None
    except (OSError, ValueError, EOFError) as e:  # not numpy data, truncated, or pickled objects
        raise EvaluationError(f"--samples {path}: not a readable .npz/.npy file ({one_line(e, 120)})") from None
    if images.ndim < 2 or int(np.prod(images.shape[1:])) != IMAGE_PIXELS or images.ndim > 4:
        raise EvaluationError(f"--samples {path}: images of shape {images.shape}; expected (N, 28, 28), "
                              f"(N, 784), (N, 28, 28, 1) or (N, 1, 28, 28)")
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise EvaluationError(f"--samples {path}: images of dtype {images.dtype}, not numbers")
    images = images.reshape(len(images), IMAGE_PIXELS)
    if len(images) < 2:
        raise EvaluationError(f"--samples {path}: {len(images)} image(s); FID needs at least 2")
    if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
        raise EvaluationError(f"--samples {path}: {int((~np.isfinite(images)).sum())} pixels are NaN or infinite")
    low, high = float(images.min()), float(images.max())
    if np.issubdtype(images.dtype, np.integer) and 0 <= low and high <= 255:
        images = images.astype(np.float32) / 127.5 - 1
    elif 0 <= low and high <= 1:
        images = images.astype(np.float32) * 2 - 1
    elif not (-1 <= low and high <= 1) or np.issubdtype(images.dtype, np.integer):
        raise EvaluationError(f"--samples {path}: pixel values span [{low:g}, {high:g}]; expected "
                              f"[-1, 1], [0, 1] or integers 0..255")
    if len(images) < 2 * classifier.FEATURE_DIM:
        print(f"warning: {len(images)} samples: with fewer than {2 * classifier.FEATURE_DIM} the "
              f"{classifier.FEATURE_DIM}-d feature covariance is singular and MNIST-FID is biased "
              f"upwards; use 10,000", file=sys.stderr)
    return images.astype(np.float32)


def classification_accuracy_score(state: GANState, test_images_u8: np.ndarray,
                                  test_labels: np.ndarray, n: int = 60_000, seed: int = 0) -> float:
    """Train the evaluation classifier on n conditional samples only; its real test accuracy."""
    if not state.conditional:
        raise ValueError("the classification accuracy score needs a conditional generator")
    images, labels, _ = sample_images(state, n, seed)
    pixels = to_uint8(images.reshape(n, -1))
    params = classifier.train(pixels, labels, seed=seed)
    return classifier.accuracy(params, test_images_u8, test_labels)
