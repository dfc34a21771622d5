"""The label-free encoder: shipped and verified, its codes of the test set shipped with it, and a
feature space that orders real < blurred < noisy < uniform images."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.ndimage

import jaxgan
from jaxgan import encoder, networks
from jaxgan.data import load_dataset, normalize
from jaxgan.evaluation import Evaluator

from conftest import make_idx_dir, random_pixels, real_mnist_or_skip


def test_a_corrupt_shipped_encoder_file_is_refused(tmp_path, monkeypatch):
    shutil.copytree(networks.SHIPPED, tmp_path / "weights")
    raw = bytearray((tmp_path / "weights" / "mnist_test_codes.npz").read_bytes())
    raw[-100] ^= 1
    (tmp_path / "weights" / "mnist_test_codes.npz").write_bytes(bytes(raw))
    monkeypatch.setattr(networks, "SHIPPED", tmp_path / "weights")
    encoder.shipped.cache_clear()
    Evaluator.standard.cache_clear()
    try:
        with pytest.raises(jaxgan.EvaluationError, match="mnist_test_codes.npz does not match"):
            jaxgan.evaluate(random_pixels(50))
    finally:
        encoder.shipped.cache_clear()
        Evaluator.standard.cache_clear()


@pytest.mark.slow
def test_encoder_is_trained_by_its_recipe_and_cached_by_data(tmp_path, capsys):
    make_idx_dir(tmp_path / "idx", 300)
    params = encoder.load_or_train(tmp_path / "cache", str(tmp_path / "idx"))
    assert "training the evaluation encoder" in capsys.readouterr().err
    again = encoder.load_or_train(tmp_path / "cache", str(tmp_path / "idx"))
    assert "training" not in capsys.readouterr().err
    np.testing.assert_array_equal(again["Dense_0"]["kernel"], params["Dense_0"]["kernel"])
    assert encoder.codes(params, np.zeros((3, 784), np.float32)).shape == (3, encoder.CODE_DIM)


def blurred(images: np.ndarray) -> np.ndarray:
    return np.stack(
        [scipy.ndimage.gaussian_filter(x.reshape(28, 28).astype(np.float32), 1.0) for x in images]
    ).clip(0, 255)


@pytest.mark.slow
def test_the_shipped_encoder_orders_real_blurred_noisy_uniform(xla_optimized):
    data_dir = str(real_mnist_or_skip())
    test_images, _ = load_dataset("test", data_dir)
    params, shipped_codes = encoder.shipped()
    codes = encoder.codes(params, np.asarray(normalize(test_images)))
    np.testing.assert_allclose(codes, shipped_codes, rtol=1e-4, atol=1e-5)  # the test set's own
    real = load_dataset("train", data_dir)[0][:2000].reshape(-1, 28, 28)
    rng = np.random.default_rng(0)
    noisy = (real + rng.normal(0, 64, real.shape)).clip(0, 255)
    uniform = rng.integers(0, 256, real.shape, dtype=np.uint8)
    scores = [jaxgan.evaluate(x.astype(np.uint8)) for x in (real, blurred(real), noisy, uniform)]
    fids = [s["encoder_fid"] for s in scores]
    assert fids[0] < 1 < fids[1] < fids[2] < fids[3], fids  # training images: near the floor
    assert scores[0]["precision"] > 0.75 and scores[0]["recall"] > 0.75
    coverage = [s["coverage"] for s in scores]  # of the 10,000 test codes by 2,000 samples
    assert coverage == sorted(coverage, reverse=True) and coverage[0] > 0.5 > 0.01 > coverage[3]
    assert scores[1]["recall"] < 0.05  # blur keeps the digits' shapes, loses their variety
