"""The benchmark's population rows: N members trained as one program against one run."""

from __future__ import annotations

import time

from benchmarks.common import load_images, step_flops


def worker_population(args) -> dict:
    """args.members members of the reference (or args.preset) as one compiled epoch."""
    import jax

    from jaxgan.config import Config
    from jaxgan.data import steps_per_epoch
    from jaxgan.epoch import make_train
    from jaxgan.population import Population, init_population
    from jaxgan.program import compile_epoch

    images, _, source = load_images(args.data_dir)
    data = jax.device_put(images[: args.examples])
    population = Population(
        Config.preset(args.preset).replace(batch_size=args.batch), seeds=args.members
    )
    members = init_population(population, make_train(population.program_config()))
    t0 = time.perf_counter()
    members, epoch_fn = compile_epoch(population.base, members, data, population=population)
    compile_s = time.perf_counter() - t0
    memory = epoch_fn.compiled.memory_analysis()
    members, m = epoch_fn(members, 0)  # warm-up epoch
    jax.block_until_ready(members)
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        members, m = epoch_fn(members, epoch)
    jax.block_until_ready((members, m))
    seconds = (time.perf_counter() - t0) / args.epochs
    steps = steps_per_epoch(args.examples, args.batch, False)
    return {
        "steps_per_s": args.members * steps / seconds,
        "s_per_epoch": seconds,
        "compile_s": compile_s,
        "program_bytes": memory.argument_size_in_bytes
        + memory.temp_size_in_bytes
        + memory.output_size_in_bytes
        - memory.alias_size_in_bytes,
        "data_bytes": data.nbytes,
        "data": source,
    }


def population_rows(args, peak: dict, run_worker) -> list[dict]:
    """Members per program N against one run, on the same data subset, batch 64."""
    examples = args.population_examples
    single = run_worker("scan", args, 64, examples=examples, preset=args.population_preset)
    print(
        f"\npopulations of the {args.population_preset} config, batch 64, {examples:,}-example "
        "epochs; "
        f"one run: {single['steps_per_s']:.1f} steps/s"
        if single
        else "\none run failed"
    )
    print(
        f"{'members':>7} {'member-steps/s':>14} {'vs one run':>10} {'GFLOP/s':>8} {'% peak':>6} "
        f"{'program MB':>10} {'compile s':>9}"
    )
    rows = []
    for n in [int(x) for x in args.population.split(",")]:
        r = run_worker(
            "population", args, 64, members=n, preset=args.population_preset, examples=examples
        )
        if r is None or single is None:
            continue
        gflops = (
            r["steps_per_s"] * step_flops(64) / 1e9
            if args.population_preset == "reference"
            else None
        )
        print(
            f"{n:7d} {r['steps_per_s']:14.1f} {r['steps_per_s'] / single['steps_per_s']:9.2f}x "
            + (
                f"{gflops:8.1f} {100 * gflops / peak['gflops']:5.0f}% "
                if gflops
                else f"{'-':>8} {'-':>6} "
            )
            + f"{r['program_bytes'] / 2**20:10.1f} {r['compile_s']:9.1f}"
        )
        rows.append({"members": n, **r})
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        per_member = (last["program_bytes"] - first["program_bytes"]) / (
            last["members"] - first["members"]
        )
        fixed = first["program_bytes"] - first["members"] * per_member
        print(
            f"memory: {per_member / 2**20:.2f} MB per member (weights, Adam moments, step "
            "temporaries) "
            f"+ {fixed / 2**20:.1f} MB shared (the {first['data_bytes'] / 2**20:.0f} MB uint8 "
            "dataset); "
            f"{int((2**30 - fixed) // per_member)} members fit in 1 GiB"
        )
    return [{"single": single}, *rows]
