"""Wall time of the README's trade-off study against its goal, measured in one run.

The study: 5 members (C = 1, 2, 4, 8, 16 at the FLOPs of X-11-1x16d-w16 on the digits data), 2 seeds each,
3-epoch trials, local Ray. Goal: under 5 minutes on a 2-core machine, start-up and report included.

Printed side by side: the command's wall time against the goal, and against the training time of its
trials (the sum of their per-epoch seconds, from trials.csv): how much of the wall time is training, and
how much is start-up, data loading, latency measurement, bookkeeping and the report.

    .venv/bin/python benchmarks/tradeoff_time.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

GOAL_SECONDS = 300.0
COMMAND = [
    "tradeoff",
    *("--depths", "1,1,1", "--width", "16", "--stem-width", "16", "-C", "1", "-d", "16"),
    *("--cardinalities", "1,2,4,8,16", "--match", "flops", "--seeds", "2"),
    *("--epochs", "3", "--batch-size", "32", "--lr", "0.05"),
]


def main() -> int:
    nas = str(Path(sys.executable).parent / "nas-resnext")
    with tempfile.TemporaryDirectory(prefix="tradeoff-time-") as tmp:
        run_dir = Path(tmp) / "study"
        started = time.perf_counter()
        result = subprocess.run(
            [nas, *COMMAND, "--run-dir", str(run_dir), "--json"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return 1
        outcome = json.loads(result.stdout)
        trials = pd.read_csv(run_dir / "trials.csv")
    training = float(trials["seconds"].sum())
    print("nas-resnext " + " ".join(COMMAND))
    print(f"\n{len(trials)} trials ({outcome['trials']['COMPLETE']} complete)")
    print("| measure | seconds | ratio |")
    print("| --- | ---: | ---: |")
    print(f"| wall time of the command / the 5-minute goal | {wall:.1f} | {wall / GOAL_SECONDS:.2f} |")
    print(f"| training time of all trials (summed) / wall time | {training:.1f} | {training / wall:.2f} |")
    print(f"\ngoal (under 5 minutes): {'met' if wall < GOAL_SECONDS else 'NOT met'}")
    print(outcome["reading"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
