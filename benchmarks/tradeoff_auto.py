"""The README's digits trade-off study with ``--seeds auto`` against a fixed ``--seeds 8``, in one run.

The study: 5 members (C = 1, 2, 4, 8, 16 at the FLOPs of X-11-1x16d-w16 on the digits data), 3-epoch
trials, local Ray. Printed side by side: the trials each design trained, its wall time, whether it decided,
which member it found best, and whether the two reach the same verdict.

    .venv/bin/python benchmarks/tradeoff_auto.py [--min-seeds 3] [--max-seeds 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STUDY = [
    "tradeoff",
    *("--depths", "1,1,1", "--width", "16", "--stem-width", "16", "-C", "1", "-d", "16"),
    *("--cardinalities", "1,2,4,8,16", "--match", "flops"),
    *("--epochs", "3", "--batch-size", "32", "--lr", "0.05"),
]


def run(folder: Path, seeds: list[str]) -> tuple[dict[str, Any], float]:
    """The study's ``--json`` outcome and its wall time."""
    nas = str(Path(sys.executable).parent / "nas-resnext")
    started = time.perf_counter()
    result = subprocess.run(
        [nas, *STUDY, *seeds, "--run-dir", str(folder / "study"), "--json"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(seeds)}: exit {result.returncode}: {result.stderr.strip().splitlines()[-1]}")
    return json.loads(result.stdout), wall


def best(outcome: dict[str, Any]) -> str:
    rows = [r for r in outcome["rows"] if r["val_error_mean"] is not None]
    return min(rows, key=lambda r: r["val_error_mean"])["label"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-seeds", type=int, default=3)
    parser.add_argument("--max-seeds", type=int, default=8)
    args = parser.parse_args()
    designs = {
        f"--seeds auto ({args.min_seeds}..{args.max_seeds})": [
            *("--seeds", "auto", "--min-seeds", str(args.min_seeds), "--max-seeds", str(args.max_seeds))
        ],
        f"--seeds {args.max_seeds}": ["--seeds", str(args.max_seeds)],
    }
    print("nas-resnext " + " ".join(STUDY))
    results = {}
    for name, seeds in designs.items():
        with tempfile.TemporaryDirectory(prefix="tradeoff-auto-") as tmp:
            print(f"  running {name} ...", flush=True)
            results[name] = run(Path(tmp), seeds)
    print("\n| design | trials | wall s | decided | best member | seeds per member |")
    print("| --- | ---: | ---: | --- | --- | --- |")
    for name, (outcome, wall) in results.items():
        trials = sum(outcome["trials"].values())
        seeds = ", ".join(f"{r['label']} {r['seeds']}" for r in outcome["rows"])
        decided = "yes" if outcome["decided"] else "no"
        print(f"| {name} | {trials} | {wall:.0f} | {decided} | {best(outcome)} | {seeds} |")
    (auto, auto_wall), (fixed, fixed_wall) = results.values()
    auto_trials, fixed_trials = sum(auto["trials"].values()), sum(fixed["trials"].values())
    ratios = f"trials: {auto_trials / fixed_trials:.2f}; wall time: {auto_wall / fixed_wall:.2f}"
    print(f"\nauto / fixed, {ratios}")
    same = auto["decided"] == fixed["decided"] and (not auto["decided"] or best(auto) == best(fixed))
    print(f"same verdict: {'yes' if same else 'no'}")
    for name, (outcome, _) in results.items():
        print(f"\n{name}: {outcome['reading']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
