"""Benchmark jaxgan's compiled epoch against its per-step loop and the reference PyTorch loop, and
populations of N members trained in one program against one run.

Each measurement runs in a fresh subprocess (so peak memory is its own); all in one run, with
ratios. `python benchmarks/bench.py --data-dir DIR`
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the benchmarks package

from benchmarks.common import IMAGE, load_images, step_flops  # noqa: E402
from benchmarks.population import population_rows, worker_population  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_peak_mb() -> float | None:
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return stats["peak_bytes_in_use"] / 2**20 if "peak_bytes_in_use" in stats else None


def worker_scan(args) -> dict:
    import jax

    from jaxgan.config import Config
    from jaxgan.data import steps_per_epoch
    from jaxgan.epoch import make_train
    from jaxgan.program import compile_epoch

    images, _, source = load_images(args.data_dir)
    images = images[: args.examples]
    config = Config.preset(args.preset).replace(batch_size=args.batch)
    fns = make_train(config)
    state = fns.init(jax.random.key(0))
    data = jax.device_put(images)
    batch = {"image": jax.ShapeDtypeStruct((args.batch, IMAGE), "float32")}
    step_cost = jax.jit(fns.step).lower(state, batch, jax.random.key(0)).compile().cost_analysis()
    t0 = time.perf_counter()
    state, epoch_fn = compile_epoch(config, state, data, fns=fns)
    compile_s = time.perf_counter() - t0
    state, m = epoch_fn(state, 0)  # warm-up epoch
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        state, m = epoch_fn(state, epoch)
    jax.block_until_ready((state, m))
    seconds = (time.perf_counter() - t0) / args.epochs
    steps = steps_per_epoch(len(images), args.batch, False)
    return {
        "steps_per_s": steps / seconds,
        "s_per_epoch": seconds,
        "compile_s": compile_s,
        "xla_flops_per_step": (step_cost or {}).get("flops"),
        "steps_per_epoch": steps,
        "data": source,
    }


def worker_stepwise(args) -> dict:
    """jaxgan's plain loop: one jitted step call per batch from Python (a whole epoch)."""
    import jax

    from jaxgan.config import Config
    from jaxgan.epoch import make_train, train_epoch_stepwise

    images, _, source = load_images(args.data_dir)
    fns = make_train(Config(batch_size=args.batch))
    state = fns.init(jax.random.key(0))
    data = jax.device_put(images)
    run = functools.partial(train_epoch_stepwise, fns.step, batch_size=args.batch, drop_last=False)
    state, m = run(state, data, jax.random.key(0))  # warm-up epoch: compiles both batch shapes
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    state, m = run(state, data, jax.random.key(1))
    jax.block_until_ready((state, m))
    seconds = time.perf_counter() - t0
    steps = len(m["d_loss"])
    return {"steps_per_s": steps / seconds, "s_per_epoch": seconds, "data": source}


