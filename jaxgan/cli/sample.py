"""Draw samples from a trained jaxgan checkpoint: a matplotlib grid PNG and/or an .npz export."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from jaxgan import cli
from jaxgan.errors import ConfigError
from jaxgan.images import SAMPLE_BYTES, plot_grid, save_npz
from jaxgan.models import make_models
from jaxgan.parallel import check_host_memory
from jaxgan.sampling import (
    check_conditioning,
    generate_in_batches,
    grid_labels,
    interpolation_latents,
    latents,
    restore_path,
    with_codes,
)
from jaxgan.workdir import workdir_of


def grid_shape(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS such as 8x8, got {text!r}") from None
    if rows <= 0 or cols <= 0:
        raise argparse.ArgumentTypeError(f"rows and columns must be positive, got {text!r}")
    return rows, cols


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse output paths that cannot be written before anything is loaded."""
    if args.export and Path(args.export).suffix.lower() != ".npz":
        raise ConfigError(f"--export must be an .npz file, got {args.export}")
    if args.out and Path(args.out).suffix.lower() != ".png":
        raise ConfigError(f"--out must be a .png file, got {args.out}")
    for path in (Path(p) for p in (args.out, args.export) if p):
        if not path.absolute().parent.is_dir():
            raise ConfigError(f"cannot write {path}: {path.absolute().parent} is not a directory")


def grid_path(source: Path, args: argparse.Namespace) -> Path:
    """--out, or the samples.png of the run directory the checkpoint belongs to."""
    if args.out:
        return Path(args.out)
    if (run_dir := workdir_of(source)) is None:
        raise ConfigError(f"{source} is not inside a jaxgan run directory; pass --out FILE.png")
    return run_dir / "samples.png"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = cli.Parser(description=__doc__)
    cli.add_run_args(parser, "a training workdir: its newest readable checkpoint is used")
    parser.add_argument("--seed", type=cli.seed, default=0, help="latent noise seed (0)")
    parser.add_argument(
        "--n",
        type=cli.positive_int,
        default=None,
        help="samples to draw (default: rows x cols of --grid)",
    )
    parser.add_argument("--grid", type=grid_shape, default=(8, 8), help="ROWSxCOLS (8x8)")
    parser.add_argument(
        "--digit",
        type=int,
        choices=range(10),
        default=None,
        metavar="0-9",
        help="conditional models: draw only this class (default: one class per row)",
    )
    parser.add_argument(
        "--code",
        type=int,
        default=None,
        metavar="K",
        help="InfoGAN models (--codes): draw only code K (default: one code per row)",
    )
    parser.add_argument(
        "--interpolate",
        action="store_true",
        help="each row: a spherical interpolation between two random latents",
    )
    parser.add_argument("--out", default=None, help="grid PNG path (default: WORKDIR/samples.png)")
    parser.add_argument(
        "--export",
        default=None,
        help="also write the samples as FILE.npz: images (N,H,W[,C]) in [-1,1]",
    )
    parser.add_argument("--uint8", action="store_true", help="--export uint8 pixels 0..255")
    parser.add_argument("--show", action="store_true", help="also open a window")
    return parser.parse_args(argv)


def _latents_and_labels(config, args, rows: int, cols: int, n: int):
    """Latents, class labels (conditional models) and codes (InfoGAN models) of the grid's cells."""
    check_conditioning(config, 1, args.digit, args.code)
    key = jax.random.key(args.seed)
    if args.interpolate:
        z = interpolation_latents(key, rows, cols, config.latent_dim)
    else:
        z = latents(key, n, config.latent_dim)
    labels = (
        grid_labels(len(z), rows, cols, args.digit, config.num_classes)
        if config.conditional
        else None
    )
    codes = None
    if config.codes:  # one code per row (an interpolation then walks within its row's code)
        codes = grid_labels(len(z), rows, cols, args.code, classes=config.codes)
        z = with_codes(z, config.codes, codes)
    return z, labels, codes


def _row_labels(labels, codes, args, rows: int, cols: int) -> list[str] | None:
    if labels is not None and args.digit is None:
        return [str(int(labels[r * cols])) for r in range(rows) if r * cols < len(labels)]
    if codes is not None and args.code is None and labels is None:
        return [f"code {int(codes[r * cols])}" for r in range(rows) if r * cols < len(codes)]
    return None


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    rows, cols = args.grid
    n = args.n or rows * cols
    check_host_memory(n, SAMPLE_BYTES, f"--n {n:,}")
    check_outputs(args)
    source = Path(args.checkpoint or args.workdir)
    state, record = restore_path(source)
    out = grid_path(source, args)
    config = record.config
    z, labels, codes = _latents_and_labels(config, args, rows, cols, n)
    images = generate_in_batches(make_models(config)[0], state, z, labels, config.sample_shape)
    try:
        plot_grid(
            images, rows, cols, out=out, row_labels=_row_labels(labels, codes, args, rows, cols)
        )
        if args.export:
            save_npz(
                args.export,
                images,
                uint8=args.uint8,
                labels=None if labels is None else np.asarray(labels),
                codes=None if codes is None else np.asarray(codes),
                dataset=config.dataset,
            )
    except OSError as e:
        raise ConfigError(f"cannot write {e.filename}: {e.strerror}") from None
    print(
        f"epoch {record.epoch} checkpoint: {len(images)} samples -> {out}"
        + (f", {args.export}" if args.export else ""),
        file=sys.stderr,
    )
    if args.show:
        import matplotlib.pyplot as plt

        plt.imshow(plt.imread(out))
        plt.axis("off")
        plt.show()


def entry() -> int:
    return cli.execute(main)
