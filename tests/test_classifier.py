"""The evaluation classifier: the shipped one verified before use, a trained one cached under its
data's digest and refused when weak."""

from __future__ import annotations

import hashlib
import shutil

import jax
import numpy as np
import pytest

import jaxgan
from jaxgan import classifier, data, networks
from jaxgan.errors import (
    EvaluationError,
)
from jaxgan.evaluation import Evaluator
from jaxgan.files import content_digest

from conftest import (
    make_idx_dir,
    random_pixels,
    tiny,
)


@pytest.mark.slow
def test_classifier_cache_is_keyed_by_data_and_refuses_a_weak_classifier(tmp_path, monkeypatch):
    make_idx_dir(tmp_path / "a", 40, seed=0)
    make_idx_dir(tmp_path / "b", 40, seed=1)
    trained = []

    def fake_train(images, labels, **kwargs):
        trained.append(content_digest(images, labels))
        return classifier.Classifier().init(jax.random.key(len(trained)), np.zeros((1, 784)))[
            "params"
        ]

    monkeypatch.setattr(classifier, "train", fake_train)
    monkeypatch.setattr(classifier, "accuracy", lambda *a: 0.86)
    cache = tmp_path / "cache"
    classifier.load_or_train(cache, str(tmp_path / "a"))
    classifier.load_or_train(cache, str(tmp_path / "a"))  # cached
    classifier.load_or_train(cache, str(tmp_path / "b"))  # other data: trained again
    assert len(trained) == 2 and trained[0] != trained[1]
    monkeypatch.delenv(data.PARTIAL_DATA_ENV)
    monkeypatch.setattr(data, "verify_split", lambda *a, **k: None)
    with pytest.raises(EvaluationError, match="test accuracy is 86.00%, under the 98.5%"):
        classifier.load_or_train(cache, str(tmp_path / "a"))  # the cached one, refused
    assert len(trained) == 2


def test_corrupt_classifier_cache_is_retrained(tmp_path, monkeypatch, capsys):
    make_idx_dir(tmp_path / "a", 40)
    monkeypatch.setattr(classifier, "accuracy", lambda *a: 0.99)
    monkeypatch.setattr(
        classifier,
        "train",
        lambda *a, **k: classifier.Classifier().init(jax.random.key(0), np.zeros((1, 784)))[
            "params"
        ],
    )
    classifier.load_or_train(tmp_path / "cache", str(tmp_path / "a"))
    (record,) = (tmp_path / "cache" / "classifier").glob("*.json")
    record.write_text(record.read_text().replace('"params_sha256": "', '"params_sha256": "0'))
    classifier.load_or_train(tmp_path / "cache", str(tmp_path / "a"))
    assert "ignoring the cached classifier" in capsys.readouterr().err


def test_the_shipped_classifier_is_verified_before_use(tmp_path, monkeypatch):
    for name, digest in classifier.CLASSIFIER.shipped.items():
        assert hashlib.sha256((networks.SHIPPED / name).read_bytes()).hexdigest() == digest
    shutil.copytree(networks.SHIPPED, tmp_path / "weights")
    raw = bytearray((tmp_path / "weights" / "mnist_classifier.npz").read_bytes())
    raw[len(raw) // 2] ^= 1
    (tmp_path / "weights" / "mnist_classifier.npz").write_bytes(bytes(raw))
    monkeypatch.setattr(networks, "SHIPPED", tmp_path / "weights")
    classifier.shipped.cache_clear()
    Evaluator.standard.cache_clear()
    try:
        with pytest.raises(
            jaxgan.EvaluationError, match="does not match its sha256; reinstall jaxgan"
        ):
            jaxgan.evaluate(random_pixels(300))
        with pytest.raises(jaxgan.EvaluationError, match="does not match its sha256"):
            jaxgan.train(tiny(eval_every=1), tmp_path / "run")  # before the workdir or the data
        assert not (tmp_path / "run").exists()
    finally:
        classifier.shipped.cache_clear()
        Evaluator.standard.cache_clear()
