"""Configurations against a baseline over seeds, scored in both feature spaces, and the rule that
decides which changes are kept (`jaxgan.selection.keeps`).

    python benchmarks/compare.py --data-dir DATA [--out runs/compare] [--seeds 0,1,2] \\
        "quality=--preset quality" "no-modulation=--preset quality --no-modulation"

The first NAME=FLAGS is the baseline. Each configuration trains once per seed with
`scripts/train.py FLAGS --seed S` (its wall time measured around the command), is scored by
`scripts/evaluate.py --json` (10,000 samples, evaluation seed 0), and a run already scored in OUT
is reused. Writes OUT/compare.md: mean ± std (each seed) of both spaces' scores and the verdict.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from jaxgan.selection import keeps

COLUMNS = [
    ("fid", "MNIST-FID", 2),
    ("encoder_fid", "encoder FID", 3),
    ("precision", "precision", 3),
    ("recall", "recall", 3),
    ("density", "density", 3),
    ("coverage", "coverage", 3),
    ("classifier_score", "classifier score", 2),
    ("wall", "wall (s)", 1),
]


def run(name: str, flags: list[str], seed: int, out: Path, data_dir: str) -> dict:
    folder = out / name / str(seed)
    scores = folder.with_suffix(".json")
    if scores.exists():
        return json.loads(scores.read_text())
    common = ["--data-dir", data_dir]
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "scripts/train.py", *flags, "--seed", str(seed), "--workdir", str(folder)]
        + ["--overwrite", "--no-progress", "--no-tensorboard", *common],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    result = subprocess.run(
        [sys.executable, "scripts/evaluate.py", "--workdir", str(folder), "--json", *common],
        check=True,
        capture_output=True,
        text=True,
    )
    row = {**json.loads(result.stdout.splitlines()[-1]), "wall": wall}
    scores.write_text(json.dumps(row))
    print(f"{name} seed {seed}: " + ", ".join(f"{k} {row[k]:.3f}" for k, _, _ in COLUMNS))
    return row


def cell(rows: list[dict], key: str, digits: int) -> str:
    values = [r[key] for r in rows]
    each = " / ".join(f"{v:.{digits}f}" for v in values)
    if len(values) == 1:
        return each
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f} ({each})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+", metavar="NAME=FLAGS")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", default="runs/compare")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    configs = dict(c.split("=", 1) for c in args.configs)
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = {
        name: [run(name, shlex.split(flags), s, out, args.data_dir) for s in seeds]
        for name, flags in configs.items()
    }
    baseline = next(iter(configs))
    lines = [
        f"| configuration | seeds | {' | '.join(t for _, t, _ in COLUMNS)} | kept against "
        f"{baseline} |",
        "|---|---|" + "---:|" * len(COLUMNS) + "---|",
    ]
    for name, flags in configs.items():
        verdict = "(baseline)"
        if name != baseline:
            reasons = keeps(rows[name], rows[baseline])
            verdict = "**kept**" if not reasons else "no: " + "; ".join(reasons)
        cells = " | ".join(cell(rows[name], k, d) for k, _, d in COLUMNS)
        lines.append(f"| `{flags}` | {args.seeds} | {cells} | {verdict} |")
    (out / "compare.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