def worker_torch(args) -> dict:
    import torch

    from benchmarks.torch_reference import train_steps

    images, labels, source = load_images(args.data_dir)
    result = train_steps(images, labels, steps=args.steps, batch_size=args.batch)
    return {
        **result,
        "s_per_epoch": 60_000 / args.batch / result["steps_per_s"],
        "data": source,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def worker_peak(args) -> dict:
    import jax
    import jax.numpy as jnp

    n = 4096
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    mm = jax.jit(jnp.matmul)
    jax.block_until_ready(mm(a, b))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        jax.block_until_ready(mm(a, b))
        best = min(best, time.perf_counter() - t0)
    return {"gflops": 2 * n**3 / best / 1e9, "n": n}


WORKERS = {
    "scan": worker_scan,
    "stepwise": worker_stepwise,
    "torch": worker_torch,
    "peak": worker_peak,
    "population": worker_population,
}


def run_worker(mode: str, args, batch: int, steps: int | None = None, **extra) -> dict | None:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--batch",
        str(batch),
        "--epochs",
        str(args.epochs),
        "--steps",
        str(steps or args.steps),
    ]
    cmd += [f"--{k}={v}" for k, v in extra.items()]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        print(
            f"  {mode} b={batch}: failed: {result.stderr.strip().splitlines()[-1:]}",
            file=sys.stderr,
        )
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def print_table(rows: list, peak: dict) -> None:
    print(
        f"\n{'path':24} {'batch':>5} {'steps/s':>9} {'s/epoch':>8} {'GFLOP/s':>8} "
        f"{'% peak':>6} {'peak RSS MB':>11}"
    )
    for name, batch, r in rows:
        if r is None:
            continue
        gflops = r["steps_per_s"] * step_flops(batch) / 1e9
        print(
            f"{name:24} {batch:5d} {r['steps_per_s']:9.1f} {r['s_per_epoch']:8.2f} {gflops:8.1f} "
            f"{100 * gflops / peak['gflops']:5.0f}% {r['peak_rss_mb']:11.0f}"
        )
    by = {(name, b): r for name, b, r in rows if r}
    fast, ref = by.get(("jaxgan compiled epoch", 64)), by.get(("PyTorch reference", 64))
    slow = by.get(("jaxgan per-step loop", 64))
    print()
    print(
        f"model FLOPs per step at batch 64: {step_flops(64) / 1e6:.1f} M (analytic); XLA counts "
        f"{fast['xla_flops_per_step'] / 1e6:.1f} M incl. elementwise"
        if fast and fast.get("xla_flops_per_step")
        else ""
    )
    if fast and slow:
        print(f"compiled epoch vs per-step loop: {fast['steps_per_s'] / slow['steps_per_s']:.1f}x")
    if fast and ref:
        print(
            f"compiled epoch vs PyTorch reference: {fast['steps_per_s'] / ref['steps_per_s']:.1f}x "
            f"(torch {ref['torch']}, {ref['threads']} threads)"
        )
    if fast:
        print(f"100 reference epochs, projected: {100 * fast['s_per_epoch']:.0f} s of training")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("TFDS_DATA_DIR"))
    parser.add_argument("--batch-sizes", default="64,256,1024")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs of the compiled path")
    parser.add_argument("--steps", type=int, default=400, help="timed steps of the PyTorch loop")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up timing")
    parser.add_argument(
        "--population",
        default="1,4,8,16,32",
        help="population sizes to time against one run ('' to skip)",
    )
    parser.add_argument(
        "--population-preset", default="reference", choices=["reference", "quality"]
    )
    parser.add_argument(
        "--population-examples",
        type=int,
        default=16_000,
        help="examples per timed population epoch (same for its one-run baseline)",
    )
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--members", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--preset", default="reference", help=argparse.SUPPRESS)
    parser.add_argument("--examples", type=int, default=60_000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = WORKERS[args.worker](args)
        print(
            json.dumps({**result, "peak_rss_mb": peak_rss_mb(), "device_peak_mb": device_peak_mb()})
        )
        return

    import jax

    device = jax.devices()[0]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {device.platform} "
        f"({device.device_kind}); jax {jax.__version__}; {datetime.date.today()}"
    )
    peak = run_worker("peak", args, 0)
    print(f"large-matmul peak (4096^3 f32): {peak['gflops']:.1f} GFLOP/s")
    rows = []
    batches = [int(b) for b in args.batch_sizes.split(",") if b]
    for batch in batches:
        scan = run_worker("scan", args, batch)
        rows.append(("jaxgan compiled epoch", batch, scan))
        if batch == 64:
            rows.append(("jaxgan per-step loop", batch, run_worker("stepwise", args, batch)))
            if not args.no_torch:
                try:
                    import torch  # noqa: F401

                    rows.append(("PyTorch reference", batch, run_worker("torch", args, batch)))
                except ImportError:
                    print("PyTorch not installed (pip install -e '.[bench]'): reference skipped")
    if rows:
        print_table(rows, peak)
    population = population_rows(args, peak, run_worker) if args.population else []
    from benchmarks.startup import time_to_first_step

    startup = [] if args.no_startup else time_to_first_step(args.data_dir)
    for s in startup:
        print(
            f"start-up, {s['run']}: first step after {s['to_first_step_s']:.1f} s "
            f"(data+state ready {s['data_ready_s']:.1f} s, compile {s['compile_s']:.1f} s)"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"peak": peak, "rows": rows, "population": population, "startup": startup}, indent=2
            )
        )


if __name__ == "__main__":
    main()
