"""Images as arrays and files: what is read (layouts, pixel ranges, headers checked before the
array), grids and figures."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

import jaxgan
from jaxgan import cli
from jaxgan.cli import evaluate as evaluate_tool
from jaxgan.errors import (
    EvaluationError,
)
from jaxgan.images import read_samples

from conftest import random_pixels


@pytest.mark.parametrize(
    "images, message",
    [
        (np.full((300, 28, 28), np.nan, np.float32), "NaN or infinite"),
        (np.random.default_rng(0).uniform(0, 255, (300, 28, 28)), "span [0"),
        (np.zeros((10, 10)), "shape (10, 10)"),
        (np.zeros((100, 32, 32)), "shape (100, 32, 32)"),
        (np.zeros((1, 28, 28)), "1 image(s)"),
        (np.zeros((0, 28, 28)), "0 image(s)"),
        (np.array([["a"] * 784] * 3), "not numbers"),
    ],
)
def test_bad_samples_are_refused(images, message, tmp_path):
    np.savez(tmp_path / "s.npz", images=images)
    with pytest.raises(
        EvaluationError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        read_samples(tmp_path / "s.npz")


def test_sample_layouts_and_ranges_are_converted(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (300, 28, 28)).astype(np.uint8)
    expected = pixels.reshape(300, 784).astype(np.float32) / 127.5 - 1
    for name, array in [
        ("u8.npz", pixels),
        ("unit.npz", pixels / 255.0),
        ("nchw.npz", (pixels / 127.5 - 1)[:, None]),
        ("flat.npy", pixels.reshape(300, 784)),
    ]:
        path = tmp_path / name
        np.save(path, array) if name.endswith(".npy") else np.savez(path, images=array)
        np.testing.assert_allclose(read_samples(path), expected, atol=1e-6)
    np.savez(tmp_path / "nokey.npz", pixels=pixels)
    with pytest.raises(EvaluationError, match="no 'images' array"):
        read_samples(tmp_path / "nokey.npz")


def npy_claiming(shape: tuple[int, ...]) -> bytes:
    """A .npy file whose header claims `shape` (float32) and whose data is a few bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": shape}
    )
    return header.getvalue() + bytes(64)


def test_a_samples_file_claiming_more_than_memory_is_refused_from_its_header(
    tmp_path, monkeypatch, capsys
):
    from jaxgan import evaluation

    (tmp_path / "huge.npy").write_bytes(npy_claiming((10**8, 28, 28)))
    with zipfile.ZipFile(tmp_path / "huge.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("images.npy", npy_claiming((10**8, 784)))
    (tmp_path / "short.npy").write_bytes(npy_claiming((300, 28, 28)))
    monkeypatch.setattr(
        evaluation.Evaluator, "standard", lambda *a: pytest.fail("classifier loaded")
    )
    for name in ("huge.npy", "huge.npz"):
        with pytest.raises(
            EvaluationError, match=r"100,000,000 images would take [\d,.]+ GiB of memory"
        ):
            read_samples(tmp_path / name)
        assert cli.execute(evaluate_tool.main, ["--samples", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "100,000,000 images would take" in err[0], err
    with pytest.raises(EvaluationError, match="short.npy"):
        read_samples(tmp_path / "short.npy")


def test_missing_samples_fail_before_the_classifier(tmp_path, monkeypatch, capsys):
    from jaxgan import evaluation

    monkeypatch.setattr(
        evaluation.Evaluator, "standard", lambda *a: pytest.fail("classifier loaded")
    )
    assert cli.execute(evaluate_tool.main, ["--samples", str(tmp_path / "missing.npz")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_plot_grid_returns_a_figure_and_writes_only_when_asked(tmp_path):
    images = random_pixels(16).astype(np.float32) / 127.5 - 1
    figure = jaxgan.plot_grid(images, 4, 4)
    assert len(figure.axes) == 16 and not list(tmp_path.iterdir())
    jaxgan.plot_grid(images, 4, 4, out=tmp_path / "grid.png")
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    for args, kwargs, message in [
        (
            (images * 127.5 + 127.5, 4, 4),
            {},
            r"pixel values span \[0, 255\]; expected \[-1, 1\], \[0, 1\]",
        ),
        ((images, 0, 4), {}, "^rows must be a positive integer, got 0$"),
        ((images, 4, "4"), {}, "^cols must be a positive integer, got '4'$"),
        ((images[:0], 4, 4), {}, "images"),
        (
            (images, 4, 4),
            {"out": tmp_path / "grid.xyz"},
            "^out: matplotlib writes no 'xyz' files; use one of",
        ),
        ((images, 4, 4), {"out": tmp_path}, "^out: .* is a folder; name the image file"),
    ]:
        with pytest.raises(jaxgan.ConfigError, match=message):
            jaxgan.plot_grid(*args, **kwargs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]
