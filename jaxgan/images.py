"""Images as arrays and files: the layouts and pixel ranges jaxgan reads, uint8 pixels, grids as
PNG or a matplotlib figure, samples as .npz; every file written atomically."""

from __future__ import annotations

import functools
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from jaxgan.config import POSITIVE_INT
from jaxgan.errors import ConfigError, EvaluationError, arg, checked_path, one_line
from jaxgan.files import atomic_path
from jaxgan.mnist import IMAGE_PIXELS, IMAGE_SHAPE
from jaxgan.parallel import check_host_memory


def to_uint8(images) -> np.ndarray:
    """Images in [-1, 1] -> uint8 pixels 0..255 (rounded, clipped)."""
    return np.clip((np.asarray(images) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def tile(images: np.ndarray, rows: int, cols: int, pad: int = 2) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) in [-1, 1] -> one (rows*(H+pad)+pad, ...[, C]) uint8 mosaic, as
    torchvision's save_image."""
    n, h, w = images.shape[:3]
    canvas = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, *images.shape[3:]), np.uint8)
    pixels = to_uint8(images)
    for i in range(min(n, rows * cols)):
        r, c = divmod(i, cols)
        canvas[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + c * (w + pad) : pad + c * (w + pad) + w,
        ] = pixels[i]
    return canvas


def save_png_atomic(path: str | Path, array: np.ndarray) -> None:
    """Write a grey (H, W) or RGB (H, W, 3) uint8 image as PNG; a crash mid-write never leaves a
    truncated file at `path`."""
    import matplotlib.image

    with atomic_path(path) as tmp:
        matplotlib.image.imsave(tmp, array, cmap="gray", vmin=0, vmax=255, format="png")


def plot_grid(
    images: Any,
    rows: int = 8,
    cols: int = 8,
    out: str | Path | None = None,
    row_labels: list[str] | None = None,
):
    """The reference's final figure, a rows x cols matplotlib grid of images (the layouts and
    pixel ranges `check_images` takes); returns the Figure (a notebook shows it), saved to `out`
    only when given."""
    for name, value in (("rows", rows), ("cols", cols)):
        if not POSITIVE_INT.ok(value):
            raise ConfigError(f"{name} must be {POSITIVE_INT.wants}, got {value!r}")
    shape = image_shape(images)
    images = check_images(images, "images", ConfigError, min_count=1, shape=shape)
    images = images.reshape(-1, *shape[: 2 if shape[2] == 1 else 3])
    out = None if out is None else image_path(out)
    fig = figure(figsize=(cols, rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < len(images):
            if images.ndim == 4:  # colour: imshow takes floats in [0, 1]
                ax.imshow((images[i] + 1) / 2)
            else:
                ax.imshow(images[i], cmap="gray", vmin=-1, vmax=1)
        ax.axis("off")
    if row_labels:
        for r, label in enumerate(row_labels[:rows]):
            axes[r, 0].set_title(label, loc="left", fontsize=8)
    fig.tight_layout()
    if out is not None:
        save_figure(fig, out)
    return fig


def figure(**kwargs: Any) -> Any:
    """A matplotlib Figure, not pyplot's: nothing global, no backend needed; a notebook shows it."""
    return _figure_class()(**kwargs)


def image_path(out: Any, name: str = "out") -> Path:
    """`out` as an image file that matplotlib writes (by its suffix; none: PNG) in an existing
    folder, or a ConfigError naming `name`."""
    out = checked_path(out, name)
    if out.is_dir():
        raise ConfigError(
            f"{arg(name)}: {out} is a folder; name the image file, e.g. {out / 'grid.png'}"
        )
    formats = figure().canvas.get_supported_filetypes()
    if (kind := out.suffix[1:].lower() or "png") not in formats:
        raise ConfigError(
            f"{arg(name)}: matplotlib writes no {kind!r} files; use one of {', '.join(sorted(formats))}"
        )
    if not out.absolute().parent.is_dir():
        raise ConfigError(
            f"{arg(name)}: cannot write {out}: {out.absolute().parent} is not a directory"
        )
    return out


def save_figure(fig: Any, out: Path) -> None:
    """`fig` written to `out` (see `image_path`) in the format its suffix names; atomic."""
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=out.suffix[1:].lower() or "png")
    except OSError as e:
        raise ConfigError(f"cannot write {out}: {e.strerror}") from None


MNIST_SHAPE = (*IMAGE_SHAPE, 1)
# Host memory per MNIST sample: float32 pixels, and one copy (an export, a conversion for scoring).
SAMPLE_BYTES = 2 * IMAGE_PIXELS * 4


def layouts(shape: tuple[int, int, int]) -> tuple[tuple[int, ...], ...]:
    """The array layouts of one image of `shape` (H, W, C) that jaxgan reads."""
    h, w, c = shape
    return ((h, w),) * (c == 1) + ((h * w * c,), (h, w, c), (c, h, w))


def image_shape(images: Any) -> tuple[int, int, int]:
    """(H, W, C) of a batch of images (N, H, W) or (N, H, W, C) with C = 1 or 3; rows (N, 784) and
    anything else: MNIST's, for `check_images` to judge."""
    shape = np.shape(images)
    if len(shape) == 3:
        return (shape[1], shape[2], 1)
    if len(shape) == 4 and shape[3] in (1, 3):
        return shape[1:]
    return MNIST_SHAPE


def _layouts_text(shape: tuple[int, int, int]) -> str:
    return ", ".join("(N, " + ", ".join(map(str, layout)) + ")" for layout in layouts(shape))


def check_images(
    images: Any,
    name: str = "images",
    error: type[Exception] = EvaluationError,
    min_count: int = 2,
    shape: tuple[int, int, int] = MNIST_SHAPE,
) -> np.ndarray:
    """Images of `shape` (H, W, C) as rows (N, H*W*C) float32 in [-1, 1], or one line naming
    `name` and what is wrong.

    Accepted layouts (MNIST's): (N, 28, 28), (N, 784), (N, 28, 28, 1), (N, 1, 28, 28); pixel
    ranges: uint8 (or integers) 0..255, floats in [0, 1] or in [-1, 1]; every pixel finite; at
    least `min_count` images, and no more than half of the host memory holds. Anything else is
    refused, not converted."""
    try:
        images = np.asarray(images)
    except ValueError:  # ragged nested lists
        raise error(
            f"{name}: not an array of images of one shape (ragged or nested input)"
        ) from None
    if images.ndim < 2 or images.shape[1:] not in layouts(shape):
        raise error(f"{name}: images of shape {images.shape}; expected {_layouts_text(shape)}")
    if images.dtype == bool or not (
        np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)
    ):
        raise error(f"{name}: images of dtype {images.dtype}, not numbers")
    if len(images) < min_count:
        raise error(f"{name}: {len(images)} image(s); at least {min_count} are needed")
    pixels = int(np.prod(shape))
    check_host_memory(len(images), 2 * pixels * 4, f"{name}: {len(images):,} images", error)
    if images.shape[1:] == (shape[2], *shape[:2]) and shape[2] > 1:  # channels first
        images = images.transpose(0, 2, 3, 1)
    images = images.reshape(len(images), pixels)
    if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
        raise error(f"{name}: {int((~np.isfinite(images)).sum())} pixels are NaN or infinite")
    low, high = float(images.min()), float(images.max())
    if np.issubdtype(images.dtype, np.integer) and 0 <= low and high <= 255:
        return images.astype(np.float32) / 127.5 - 1
    if 0 <= low and high <= 1:
        return images.astype(np.float32) * 2 - 1
    if not (-1 <= low and high <= 1) or np.issubdtype(images.dtype, np.integer):
        raise error(
            f"{name}: pixel values span [{low:g}, {high:g}]; expected "
            f"[-1, 1], [0, 1] or integers 0..255"
        )
    return images.astype(np.float32)


