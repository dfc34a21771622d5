"""Drawing samples from a generator (a trained `Model`, loaded from a run) and laying them out as
image grids."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.checkpoint import CheckpointRecord
from jaxgan.config import POSITIVE_INT, Config, checked_path, checked_seed
from jaxgan.errors import ConfigError, EvaluationError
from jaxgan.files import atomic_path
from jaxgan.mnist import IMAGE_PIXELS, IMAGE_SHAPE, NUM_CLASSES
from jaxgan.models import latent_codes, make_models
from jaxgan.parallel import check_host_memory
from jaxgan.runlog import EpochMetrics, MetricsLog, quiet_libraries
from jaxgan.step import GANState


def generate(generator: nn.Module, state: GANState, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
    """Images (N, 28, 28) in [-1, 1] for latents z (N, latent_dim) and, for a conditional
    model only, its class labels (N,) in 0..9 (checked by the callers: here they are traced).

    Uses the generator's EMA weights (the trained weights themselves when EMA is off)."""
    conditional = getattr(generator, "num_classes", None)  # a module of the user's own may not say
    if conditional and labels is None:
        raise ConfigError("labels: a conditional model needs the digits to draw (N integers in 0..9)")
    if conditional == 0 and labels is not None:
        raise ConfigError("labels: this model is not conditional; it draws no chosen digit (pass labels=None)")
    return generator.apply({"params": state.sampling_params}, z, labels).reshape(-1, *IMAGE_SHAPE)


def generate_in_batches(generator: nn.Module, state: GANState, z: jax.Array, labels: jax.Array | None = None,
                        batch_size: int = 1000) -> np.ndarray:
    """`generate` over any number of latents, a fixed-size batch at a time (one compiled shape
    for full batches), into one preallocated host array."""
    gen = jax.jit(generate, static_argnums=0)
    out = np.empty((len(z), *IMAGE_SHAPE), np.float32)
    for i in range(0, len(z), batch_size):
        out[i: i + batch_size] = gen(generator, state, z[i: i + batch_size],
                                     None if labels is None else labels[i: i + batch_size])
    return out


def grid_labels(n: int, rows: int, cols: int, digit: int | None = None,
                classes: int = 10) -> jax.Array:
    """Class labels (or InfoGAN codes) for a grid: one per row (0..classes-1 cycling), or all `digit`."""
    if digit is not None:
        return jnp.full((n,), digit, jnp.int32)
    return (jnp.arange(n) // cols % classes).astype(jnp.int32)


def with_codes(z: jax.Array, codes: int, code: jax.Array) -> jax.Array:
    """Latents z (N, D) whose InfoGAN code (the argmax of the first `codes` coordinates) is `code` (N,).

    Swaps each row's largest head coordinate with coordinate `code`: a permutation of i.i.d.
    coordinates, so z keeps its N(0, I) law conditioned on the code."""
    rows = jnp.arange(z.shape[0])
    current = latent_codes(z, codes)
    top, there = z[rows, current], z[rows, code]
    return z.at[rows, current].set(there).at[rows, code].set(top)


def latents(key: jax.Array, n: int, latent_dim: int) -> jax.Array:
    return jax.random.normal(key, (n, latent_dim), jnp.float32)


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical interpolation between latent rows a and b at fractions t (T,) -> (T, D)."""
    a_n, b_n = a / jnp.linalg.norm(a), b / jnp.linalg.norm(b)
    omega = jnp.arccos(jnp.clip(jnp.dot(a_n, b_n), -1.0, 1.0))
    so = jnp.sin(omega)
    t = t[:, None]
    lerp = (1 - t) * a + t * b  # the limit for (anti-)parallel vectors
    return jnp.where(so < 1e-6, lerp, (jnp.sin((1 - t) * omega) * a + jnp.sin(t * omega) * b) / so)


def to_uint8(images) -> np.ndarray:
    """Images in [-1, 1] -> uint8 pixels 0..255 (rounded, clipped)."""
    return np.clip((np.asarray(images) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def tile(images: np.ndarray, rows: int, cols: int, pad: int = 2) -> np.ndarray:
    """(N, H, W) in [-1, 1] -> one (rows*(H+pad)+pad, ...) uint8 mosaic, as torchvision's save_image."""
    n, h, w = images.shape
    canvas = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad), np.uint8)
    pixels = to_uint8(images)
    for i in range(min(n, rows * cols)):
        r, c = divmod(i, cols)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h,
               pad + c * (w + pad): pad + c * (w + pad) + w] = pixels[i]
    return canvas


