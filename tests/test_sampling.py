"""Sampling: a trained run loaded back from any path the tools take, and its samples by seed, digit
and code."""

from __future__ import annotations

import numpy as np
import pytest

import jaxgan

from conftest import assert_trees_equal, tiny


def test_load_samples_with_an_own_seed_and_matches_the_run(idx_mnist, tmp_path, capfd):
    result = jaxgan.train(tiny(epochs=2), tmp_path / "run", data_dir=idx_mnist, progress=False)
    capfd.readouterr()
    for path in (tmp_path / "run", tmp_path / "run" / "checkpoints" / "2"):
        model = jaxgan.load(path)
        assert_trees_equal(model.state, result.state)
        assert model.record.epoch == 2 and model.record.step == 6 and model.config == tiny(epochs=2)
    assert "WARNING" not in "".join(capfd.readouterr())  # Orbax's absl lines go to the debug log
    assert model.metrics == result.metrics
    images = model.sample(10, seed=3)
    assert images.shape == (10, 28, 28) and images.dtype == np.float32
    assert -1 <= images.min() and images.max() <= 1
    np.testing.assert_array_equal(images, model.sample(10, seed=3))
    assert not np.array_equal(images, model.sample(10, seed=4))
    for bad, message in [({"digit": 3}, "not conditional"), ({"code": 0}, "no InfoGAN code")]:
        with pytest.raises(jaxgan.ConfigError, match=message):
            model.sample(4, **bad)
    with pytest.raises(jaxgan.ConfigError, match="n must be a positive integer"):
        model.sample(0)
    with pytest.raises(
        jaxgan.ConfigError, match=r"^n=1,000,000,000,000 samples would take [\d,.]+ GiB of memory"
    ):
        model.sample(10**12)  # refused from arithmetic: nothing is generated
    for seed in (-1, 2**32, 1.5, None, "3"):
        with pytest.raises(
            jaxgan.ConfigError, match=r"^seed must be an integer in 0 \.\. 4294967295, got"
        ):
            model.sample(4, seed=seed)
    for path, message in [
        (5, "path must be a path"),
        ("", "path must be a path"),
        (tmp_path / "run" / "checkpoints" / "2" / "state", "no checkpoints in"),
    ]:
        with pytest.raises((jaxgan.ConfigError, jaxgan.CheckpointError), match=message):
            jaxgan.load(path)


@pytest.mark.slow
def test_a_conditional_model_needs_digits_in_range(idx_mnist, tmp_path):
    jaxgan.train(tiny(conditional=True), tmp_path / "run", data_dir=idx_mnist, progress=False)
    model = jaxgan.load(tmp_path / "run")
    with pytest.raises(jaxgan.ConfigError, match="this model is conditional; pass digit"):
        model.sample(4)
    for digit in (12, -1, [1, 2]):
        with pytest.raises(jaxgan.ConfigError, match="digit must be"):
            model.sample(4, digit=digit)
    assert (
        model.sample(4, digit=7).shape == model.sample(4, digit=[0, 1, 2, 3]).shape == (4, 28, 28)
    )
