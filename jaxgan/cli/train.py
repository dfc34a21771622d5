"""Train the reference MNIST GAN: `jaxgan-train --epochs 100` (or scripts/train.py)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from jaxgan import cli
from jaxgan.config import Config
from jaxgan.errors import ConfigError


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = cli.Parser(description=__doc__)
    groups = cli.add_config_args(parser)
    cli.add_data_args(groups["data"])
    run = parser.add_argument_group("run")
    run.add_argument("--workdir", default="runs/mnist_gan",
                     help="checkpoints, images/, metrics.jsonl and config.json go here")
    existing = run.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true", help="continue the workdir's run")
    existing.add_argument("--overwrite", action="store_true",
                          help="replace the workdir's run (deletes only what jaxgan wrote there)")
    run.add_argument("--devices", type=cli.positive_int, default=None,
                     help="data-parallel devices (default: all JAX sees)")
    run.add_argument("--distributed", action="store_true",
                     help="call jax.distributed.initialize() first (multi-host runs)")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar (default: when stderr is a terminal)")
    run.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=True,
                     help="write TensorBoard summaries to WORKDIR/tensorboard (default: on)")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """Flags given override the preset's values, or on --resume the config saved in the run's
    newest checkpoint (WORKDIR/config.json is only a copy for people)."""
    from jaxgan import checkpoint
    from jaxgan.workdir import has_checkpoints

    checkpoints = checkpoint.checkpoint_dir(args.workdir)
    if args.resume and has_checkpoints(checkpoints):
        base = checkpoint.saved_config(checkpoints)
    else:
        base = Config.preset(args.preset or "reference")
    return cli.config_from_args(base, args).validate()


def _initialize_distributed() -> None:
    import jax

    try:
        jax.distributed.initialize()
    except Exception as e:  # no coordinator found, or it cannot be reached
        raise ConfigError(f"--distributed: jax.distributed.initialize() failed ({e}); set "
                          f"JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID, or "
                          f"run under SLURM or on Cloud TPU") from None


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    import jax

    if args.distributed:
        _initialize_distributed()
    if (cache := cli.cache_dir(args)) is not None:  # compiled epochs are reused across runs
        jax.config.update("jax_compilation_cache_dir", str(Path(cache) / "xla"))
    from jaxgan.loop import train_and_evaluate

    train_and_evaluate(build_config(args), args.workdir, data_dir=args.data_dir,
                       cache_dir=cache, num_devices=args.devices,
                       resume=args.resume, overwrite=args.overwrite, progress=args.progress,
                       tensorboard=args.tensorboard)


def entry() -> int:
    return cli.run(main)
