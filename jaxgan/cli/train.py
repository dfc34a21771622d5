"""Train the reference MNIST GAN: `jaxgan-train --epochs 100` (or scripts/train.py)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jaxgan import cli
from jaxgan.config import Config
from jaxgan.errors import ConfigError
from jaxgan.signals import stop_signals

if TYPE_CHECKING:
    from jaxgan.population import Population


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = cli.Parser(description=__doc__)
    groups = cli.add_config_args(parser)
    cli.add_data_args(groups["data"])
    groups["data"].add_argument(
        "--data",
        default=None,
        metavar="FILE.npz",
        help="train on your own images: an .npz of uint8 `images` (N, H, W) or (N, H, W, C) with "
        "C = 1 or 3, and optional integer `labels` (N,), in place of --dataset",
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--workdir",
        default="runs/mnist_gan",
        help="checkpoints, images/, metrics.jsonl and config.json go here",
    )
    existing = run.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true", help="continue the workdir's run")
    existing.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the workdir's run (deletes only what jaxgan wrote there)",
    )
    run.add_argument(
        "--devices",
        type=cli.positive_int,
        default=None,
        help="devices to use (default: all JAX sees): batches are split over them, "
        "and a population's members too",
    )
    population = parser.add_argument_group("population (many GANs in one compiled program)")
    population.add_argument(
        "--seeds",
        type=cli.positive_int,
        default=None,
        metavar="N",
        help="train members with seeds SEED .. SEED+N-1 (each with the init, data "
        "order and noise of its --seed) into WORKDIR/members/<id>/",
    )
    population.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="members for every value of a hyper-parameter (repeatable: every "
        "combination, times --seeds): lr, d_lr, beta1, beta2, eps, "
        "ema_decay, info_weight or d_dropout",
    )
    hosts = parser.add_argument_group("multi-process (docs/scaling.md)")
    hosts.add_argument(
        "--distributed",
        action="store_true",
        help="one process of a multi-process run; without the three below, the "
        "cluster (SLURM, Cloud TPU) or JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES "
        "and JAX_PROCESS_ID say which",
    )
    hosts.add_argument(
        "--coordinator-address",
        default=None,
        metavar="HOST:PORT",
        help="process 0's address, the same for every process (implies --distributed)",
    )
    hosts.add_argument(
        "--num-processes",
        type=cli.positive_int,
        default=None,
        metavar="N",
        help="processes in the run (implies --distributed)",
    )
    hosts.add_argument(
        "--process-id",
        type=int,
        default=None,
        metavar="I",
        help="this process: 0 .. N-1 (implies --distributed)",
    )
    hosts.add_argument(
        "--connect-timeout",
        type=cli.positive_int,
        default=60,
        metavar="S",
        help="seconds to wait for the coordinator and every process to join (60)",
    )
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )
    run.add_argument(
        "--deterministic-gpu",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="deterministic GPU kernels: the same seed gives the same bits (default: on; "
        "--no-deterministic-gpu may be faster)",
    )
    run.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write TensorBoard summaries to WORKDIR/tensorboard (default: on)",
    )
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> tuple[Config, Population | None]:
    """Flags given override the preset's values, or on --resume the config saved in the run's
    newest checkpoint (WORKDIR/config.json is only a copy for people). A population comes from
    --seeds and --sweep, or on --resume from the checkpoint."""
    from jaxgan import checkpoint
    from jaxgan.population import Population, parse_sweep, run_record
    from jaxgan.workdir import has_checkpoints

    checkpoints = checkpoint.checkpoint_dir(args.workdir)
    asked = args.seeds is not None or args.sweep
    sweep = tuple(parse_sweep(text) for text in args.sweep)
    if args.resume and has_checkpoints(checkpoints):
        record = checkpoint.saved_record(checkpoints, read=run_record)
        base = record.config
        saved = None if record.population is None else Population.from_json(record.population)
        if saved is None and asked:
            raise ConfigError(
                f"{args.workdir} holds a single run; --seeds and --sweep start a "
                f"population in a new --workdir"
            )
        if saved is not None and asked:
            saved = Population(base, args.seeds or saved.seeds, sweep or saved.sweep)
        config = cli.config_from_args(base, args).validate()
        return config, saved and saved.with_base(config).validate()
    config = cli.config_from_args(Config.preset(args.preset or "reference"), args).validate()
    if not asked:
        return config, None
    return config, Population(config, args.seeds or 1, sweep).validate()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    launch = (args.coordinator_address, args.num_processes, args.process_id)
    distributed = args.distributed or any(v is not None for v in launch)
    # A process of a multi-process run that is stopped before it joins would leave the others
    # waiting for it: it joins, and every process stops together at the first epoch's end.
    with stop_signals(defer=distributed):
        from jaxgan.parallel import deterministic_gpu

        deterministic_gpu(args.deterministic_gpu)  # before JAX starts a backend
        import jax

        if distributed:
            from jaxgan.distributed import initialize_distributed

            initialize_distributed(*launch, timeout_s=args.connect_timeout)
        if (cache := cli.cache_dir(args)) is not None:  # compiled epochs are reused across runs
            jax.config.update("jax_compilation_cache_dir", str(Path(cache) / "xla"))
        from jaxgan.loop import train_and_evaluate

        config, population = build_config(args)
        data = None
        if args.data is not None:
            from jaxgan.data import read_npz

            if "dataset" in args:
                raise ConfigError("--data and --dataset exclude each other: one source of data")
            data = read_npz(args.data, "--data")
        train_and_evaluate(
            config,
            args.workdir,
            population=population,
            data=data,
            data_dir=args.data_dir,
            cache_dir=cache,
            num_devices=args.devices,
            resume=args.resume,
            overwrite=args.overwrite,
            progress=args.progress,
            tensorboard=args.tensorboard,
        )


def entry() -> int:
    return cli.execute(main)