def save_png_atomic(path: str | Path, array: np.ndarray) -> None:
    """Write a grey image as PNG; a crash mid-write never leaves a truncated file at `path`."""
    import matplotlib.image

    with atomic_path(path) as tmp:
        matplotlib.image.imsave(tmp, array, cmap="gray", vmin=0, vmax=255, format="png")


def plot_grid(images: Any, rows: int = 8, cols: int = 8, out: str | Path | None = None,
              row_labels: list[str] | None = None):
    """The reference's final figure, a rows x cols matplotlib grid of images (the layouts and
    pixel ranges `check_images` takes); returns the Figure (a notebook shows it), saved to `out`
    only when given."""
    for name, value in (("rows", rows), ("cols", cols)):
        if not POSITIVE_INT.ok(value):
            raise ConfigError(f"{name} must be {POSITIVE_INT.wants}, got {value!r}")
    images = check_images(images, "images", ConfigError, min_count=1).reshape(-1, *IMAGE_SHAPE)
    fig = _figure_class()(figsize=(cols, rows))  # not pyplot's: nothing global, no backend needed
    if out is not None:
        if (out := checked_path(out, "out")).is_dir():
            raise ConfigError(f"out: {out} is a folder; name the image file, e.g. {out / 'grid.png'}")
        if (kind := out.suffix[1:].lower() or "png") not in (formats := fig.canvas.get_supported_filetypes()):
            raise ConfigError(f"out: matplotlib writes no {kind!r} files; use one of {', '.join(sorted(formats))}")
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < len(images):
            ax.imshow(images[i], cmap="gray", vmin=-1, vmax=1)
        ax.axis("off")
    if row_labels:
        for r, label in enumerate(row_labels[:rows]):
            axes[r, 0].set_title(label, loc="left", fontsize=8)
    fig.tight_layout()
    if out is not None:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=out.suffix[1:] or "png")
    return fig


# Host memory per sample: float32 pixels, and one copy (an export, a conversion for scoring).
SAMPLE_BYTES = 2 * IMAGE_PIXELS * 4
LAYOUTS = ((28, 28), (IMAGE_PIXELS,), (28, 28, 1), (1, 28, 28))


def check_images(images: Any, name: str = "images", error: type[Exception] = EvaluationError,
                 min_count: int = 2) -> np.ndarray:
    """Images as (N, 784) float32 in [-1, 1], or one line naming `name` and what is wrong.

    Accepted layouts: (N, 28, 28), (N, 784), (N, 28, 28, 1), (N, 1, 28, 28); pixel ranges: uint8
    (or integers) 0..255, floats in [0, 1] or in [-1, 1]; every pixel finite; at least
    `min_count` images, and no more than half of the host memory holds. Anything else is
    refused, not converted."""
    try:
        images = np.asarray(images)
    except ValueError:  # ragged nested lists
        raise error(f"{name}: not an array of images of one shape (ragged or nested input)") from None
    if images.ndim < 2 or images.shape[1:] not in LAYOUTS:
        raise error(f"{name}: images of shape {images.shape}; expected (N, 28, 28), "
                    f"(N, 784), (N, 28, 28, 1) or (N, 1, 28, 28)")
    if images.dtype == bool or not (np.issubdtype(images.dtype, np.integer)
                                    or np.issubdtype(images.dtype, np.floating)):
        raise error(f"{name}: images of dtype {images.dtype}, not numbers")
    if len(images) < min_count:
        raise error(f"{name}: {len(images)} image(s); at least {min_count} are needed")
    check_host_memory(len(images), SAMPLE_BYTES, f"{name}: {len(images):,} images", error)
    images = images.reshape(len(images), IMAGE_PIXELS)
    if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
        raise error(f"{name}: {int((~np.isfinite(images)).sum())} pixels are NaN or infinite")
    low, high = float(images.min()), float(images.max())
    if np.issubdtype(images.dtype, np.integer) and 0 <= low and high <= 255:
        return images.astype(np.float32) / 127.5 - 1
    if 0 <= low and high <= 1:
        return images.astype(np.float32) * 2 - 1
    if not (-1 <= low and high <= 1) or np.issubdtype(images.dtype, np.integer):
        raise error(f"{name}: pixel values span [{low:g}, {high:g}]; expected "
                    f"[-1, 1], [0, 1] or integers 0..255")
    return images.astype(np.float32)


@functools.cache
def _figure_class() -> type:
    """matplotlib's Figure, shown by notebooks as a PNG whatever the matplotlib backend."""
    import io

    from matplotlib.figure import Figure

    class GridFigure(Figure):
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png")
            return buffer.getvalue()

    return GridFigure


