"""GAN metrics in two feature spaces: an MNIST classifier's (MNIST-FID, classifier score, mode
coverage) and a label-free encoder's (FID, precision, recall, density, coverage)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from typing import Any, TypedDict

import jax
import numpy as np

from jaxgan import classifier, encoder, references
from jaxgan.classifier import Classifier, gaussian
from jaxgan.config import MNIST, Config, checked_seed
from jaxgan.data import in_batches, normalize
from jaxgan.encoder import Encoder
from jaxgan.epoch import TrainFunctions
from jaxgan.errors import EvaluationError, arg
from jaxgan.files import default_cache_dir
from jaxgan.images import MNIST_SHAPE, SAMPLE_BYTES, check_images, to_uint8
from jaxgan.metrics import (
    K_DENSITY_COVERAGE,
    K_PRECISION_RECALL,
    classifier_score,
    code_purity,
    frechet_distance,
    knn_radii,
    manifold_scores,
    mode_coverage,
)
from jaxgan.mnist import NUM_CLASSES
from jaxgan.models import latent_codes
from jaxgan.parallel import check_host_memory
from jaxgan.population import Population
from jaxgan.sampling import (
    choices,
    generate_in_batches,
    generate_members,
    latents,
)
from jaxgan.step import GANState


class Scores(TypedDict, total=False):
    """What `evaluate` and `Evaluator.score_images` return (the optional keys where they apply)."""

    fid: float  # MNIST-FID: the Fréchet distance of classifier features to the real test set's
    # (other data: in its own classifier's; absent for data without labels)
    encoder_fid: float  # the same in the label-free encoder's codes
    precision: float  # in the encoder's codes: the share of samples on the real manifold
    recall: float  # the share of real test images on the samples' manifold
    density: float  # samples per real neighbourhood they fall in, / k: about 1 for real data
    coverage: float  # the share of real neighbourhoods holding a sample
    classifier_score: float  # exp(E KL(p(y|x) || p(y))): 1 .. 10
    histogram: list[int]  # predicted digit counts, 0..9
    kl_to_uniform: float  # of that histogram's shares
    classes_covered: int  # digits with at least 2% of the samples
    num_samples: int
    conditional_accuracy: float  # with labels: share read as the asked digit
    code_purity: float  # with InfoGAN codes
    code_digits: list[int]  # with InfoGAN codes: the digit each code found (-1: never drawn)
    cas: float  # classification accuracy score (evaluate.py --cas)


class Evaluator:
    """The two feature spaces jaxgan scores a dataset's samples in, with the real images' features
    in each: a classifier's (its feature Gaussian; None for data without labels) and the
    label-free encoder's (the real codes).

    `Evaluator.standard()` is MNIST's shipped pair (the same on every machine); `for_config` the
    pair of the data a run was trained on; `from_real_images` scores MNIST samples against other
    real images, in another classifier's features."""

    def __init__(
        self,
        params: Any,
        reference: tuple[np.ndarray, np.ndarray] | None,
        encoder_params: Any,
        real_codes: np.ndarray,
        dataset: str = MNIST,
        shape: tuple[int, int, int] = MNIST_SHAPE,
        num_classes: int = NUM_CLASSES,
    ):
        self.params, self.reference = params, reference
        self.encoder_params, self.real_codes = encoder_params, real_codes
        self.codes_reference = gaussian(real_codes)
        self.dataset, self.shape, self.num_classes = dataset, shape, num_classes
        self.classifier = Classifier(shape, num_classes)
        self.encoder = Encoder(shape)

    @classmethod
    @functools.cache  # one per process: its real codes' k-NN radii take a second to compute
    def standard(cls) -> Evaluator:
        return cls(*classifier.shipped(), *encoder.shipped())

    @classmethod
    def for_config(cls, config: Config, cache_dir: str | None = None) -> Evaluator:
        """The evaluator of the data `config` was trained on: MNIST's shipped one, or the
        reference `jaxgan-train-classifier` built for that data in `cache_dir` (jaxgan's cache
        by default), verified; an EvaluationError saying how to build it where there is none."""
        if config.dataset == MNIST:
            return cls.standard()
        found = references.load(
            config.dataset,
            config.image_shape,
            config.num_classes,
            cache_dir or default_cache_dir(),
        )
        params, reference = found.classifier or (None, None)
        return cls(params, reference, *found.encoder, found.dataset, found.shape, found.num_classes)

    @classmethod
    def from_real_images(cls, params: Any, real_images_u8: np.ndarray) -> Evaluator:
        """An evaluator of the classifier `params` and the shipped encoder whose reference features
        are those of `real_images_u8` (N, 784)."""
        x = np.asarray(normalize(real_images_u8))
        encoder_params = encoder.shipped()[0]
        return cls(
            params,
            gaussian(classifier.batched(params, x)[0]),
            encoder_params,
            encoder.codes(encoder_params, x),
        )

    @functools.cached_property
    def real_radii(self) -> dict[int, np.ndarray]:
        """The real codes' k-NN radii, computed once."""
        return knn_radii(self.real_codes, (K_PRECISION_RECALL, K_DENSITY_COVERAGE))

    def score_images(
        self,
        images: np.ndarray,
        labels: np.ndarray | None = None,
        codes: np.ndarray | None = None,
        num_codes: int = 0,
    ) -> dict[str, Any]:
        """Metrics (the keys of `Scores`) of images checked and converted by `check_images`.

        With the `labels` a conditional generator was asked for, also the fraction of images the
        classifier reads as their requested digit; with InfoGAN `codes` (N,), their `code_purity`."""
        x = check_images(images, shape=self.shape)
        if self.params is not None and len(x) < 2 * classifier.FEATURE_DIM:
            print(
                f"warning: {len(x)} samples: with fewer than {2 * classifier.FEATURE_DIM} the "
                f"{classifier.FEATURE_DIM}-d feature covariance is singular and MNIST-FID is "
                "biased "
                f"upwards; use 10,000",
                file=sys.stderr,
            )
        if labels is not None:
            labels = choices(labels, len(x), "labels", self.num_classes, EvaluationError)
        return self._scores(x, labels, codes, num_codes)

    def _scores(
        self, x: np.ndarray, labels: np.ndarray | None, codes: np.ndarray | None, num_codes: int
    ) -> dict[str, Any]:
        """The metrics of images as rows known to be in [-1, 1]: a generator's own samples."""
        embedded = encoder.codes(self.encoder_params, x, self.encoder)
        scores = {
            "encoder_fid": frechet_distance(*gaussian(embedded), *self.codes_reference),
            **manifold_scores(self.real_codes, embedded, self.real_radii),
            "num_samples": len(x),
        }
        if self.params is None:  # data without labels: no classifier
            return scores
        feats, logits = classifier.batched(self.params, x, self.classifier)
        logits = logits.astype(np.float64)
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        scores |= {
            "fid": frechet_distance(*gaussian(feats), *self.reference),
            "classifier_score": classifier_score(probs),
            **mode_coverage(probs),
        }
        predicted = probs.argmax(1)
        if labels is not None:
            scores["conditional_accuracy"] = float((predicted == labels).mean())
        if codes is not None:
            scores.update(code_purity(codes, predicted, num_codes, self.num_classes))
        return scores

    def score_generator(
        self, fns: TrainFunctions, state: GANState, n: int = 10_000, seed: int = 0
    ) -> dict[str, Any]:
        """The scores of n samples of the generator of `fns` (`make_train`) with the weights of
        `state` (the noise of `seed`)."""
        return self.score_members(fns, state, n, seed)[0]

    def score_members(
        self,
        fns: TrainFunctions,
        state: GANState,
        n: int = 10_000,
        seed: int = 0,
        population: Population | None = None,
    ) -> list[dict[str, Any]]:
        """Each member's scores, in member order: of a population's stacked `state` with its
        `population` (each row also names its `member` id and its `values`, its seed and swept
        values), else of the one run."""
        config = fns.config
        if (config.dataset, config.image_shape, config.num_classes) != (
            self.dataset,
            self.shape,
            self.num_classes,
        ):
            raise EvaluationError(
                f"the run was trained on {config.dataset}, and this evaluator scores "
                f"{self.dataset}: use Evaluator.for_config(config)"
            )
        rows = [
            self._scores(images.reshape(n, config.pixels), labels, member_codes, config.codes)
            for images, labels, member_codes in member_samples(
                fns, state, n, seed, population is not None
            )
        ]
        if population is not None:
            members = population.members()
            rows = [
                {"member": m.id, "values": m.values, **row}
                for m, row in zip(members, rows, strict=True)
            ]
        return rows


