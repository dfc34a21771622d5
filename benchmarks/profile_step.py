"""Where a batch-64 step's time goes on the machine it runs on: ablations of the compiled epoch.

Each variant runs the same scan over 937 batches and removes one part of the step; the
difference to the full step is that part's cost. Not a correctness path: for profiling only.
`python benchmarks/profile_step.py`
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.config import Config
from jaxgan.data import normalize
from jaxgan.epoch import make_train

B, STEPS = 64, 937


def timed(fn, *args, repeats: int = 3) -> float:
    out = fn(*args)
    jax.block_until_ready(out)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best / STEPS * 1e6  # microseconds per step


def main() -> None:
    fns = make_train(Config())
    step, state = fns.step, fns.init(jax.random.key(0))
    images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (STEPS * B, 784), np.uint8))
    idx = jnp.arange(STEPS * B).reshape(STEPS, B)
    keys = jax.random.split(jax.random.key(1), STEPS)
    z_all = jax.random.normal(jax.random.key(2), (STEPS, B, 100))

    def scan(body):
        return jax.jit(lambda s: jax.lax.scan(body, s, (idx, keys, z_all))[1])

    full = scan(lambda s, x: step(s, {"image": normalize(images[x[0]])}, x[1]))
    no_gather = scan(lambda s, x: step(s, {"image": jnp.zeros((B, 784)) + x[2][0, 0]}, x[1]))

    results = {
        "full step": timed(full, state),
        "no image gather/normalise": timed(no_gather, state),
    }

    def matmuls_only(s, x):
        # The same 9 matmul shapes as a step, without activations, losses, RNG or Adam.
        g, d = s.g_params, s.d_params
        z, real = x[2], normalize(images[x[0]])
        h = z @ g["hidden"]["kernel"]
        fake = h @ g["out"]["kernel"]
        r = real @ d["hidden"]["kernel"]
        f = fake @ d["hidden"]["kernel"]
        dw = real.T @ r + fake.T @ f
        f2 = fake @ (d["hidden"]["kernel"] + dw * 1e-9)
        dfake = f2 @ d["hidden"]["kernel"].T
        dgw = h.T @ dfake
        dh = dfake @ g["out"]["kernel"].T
        dg1 = z.T @ dh
        s = s.replace(
            g_params={
                **g,
                "out": {**g["out"], "kernel": g["out"]["kernel"] + 1e-9 * dgw},
                "hidden": {**g["hidden"], "kernel": g["hidden"]["kernel"] + 1e-9 * dg1},
            }
        )
        return s, jnp.sum(dh)

    results["matmuls only"] = timed(scan(matmuls_only), state)

    results["RNG: z drawn per step (threefry) alone"] = timed(
        jax.jit(
            lambda k: jax.lax.scan(
                lambda c, kk: (c + jax.random.normal(kk, (B, 100)).sum(), None), 0.0, k
            )[0]
        ),
        keys,
    )
    for name, us in results.items():
        print(f"{name:42} {us:8.1f} us/step")


if __name__ == "__main__":
    main()
