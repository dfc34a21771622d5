"""Train the reference MNIST GAN: `python scripts/train.py --epochs 100`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from jaxgan import cli
from jaxgan.config import Config
from jaxgan.errors import ConfigError

# Flags that map one-to-one onto Config fields: (flag, type, help).
CONFIG_FLAGS = [
    ("--epochs", cli.positive_int, "epochs to train in all (100)"),
    ("--batch-size", cli.positive_int, "global batch size (64)"),
    ("--lr", cli.positive_float, "Adam learning rate of both networks (2e-4)"),
    ("--beta1", cli.unit_interval, "Adam beta1 (0.9)"),
    ("--beta2", cli.unit_interval, "Adam beta2 (0.999)"),
    ("--d-lr", cli.positive_float, "D's Adam learning rate, if not --lr (two time-scale rule)"),
    ("--arch", str, "architecture of G and D: mlp (the reference) or dcgan"),
    ("--latent-dim", cli.positive_int, "latent size (100)"),
    ("--hidden-dim", cli.positive_int, "mlp: hidden width of G and D (128)"),
    ("--depth", cli.positive_int, "mlp: hidden layers of G and D (1)"),
    ("--g-hidden-dim", cli.positive_int, "mlp: G's hidden width, if not --hidden-dim"),
    ("--g-depth", cli.positive_int, "mlp: G's hidden layers, if not --depth"),
    ("--channels", cli.positive_int, "dcgan: convolution width c of G (c, 2c) and D (c, 2c) (64)"),
    ("--codes", int, "InfoGAN categorical code: the argmax of z's first CODES coordinates (0: off)"),
    ("--info-weight", float, "weight of the InfoGAN code loss (1)"),
    ("--loss", str, "objective: bce (the reference), hinge or lsgan"),
    ("--label-smoothing", float, "one-sided label smoothing of D's real target, bce only (0)"),
    ("--ema-decay", float, "generator weight EMA for samples/evaluation, e.g. 0.999 (0: off)"),
    ("--d-dropout", float, "dropout on D's last hidden features while training (0)"),
    ("--r1-gamma", float, "R1 gradient penalty weight on real images, e.g. 1 (0: off)"),
    ("--seed", int, "seed of initialisation, data order and noise, 0 .. 2^32-1 (0)"),
    ("--dataset", str, "TFDS dataset: mnist or fashion_mnist (mnist)"),
    ("--sample-every", cli.positive_int, "epochs between sample grids (10)"),
    ("--checkpoint-every", cli.positive_int, "epochs between checkpoints (10)"),
    ("--keep", cli.positive_int, "checkpoints kept (3)"),
    ("--log-every", cli.positive_int, "batches between progress lines (100)"),
    ("--eval-every", int, "epochs between MNIST-FID/score evaluations (0: off)"),
    ("--eval-samples", cli.positive_int, "samples per evaluation during training (2000)"),
]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = cli.Parser(description=__doc__)
    for flag, type_, help_ in CONFIG_FLAGS:
        parser.add_argument(flag, type=type_, default=argparse.SUPPRESS, help=help_)
    parser.add_argument("--drop-last", action="store_true", default=argparse.SUPPRESS,
                        help="drop each epoch's last partial batch (the reference keeps it)")
    parser.add_argument("--conditional", action="store_true", default=argparse.SUPPRESS,
                        help="class-conditional GAN: MNIST labels feed G and a projection D")
    parser.add_argument("--preset", default=None,
                        help="start from a named config: reference (default) or quality")
    parser.add_argument("--workdir", default="runs/mnist_gan",
                        help="checkpoints, images/, metrics.jsonl and config.json go here")
    cli.add_data_args(parser)
    parser.add_argument("--devices", type=cli.positive_int, default=None,
                        help="data-parallel devices (default: all JAX sees)")
    parser.add_argument("--distributed", action="store_true",
                        help="call jax.distributed.initialize() first (multi-host runs)")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true", help="continue the workdir's run")
    existing.add_argument("--overwrite", action="store_true",
                          help="replace the workdir's run (deletes only what jaxgan wrote there)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar (default: when stderr is a terminal)")
    parser.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=True,
                        help="write TensorBoard summaries to WORKDIR/tensorboard (default: on)")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """Flags given override the defaults, or on --resume the config saved in the run's newest
    checkpoint (WORKDIR/config.json is only a copy for people)."""
    from jaxgan import checkpoint

    checkpoints = checkpoint.checkpoint_dir(args.workdir)
    if args.resume and checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir()):
        base = checkpoint.saved_config(checkpoints)
    else:
        base = Config.preset(args.preset or "reference")
    fields = {flag[2:].replace("-", "_") for flag, *_ in CONFIG_FLAGS} | {"drop_last", "conditional"}
    return base.replace(**{k: v for k, v in vars(args).items() if k in fields})


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    import jax

    if args.distributed:
        try:
            jax.distributed.initialize()
        except Exception as e:  # no coordinator found, or it cannot be reached
            raise ConfigError(f"--distributed: jax.distributed.initialize() failed ({e}); set "
                              f"JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID, or "
                              f"run under SLURM or on Cloud TPU") from None
    if (cache := cli.cache_dir(args)) is not None:  # compiled epochs are reused across runs
        jax.config.update("jax_compilation_cache_dir", str(Path(cache) / "xla"))
    from jaxgan.loop import train_and_evaluate

    train_and_evaluate(build_config(args), args.workdir, data_dir=args.data_dir,
                       cache_dir=cache, num_devices=args.devices,
                       resume=args.resume, overwrite=args.overwrite, progress=args.progress,
                       tensorboard=args.tensorboard)


if __name__ == "__main__":
    sys.exit(cli.run(main))
