"""Analytic counter vs fvcore on the same architectures, in one run: agreement and speed ratio.

Architectures are drawn uniformly from the in-budget part of each shipped design space, so the sizes are the
ones a search meets.

    .venv/bin/python benchmarks/complexity.py [--per-space 15] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

from nas_resnext import count_analytic, count_fvcore
from nas_resnext.space import DesignSpace

SPACES = Path(__file__).resolve().parents[1] / "search_spaces"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-space", type=int, default=15, help="architectures drawn from each space")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--analytic-repeats", type=int, default=200, help="timed repeats per architecture")
    args = parser.parse_args()

    rows = []
    total_agree = total = 0
    all_analytic: list[float] = []
    all_fvcore: list[float] = []
    for path in sorted(SPACES.glob("*.yaml")):
        space = DesignSpace.from_file(path)
        rng = random.Random(args.seed)
        archs: list = []
        while len(archs) < args.per_space:
            arch = space.random_architecture(rng)
            if space.budget.admits(count_analytic(arch)):
                archs.append(arch)
        count_fvcore(archs[0])  # warm-up: the first trace pays for imports
        analytic_s, fvcore_s, agree = [], [], 0
        for i, arch in enumerate(archs, 1):
            start = time.perf_counter()
            for _ in range(args.analytic_repeats):
                fast = count_analytic(arch)
            analytic_s.append((time.perf_counter() - start) / args.analytic_repeats)
            start = time.perf_counter()
            reference = count_fvcore(arch)
            fvcore_s.append(time.perf_counter() - start)
            agree += fast == reference
            print(f"\r{space.name}: {i}/{len(archs)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        total_agree += agree
        total += len(archs)
        all_analytic += analytic_s
        all_fvcore += fvcore_s
        rows.append((space.name, len(archs), agree, statistics.mean(analytic_s), statistics.mean(fvcore_s)))

    print("| design space | archs | analytic == fvcore | analytic (mean) | fvcore (mean) | speed-up |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, n, agree, analytic, fvcore in rows:
        print(
            f"| {name} | {n} | {agree}/{n} | {analytic * 1e6:.1f} us | {fvcore * 1e3:.1f} ms "
            f"| {fvcore / analytic:,.0f}x |"
        )
    ratio = statistics.mean(all_fvcore) / statistics.mean(all_analytic)
    per_arch = min(f / a for f, a in zip(all_fvcore, all_analytic, strict=True))
    print(
        f"| all | {total} | {total_agree}/{total} | {statistics.mean(all_analytic) * 1e6:.1f} us | "
        f"{statistics.mean(all_fvcore) * 1e3:.1f} ms | {ratio:,.0f}x |"
    )
    print(
        f"\nagreement: {total_agree}/{total}; mean speed-up {ratio:,.0f}x; "
        f"smallest per-architecture speed-up {per_arch:,.0f}x"
    )
    return 0 if total_agree == total else 1


if __name__ == "__main__":
    sys.exit(main())