@functools.cache
def _figure_class() -> type:
    """matplotlib's Figure, shown by notebooks as a PNG whatever the matplotlib backend."""

    from matplotlib.figure import Figure

    class GridFigure(Figure):
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png")
            return buffer.getvalue()

    return GridFigure


def save_npz(
    path: str | Path,
    images: np.ndarray,
    uint8: bool = False,
    labels: np.ndarray | None = None,
    codes: np.ndarray | None = None,
    dataset: str = "mnist",
) -> None:
    """`images` (N, H, W[, C]): float32 in [-1, 1], or uint8 0..255 with `uint8`; a conditional
    model's `labels` (N,) and an InfoGAN model's `codes` (N,) beside them, and the name of the
    `dataset` the model was trained on. Atomic write."""
    images = np.asarray(images, np.float32)
    if uint8:
        images = to_uint8(images)
    extra = {
        name: value for name, value in (("labels", labels), ("codes", codes)) if value is not None
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, images=images, dataset=np.asarray(dataset), **extra)


def read_samples(path: str | Path) -> np.ndarray:
    """Images (N, 784) float32 in [-1, 1] from an .npz (key `images`) or .npy file, checked by
    `check_images`; the array's header (shape, dtype) is checked before the array is read."""
    name = arg("samples", str(path))
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{name}: no such file")
    try:
        with open(path, "rb") as f:
            if f.read(6) == b"\x93NUMPY":
                f.seek(0)
                _check_header(f, name)
                f.seek(0)
                return check_images(np.load(f, allow_pickle=False), name)
        with zipfile.ZipFile(path) as archive:
            if "images.npy" not in archive.namelist():
                raise EvaluationError(
                    f"{name}: the .npz has no 'images' array "
                    f"(write it with scripts/sample.py --export)"
                )
            if "dataset.npy" in archive.namelist():
                with archive.open("dataset.npy") as member:
                    dataset = str(np.lib.format.read_array(member, allow_pickle=False))
                if dataset != "mnist":
                    raise EvaluationError(
                        f"{name}: samples of a model trained on {dataset}, and samples are scored "
                        "in MNIST's features: evaluate the run (--workdir) against its own reference"
                    )
            with archive.open("images.npy") as member:
                _check_header(member, name)
            with archive.open("images.npy") as member:
                return check_images(np.lib.format.read_array(member, allow_pickle=False), name)
    except (
        OSError,
        ValueError,
        EOFError,
        zipfile.BadZipFile,
    ) as e:  # not numpy data, truncated, pickled objects
        raise EvaluationError(
            f"{name}: not a readable .npz/.npy file ({one_line(e, 120)})"
        ) from None


def _check_header(f: Any, name: str) -> None:
    """The array an .npy header announces: a layout `check_images` takes, and a size that fits."""
    version = np.lib.format.read_magic(f)
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read(f)
    if len(shape) < 2 or tuple(shape[1:]) not in layouts(MNIST_SHAPE):
        raise EvaluationError(
            f"{name}: images of shape {shape}; expected {_layouts_text(MNIST_SHAPE)}"
        )
    check_host_memory(
        shape[0],
        SAMPLE_BYTES + IMAGE_PIXELS * dtype.itemsize,
        f"{name}: {shape[0]:,} images",
        EvaluationError,
    )
