#!/usr/bin/env bash
# One accelerator's numbers in one go (about 10 minutes): the 100-epoch reference run's wall time,
# population member-steps/s for N = 1, 8, 64, 256, 1024 members (where it saturates), and whether
# two identical short runs give the same bits.
#   bash benchmarks/device.sh DATA_DIR [OUT_DIR]     (DATA_DIR: TFDS data dir or the IDX files)
# POPULATION=1,8 EPOCHS=2 shorten it (a check of the script itself on a CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bash benchmarks/device.sh DATA_DIR [OUT_DIR]}
out=${2:-runs/device}
epochs=${EPOCHS:-100}
mkdir -p "$out"
python -c "import jax; print('devices:', jax.devices())" | tee "$out/devices.txt"

start=$EPOCHREALTIME
python scripts/train.py --epochs "$epochs" --data-dir "$data" --workdir "$out/reference" --overwrite \
    --no-progress --no-tensorboard > "$out/reference.log" 2>&1
end=$EPOCHREALTIME
echo "reference, $epochs epochs: $(python -c "print(f'{$end - $start:.1f}')") s wall; $(tail -n 1 "$out/reference.log")"

python benchmarks/bench.py --data-dir "$data" --batch-sizes '' --no-torch --no-startup \
    --population "${POPULATION:-1,8,64,256,1024}" --json "$out/population.json"

for i in 1 2; do
    python scripts/train.py --epochs 3 --data-dir "$data" --workdir "$out/same$i" --overwrite \
        --no-progress --no-tensorboard > "$out/same$i.log" 2>&1
done
python - "$out" <<'PY'
import json, sys
from pathlib import Path

digests = [json.loads((Path(sys.argv[1]) / f"same{i}" / "checkpoints" / "3" / "meta" / "metadata").read_text())
           ["state_sha256"] for i in (1, 2)]
print("two identical 3-epoch runs:", "bit-identical" if digests[0] == digests[1] else "DIFFERENT", digests)
PY
