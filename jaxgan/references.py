"""What a dataset's samples are scored against: its reference, the feature networks (a classifier
where the data has labels, the label-free encoder) and their features of real images they did not
train on.

MNIST's reference ships with jaxgan. Any other dataset's is built by `build` with the same recipes
(`jaxgan-train-classifier --dataset NAME` or `--data FILE.npz`) and cached under the data's name
(for arrays, a digest of them); its record pins its files by sha256, and `load` verifies them and
that they are of the data a run was trained on.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from jaxgan import classifier, encoder, networks
from jaxgan.classifier import Classifier
from jaxgan.data import Dataset
from jaxgan.encoder import Encoder
from jaxgan.errors import DataError, EvaluationError
from jaxgan.files import content_digest, write_json_atomic

MIN_STEPS = 2_000  # small data trains for more epochs: MNIST's 5 epochs take 2,340 steps
HELD_OUT = 6  # data without a test split: one image in 6 is held out as the real reference
MIN_SIDE = 4  # the networks' trunk pools twice by 2


@dataclasses.dataclass(frozen=True)
class Reference:
    """A dataset's feature networks with their real features: the classifier's parameters and
    its features' (mean, covariance), or None without labels; the encoder's and its codes."""

    dataset: str
    shape: tuple[int, int, int]
    num_classes: int
    classifier: tuple[Any, tuple[np.ndarray, np.ndarray]] | None
    encoder: tuple[Any, np.ndarray]


def folder(cache_dir: str | Path, dataset: str) -> Path:
    return Path(cache_dir).absolute() / "references" / re.sub(r"[^\w.-]", "-", dataset)


def held_out(data: Dataset) -> tuple[Dataset, Dataset]:
    """(the part to train on, the held-out part) of data without a test split: one image in
    `HELD_OUT`, by a fixed permutation, so the same data always splits the same way."""
    order = np.random.default_rng(0).permutation(len(data.images))
    cut = len(order) // HELD_OUT

    def part(rows: np.ndarray) -> Dataset:
        labels = None if data.labels is None else data.labels[rows]
        return dataclasses.replace(data, images=data.images[rows], labels=labels)

    return part(np.sort(order[cut:])), part(np.sort(order[:cut]))


def _how(dataset: str) -> str:
    return (
        "--data FILE.npz (the same data)"
        if dataset.startswith("array:")
        else f"--dataset {dataset}"
    )


def _record(train: Dataset, test: Dataset) -> dict[str, Any]:
    """What a reference is of: the data, its parts' digests, the recipes."""
    return {
        "dataset": train.name,
        "shape": list(train.shape),
        "num_classes": train.num_classes,
        "train_sha256": content_digest(train.images, *[x for x in [train.labels] if x is not None]),
        "test_sha256": content_digest(test.images, *[x for x in [test.labels] if x is not None]),
        "recipes": {
            n.name: {**n.recipe, "min_steps": MIN_STEPS}
            for n in (classifier.CLASSIFIER, encoder.ENCODER)
        },
    }


def build(
    train: Dataset, test: Dataset, cache_dir: str | Path, *, force: bool = False
) -> tuple[Path, dict[str, Any]]:
    """The reference of `train` (its networks trained by their recipes, for at least `MIN_STEPS`
    steps) against the real `test`
    images, cached in `folder(cache_dir, train.name)`: (its folder, its record). A cached one of
    the same data and recipes is kept unless `force`."""
    if min(train.shape[:2]) < MIN_SIDE:
        raise DataError(
            f"{train.name}: images of {train.shape[0]}x{train.shape[1]}; the evaluation "
            f"networks need at least {MIN_SIDE}x{MIN_SIDE}"
        )
    target, record = folder(cache_dir, train.name), _record(train, test)
    if (target / "record.json").is_file():
        saved = json.loads((target / "record.json").read_text())
        if not force and {k: saved.get(k) for k in record} == record:
            return target, saved
    elif target.exists() and any(target.iterdir()):
        raise EvaluationError(f"{target} holds files jaxgan did not write; it is left untouched")
    files = {}
    if train.num_classes >= 2:
        module = Classifier(train.shape, train.num_classes)
        params = classifier.train(train.images, train.labels, module=module, min_steps=MIN_STEPS)
        accuracy = classifier.accuracy(params, test.images, test.labels, module)
        print(f"classifier test accuracy: {accuracy:.4f}", file=sys.stderr)
        record["classifier_test_accuracy"] = accuracy
        files |= classifier.reference_files(params, test.images, module)
    params = encoder.train(train.images, train.shape, min_steps=MIN_STEPS)
    files |= encoder.reference_files(params, test.images, Encoder(train.shape))
    record["files"] = networks.write_files(target, files)
    write_json_atomic(target / "record.json", record)  # last: it vouches for the files
    return target, record


def load(
    dataset: str, shape: tuple[int, int, int], num_classes: int, cache_dir: str | Path
) -> Reference:
    """The verified reference of `dataset` (images of `shape`, `num_classes` classes) from
    `cache_dir`, or one EvaluationError saying how to build it."""
    target = folder(cache_dir, dataset)
    try:
        record = json.loads((target / "record.json").read_text())
        of = (record["dataset"], tuple(record["shape"]), record["num_classes"])
        digests = dict(record["files"])
    except FileNotFoundError:
        raise EvaluationError(
            f"no evaluation reference for {dataset} in {target.parent}: build one with "
            f"jaxgan-train-classifier {_how(dataset)}"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EvaluationError(
            f"the evaluation reference {target} is unreadable ({type(e).__name__}); build it "
            f"again with jaxgan-train-classifier {_how(dataset)} --force"
        ) from None
    if of != (dataset, tuple(shape), num_classes):
        raise EvaluationError(
            f"the evaluation reference {target} is of {of[0]} ({of[1]}, {of[2]} classes), not "
            f"of {dataset} ({tuple(shape)}, {num_classes} classes)"
        )
    remedy = f"build it again with jaxgan-train-classifier {_how(dataset)} --force"
    files = {n: networks.read_verified(target / n, d, remedy) for n, d in digests.items()}
    weights, features = classifier.CLASSIFIER.files
    return Reference(
        dataset,
        tuple(shape),
        num_classes,
        classifier.from_files(files[weights], files[features], Classifier(shape, num_classes))
        if weights in files
        else None,
        encoder.from_files(*(files[n] for n in encoder.ENCODER.files), Encoder(tuple(shape))),
    )
