"""Time from `python scripts/train.py` to its first compiled epoch, with an empty and a filled cache."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_to_first_step(data_dir: str | None) -> list[dict]:
    """Two runs of scripts/train.py with an empty cache: the second reads the decoded cache."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in ("first run (decode, fill cache)", "second run (cached)"):
            cmd = [
                sys.executable,
                str(ROOT / "scripts" / "train.py"),
                "--epochs",
                "1",
                "--workdir",
                f"{tmp}/run{len(out)}",
                "--cache-dir",
                f"{tmp}/cache",
                "--no-progress",
            ]
            if data_dir:
                cmd += ["--data-dir", data_dir]
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT
            )
            first_step = None
            for line in proc.stderr:
                if "epoch compiled in" in line:
                    first_step = time.perf_counter() - t0
                    ready, compiled = map(float, re.findall(r"in ([0-9.]+) s", line))
            proc.wait()
            if first_step is None:
                print(f"  start-up {attempt}: train.py failed", file=sys.stderr)
                continue
            out.append(
                {
                    "run": attempt,
                    "to_first_step_s": first_step,
                    "compile_s": compiled,
                    "data_ready_s": ready,
                }
            )
    return out
