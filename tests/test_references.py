"""A dataset's own evaluation reference: held-out real images, networks trained by the recipes,
cached under the data's name, verified before use, and the evaluator of a run on that data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import jaxgan
from jaxgan import references
from jaxgan.data import from_arrays
from jaxgan.epoch import make_train
from jaxgan.evaluation import Evaluator

from conftest import digits, tiny


def test_held_out_images_are_a_fixed_sixth_apart_from_the_training_part():
    images, labels = digits()
    data = from_arrays(images, labels)
    train, test = references.held_out(data)
    assert (len(train.images), len(test.images)) == (1498, 299)
    rows = {r.tobytes() for r in train.images}
    assert not any(r.tobytes() in rows for r in test.images[:50])  # no image in both parts
    again = references.held_out(data)[1]
    np.testing.assert_array_equal(again.images, test.images)
    assert (test.name, test.shape, test.num_classes) == (data.name, data.shape, 10)
    paired = {x.tobytes(): y for x, y in zip(images.reshape(len(images), -1), labels, strict=True)}
    assert all(paired[x.tobytes()] == y for x, y in zip(test.images, test.labels, strict=True))


def test_images_too_small_for_the_networks_are_refused(tmp_path):
    tiny_images = from_arrays(np.zeros((300, 3, 8), np.uint8))
    with pytest.raises(jaxgan.DataError, match="images of 3x8; the evaluation networks need"):
        references.build(tiny_images, tiny_images, tmp_path)
    assert not (tmp_path / "references").exists()


def test_a_reference_folder_holding_other_files_is_left_untouched(tmp_path):
    data = from_arrays(np.zeros((300, 8, 8), np.uint8))
    mine = references.folder(tmp_path, data.name) / "encoder.npz"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"mine")
    with pytest.raises(jaxgan.EvaluationError, match="holds files jaxgan did not write"):
        references.build(data, data, tmp_path)
    assert mine.read_bytes() == b"mine"


def test_no_reference_is_one_line_saying_how_to_build_it(tmp_path):
    with pytest.raises(
        jaxgan.EvaluationError,
        match=r"no evaluation reference for array:ab12 in .*: build one with "
        r"jaxgan-train-classifier --data FILE.npz",
    ):
        references.load("array:ab12", (8, 8, 1), 10, tmp_path)
    with pytest.raises(jaxgan.EvaluationError, match="--dataset fashion_mnist"):
        references.load("fashion_mnist", (28, 28, 1), 10, tmp_path)


@pytest.fixture(scope="module")
def digits_reference(tmp_path_factory):
    """The 8x8 digits' reference, built by the recipes' epochs (without the small-data minimum of
    steps, to keep the suite short) into a cache of its own."""
    images, labels = digits()
    train, test = references.held_out(from_arrays(images, labels))
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(references, "MIN_STEPS", 0)
        folder, record = references.build(train, test, cache)
    return cache, folder, record, train, test


@pytest.mark.slow
def test_a_built_reference_is_cached_verified_and_scores_real_above_noise(digits_reference, capfd):
    cache, folder, record, train, test = digits_reference
    assert record["classifier_test_accuracy"] > 0.85
    assert sorted(record["files"]) == [
        "classifier.npz",
        "encoder.npz",
        "test_codes.npz",
        "test_features.npz",
    ]
    with pytest.MonkeyPatch.context() as patch:  # the same data and recipes: kept, not retrained
        patch.setattr(references, "MIN_STEPS", 0)
        assert references.build(train, test, cache)[1] == record
    assert "epoch" not in capfd.readouterr().err
    config = tiny().replace(dataset=train.name, image_shape=(8, 8, 1), num_classes=10)
    evaluator = Evaluator.for_config(config, cache)
    real = evaluator.score_images(train.images[:299].reshape(-1, 8, 8), labels=train.labels[:299])
    noise = np.random.default_rng(0).integers(0, 256, (299, 8, 8), dtype=np.uint8)
    noisy = evaluator.score_images(noise)
    assert real["fid"] < noisy["fid"] and real["encoder_fid"] < noisy["encoder_fid"]
    assert real["conditional_accuracy"] > 0.85 and len(real["histogram"]) == 10
    assert real["precision"] > noisy["precision"] and real["recall"] > noisy["recall"]
    with pytest.raises(jaxgan.EvaluationError, match=r"not of .* \(\(8, 8, 3\), 10 classes\)"):
        Evaluator.for_config(config.replace(image_shape=(8, 8, 3)), cache)


@pytest.mark.slow
def test_a_changed_reference_file_or_record_is_refused(digits_reference, tmp_path):
    cache, folder, _, train, _ = digits_reference
    copy = references.folder(tmp_path, train.name)
    shutil.copytree(folder, copy)
    raw = bytearray((copy / "encoder.npz").read_bytes())
    raw[len(raw) // 2] ^= 1
    (copy / "encoder.npz").write_bytes(bytes(raw))
    with pytest.raises(
        jaxgan.EvaluationError,
        match=r"encoder.npz does not match its sha256; build it again with "
        r"jaxgan-train-classifier --data FILE.npz \(the same data\) --force",
    ):
        references.load(train.name, (8, 8, 1), 10, tmp_path)
    (copy / "record.json").write_text("{")
    with pytest.raises(jaxgan.EvaluationError, match="record.json|is unreadable"):
        references.load(train.name, (8, 8, 1), 10, tmp_path)
    record = json.loads((folder / "record.json").read_text())
    (copy / "record.json").write_text(json.dumps({**record, "num_classes": 9}))
    with pytest.raises(jaxgan.EvaluationError, match="is of array:.* 9 classes"):
        references.load(train.name, (8, 8, 1), 10, tmp_path)


@pytest.mark.slow
def test_a_run_on_the_digits_is_scored_against_their_reference_from_python(
    digits_reference, tmp_path
):
    cache = digits_reference[0]
    images, labels = digits()
    jaxgan.train(tiny(conditional=True), tmp_path / "run", data=(images, labels), progress=False)
    model = jaxgan.load(tmp_path / "run")
    evaluator = Evaluator.for_config(model.config, cache)
    asked = np.arange(300) % 10
    scores = evaluator.score_images(model.sample(300, digit=asked), labels=asked)
    assert {"fid", "encoder_fid", "precision", "recall", "conditional_accuracy"} <= set(scores)
    assert scores["num_samples"] == 300 and len(scores["histogram"]) == 10
    (row,) = evaluator.score_members(make_train(model.config), model.state, 200)
    assert row["num_samples"] == 200 and np.isfinite(row["fid"])
    with pytest.raises(
        jaxgan.EvaluationError, match="trained on array:.* this evaluator scores mnist"
    ):
        Evaluator.standard().score_members(make_train(model.config), model.state, 200)


@pytest.mark.slow
def test_data_without_labels_gets_the_encoder_alone(tmp_path, capsys):
    images = np.random.default_rng(0).integers(0, 256, (200, 8, 8), dtype=np.uint8)
    train, test = references.held_out(from_arrays(images))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(references, "MIN_STEPS", 0)
        _, record = references.build(train, test, tmp_path)
    assert sorted(record["files"]) == ["encoder.npz", "test_codes.npz"]
    assert "classifier" not in capsys.readouterr().err
    config = tiny().replace(dataset=train.name, image_shape=(8, 8, 1), num_classes=0)
    scores = Evaluator.for_config(config, tmp_path).score_images(images[:50])
    assert "fid" not in scores and "histogram" not in scores
    assert {"encoder_fid", "precision", "recall", "density", "coverage"} <= set(scores)
