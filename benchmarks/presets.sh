#!/usr/bin/env bash
# The presets against the reference, back to back (about 35 minutes on a 2-core CPU):
#  1. wall time of the 100-epoch reference, of seeds 0, 1, 2 of `quality` and of `conditional`,
#     and of the reference again; each run then scored on 10,000 samples (`evaluate.py`, with
#     `--cas` for the conditional preset) -> OUT/presets.md, mean ± std over the seeds, in both
#     feature spaces;
#  2. the same runs with --eval-every (the reference every 10 epochs, the presets every 2) ->
#     OUT/time_quality.png, MNIST-FID and encoder FID (2,000 samples) against training seconds.
#   bash benchmarks/presets.sh DATA_DIR [OUT_DIR]     (DATA_DIR: TFDS data dir or the IDX files)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bash benchmarks/presets.sh DATA_DIR [OUT_DIR]}
out=${2:-runs/presets}
mkdir -p "$out"

train() {  # NAME FLAGS...: one run, its wall time appended to OUT/walls.txt
    local name=$1 start end
    shift
    start=$EPOCHREALTIME
    python scripts/train.py "$@" --data-dir "$data" --workdir "$out/$name" --overwrite \
        --no-progress --no-tensorboard > "$out/$name.log" 2>&1
    end=$EPOCHREALTIME
    echo "$name $(python -c "print(f'{$end - $start:.1f}')")" | tee -a "$out/walls.txt"
}

: > "$out/walls.txt"
for preset in reference quality conditional; do  # decoded data and compiled programs cached first
    train "warmup_$preset" --preset "$preset" --epochs 1
done
: > "$out/walls.txt"
train reference_before --epochs 100
for preset in quality conditional; do
    for seed in 0 1 2; do
        train "$preset$seed" --preset "$preset" --seed "$seed"
    done
done
train reference_after --epochs 100

for name in reference_before quality0 quality1 quality2 conditional0 conditional1 conditional2; do
    cas=()
    [[ $name == conditional* ]] && cas=(--cas)
    python scripts/evaluate.py --workdir "$out/$name" --json "${cas[@]}" --data-dir "$data" > "$out/$name.json"
done

train curve_reference --epochs 100 --eval-every 10
for preset in quality conditional; do
    for seed in 0 1 2; do
        train "curve_$preset$seed" --preset "$preset" --seed "$seed" --eval-every 2
    done
done
python scripts/plot.py --out "$out/time_quality.png" \
    --time-quality "reference=$out/curve_reference" \
    --time-quality "quality=$out/curve_quality0,$out/curve_quality1,$out/curve_quality2" \
    --time-quality "conditional=$out/curve_conditional0,$out/curve_conditional1,$out/curve_conditional2"

python - "$out" <<'PY'
import json, sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1])
walls = dict(line.split() for line in (out / "walls.txt").read_text().splitlines())
rows = ["| run | seeds | MNIST-FID | encoder FID | precision | recall | classifier score | classes | "
        "conditional accuracy | CAS | wall per seed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
for name, runs in [("reference, 100 epochs", ["reference_before"]),
                   ("quality", [f"quality{s}" for s in range(3)]),
                   ("conditional", [f"conditional{s}" for s in range(3)])]:
    scores = [json.loads((out / f"{r}.json").read_text()) for r in runs]

    def cell(key, scale=1.0, digits=2):
        values = [s[key] * scale for s in scores if key in s]
        if not values:
            return "–"
        each = " / ".join(f"{v:.{digits}f}" for v in values)
        return each if len(values) == 1 else f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f} ({each})"

    rows.append(f"| {name} | {len(runs)} | {cell('fid')} | {cell('encoder_fid')} | {cell('precision', digits=3)} | "
                f"{cell('recall', digits=3)} | {cell('classifier_score')} | "
                f"{cell('classes_covered', digits=0)} | {cell('conditional_accuracy', 100)} | {cell('cas', 100)} | "
                f"{' / '.join(walls[r] + ' s' for r in runs)} |")
rows.append(f"\nreference's wall: {walls['reference_before']} s before, {walls['reference_after']} s after")
(out / "presets.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