MEMBERS_PER_PROGRAM = 8  # members generated together: bounds host memory at 8 x n images


def member_samples(
    fns: TrainFunctions,
    state: GANState,
    n: int,
    seed: int,
    stacked: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
    """Per member (of `stacked` states, several generated at once; else of the one run): n images
    (n, H, W, C) from the noise of `seed`, the balanced labels i % K a conditional generator
    gets, and the InfoGAN codes of the latents (None where they do not apply)."""
    config, total = fns.config, len(state.alive) if stacked else 1
    members = min(total, MEMBERS_PER_PROGRAM)
    at_once = f" for {members} members at once" if members > 1 else ""
    check_host_memory(n * members, SAMPLE_BYTES, arg("n", n) + at_once)
    z = latents(jax.random.key(checked_seed(seed)), n, config.latent_dim)
    labels = np.arange(n, dtype=np.int32) % config.num_classes if config.conditional else None
    codes = np.asarray(latent_codes(z, config.codes)) if config.codes else None
    if not stacked:
        yield (
            generate_in_batches(fns.generator, state, z, labels, config.sample_shape),
            labels,
            codes,
        )
        return
    draw = jax.jit(generate_members, static_argnums=0, static_argnames="shape")
    for start in range(0, total, MEMBERS_PER_PROGRAM):
        part = jax.tree.map(lambda x, s=slice(start, start + MEMBERS_PER_PROGRAM): x[s], state)
        for member_images in in_batches(
            functools.partial(draw, fns.generator, part, shape=config.sample_shape),
            z,
            labels,
            axis=1,
        ):
            yield member_images, labels, codes


def evaluate(images: Any, *, labels: Any = None, n: int | None = None) -> dict[str, Any]:
    """The scores of `images` (the keys of `Scores`) in the shipped classifier's and encoder's
    features: MNIST-FID, classifier score and mode coverage; the encoder's FID, precision, recall,
    density and coverage. Images: uint8 0..255, floats in [0, 1] or [-1, 1], (N, 28, 28) or
    (N, 784) and the channel layouts. `labels` (N,), or one digit for all: the digits a
    conditional generator was asked for (adds `conditional_accuracy`); `n`: score only the first
    n images."""
    if n is not None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 2:
            raise EvaluationError(f"n must be an integer >= 2, got {n!r}")
        images = check_images(images)[:n]
        if labels is not None and np.ndim(labels) > 0:
            labels = labels[:n]
    return Evaluator.standard().score_images(images, labels)


def classification_accuracy_score(
    fns: TrainFunctions,
    state: GANState,
    test_images_u8: np.ndarray,
    test_labels: np.ndarray,
    n: int = 60_000,
    seed: int = 0,
) -> float:
    """Train the evaluation classifier on n conditional samples only; its real test accuracy."""
    if not fns.config.conditional:
        raise ValueError("the classification accuracy score needs a conditional generator")
    images, labels, _ = next(member_samples(fns, state, n, seed))
    pixels = to_uint8(images.reshape(n, -1))
    params = classifier.train(pixels, labels, seed=seed)
    return classifier.accuracy(params, test_images_u8, test_labels)