def interpolation_latents(key: jax.Array, rows: int, cols: int, latent_dim: int) -> jax.Array:
    """rows x cols latents: each row walks a great circle between two random latents."""
    ends = latents(key, 2 * rows, latent_dim).reshape(rows, 2, latent_dim)
    t = jnp.linspace(0.0, 1.0, cols)
    return jnp.concatenate([slerp(a, b, t) for a, b in ends])


def save_npz(path: str | Path, images: np.ndarray, uint8: bool = False,
             labels: np.ndarray | None = None, codes: np.ndarray | None = None) -> None:
    """`images` (N, 28, 28): float32 in [-1, 1], or uint8 0..255 with `uint8`; a conditional
    model's `labels` (N,) and an InfoGAN model's `codes` (N,) beside them. Atomic write."""
    images = np.asarray(images, np.float32)
    if uint8:
        images = to_uint8(images)
    extra = {name: value for name, value in (("labels", labels), ("codes", codes)) if value is not None}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, images=images, **extra)


def choices(value: Any, n: int, name: str, count: int, error: type[Exception] = ConfigError) -> np.ndarray:
    """`value` (one int, or n ints: digits, labels, codes) as n int32 in 0 .. count-1, or an
    `error` of one line naming `name`."""
    array = np.asarray(value)
    if array.ndim == 0:
        array = np.full((n,), array)
    if array.shape != (n,) or not np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
        raise error(f"{name} must be an integer or {n} integers, got {array.dtype} of shape {array.shape}")
    if n and (array.min() < 0 or array.max() >= count):
        raise error(f"{name} must be in 0 .. {count - 1}, got values {array.min()} .. {array.max()}")
    return array.astype(np.int32)


@dataclasses.dataclass(frozen=True)
class Model:
    """A trained generator: its config, state, per-epoch metrics and checkpoint record (and the
    generator module, where it is one of your own)."""

    config: Config
    state: GANState
    metrics: list[EpochMetrics]
    record: CheckpointRecord
    generator: nn.Module | None = None

    def sample(self, n: int, *, seed: int = 0, digit: Any = None, code: Any = None) -> np.ndarray:
        """n images (n, 28, 28) float32 in [-1, 1] from the noise of `seed`. `digit` (an int or n
        ints in 0..9) is required for a conditional model and refused otherwise; `code` (in
        0..codes-1) fixes an InfoGAN model's categorical code."""
        if not POSITIVE_INT.ok(n):
            raise ConfigError(f"n must be {POSITIVE_INT.wants}, got {n!r}")
        check_host_memory(n, SAMPLE_BYTES, f"n={n:,} samples")
        seed = checked_seed(seed)
        if self.config.conditional and digit is None:
            raise ConfigError("digit: this model is conditional; pass digit=0..9 (or n digits) to choose them")
        if not self.config.conditional and digit is not None:
            raise ConfigError("digit: this model is not conditional (trained without conditional=True); "
                              "pass digit=None")
        if code is not None and not self.config.codes:
            raise ConfigError("code: this model has no InfoGAN code (trained with codes=0); pass code=None")
        z = latents(jax.random.key(seed), n, self.config.latent_dim)
        if code is not None:
            z = with_codes(z, self.config.codes, jnp.asarray(choices(code, n, "code", self.config.codes)))
        labels = None if digit is None else jnp.asarray(choices(digit, n, "digit", NUM_CLASSES))
        return generate_in_batches(self.generator or make_models(self.config)[0], self.state, z, labels)


def load(path: str | Path, *, generator: nn.Module | None = None, discriminator: nn.Module | None = None) -> Model:
    """The model of a run folder (its newest readable checkpoint), of one checkpoint folder
    (WORKDIR/checkpoints/N) or of a population member's folder (WORKDIR/members/ID).
    `generator`/`discriminator`: the modules of your own the run was trained with."""
    from jaxgan.epoch import make_train
    from jaxgan.population import restore_path
    from jaxgan.workdir import workdir_of

    quiet_libraries()
    own = generator is not None or discriminator is not None
    make = functools.partial(make_train, generator=generator, discriminator=discriminator) if own else None
    state, meta = restore_path(path, make)
    folder = Path(path) if (Path(path) / "metrics.jsonl").is_file() else workdir_of(path)
    return Model(Config.from_json(meta["config"]), state, MetricsLog(folder).epochs() if folder else [],
                 CheckpointRecord.from_meta(meta), generator)
