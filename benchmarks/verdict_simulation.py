"""How often does a trade-off study's verdict declare a winner? Simulated studies, no training.

Each simulated study has 5 members; member m's validation error at seed s is mu_m + o_s + e_ms, with a
per-seed offset o_s ~ N(0, 2 sigma) shared by every member (the seed fixes the validation split, so some
seeds are harder for everyone: pairing removes it) and noise e_ms ~ N(0, sigma), sigma = 1 point. With no
true difference (all mu equal), the share of studies that declare a winner (or state any "A beats B") is the
false-positive rate, printed with its 95% Clopper-Pearson interval; with the best member one sigma below
the rest (and two sigma), the share that decides is the power at each seed count.

    .venv/bin/python benchmarks/verdict_simulation.py [--studies 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nas_resnext.architecture import Architecture
from nas_resnext.tradeoff.plan import TradeoffPlan
from nas_resnext.tradeoff.results import DEFAULT_CONFIDENCE, MemberResult, verdict

MEMBERS = 5
SIGMA = 0.01  # seed noise, as a fraction (1 point of validation error)
OFFSET = 0.02  # spread of the per-seed offset shared by every member
BASE = 0.10
SEED_COUNTS = (2, 3, 5, 8, 13, 20)
PLAN = TradeoffPlan.family(
    Architecture.from_name("X-11-1x4d-w4-s4-r8-i1"),
    "cardinality",
    [1, 2, 4, 8, 16][:MEMBERS],
    "bottleneck_width",
    "flops",
    seeds=max(SEED_COUNTS),
)


def member(index: int, errors: dict[int, float]) -> MemberResult:
    """A hand-built result: only the label, index and errors matter to the verdict."""
    label = PLAN.label(index)
    return MemberResult(index, label, label, "cardinality", 1, 1, 1, (1,), 0, 0, None, errors, 1, (), 0)


def simulate(
    seeds: int, gap: float, studies: int, rng: np.random.Generator, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[int, int]:
    """(studies that declare a winner, studies that state at least one "A beats B") out of ``studies``;
    member 0 is ``gap`` (a fraction) better than the others."""
    mu = np.full(MEMBERS, BASE)
    mu[0] -= gap
    winners = statements = 0
    for _ in range(studies):
        errors = mu[:, None] + rng.normal(0, OFFSET, seeds)[None, :] + rng.normal(0, SIGMA, (MEMBERS, seeds))
        results = [member(m, dict(enumerate(map(float, errors[m])))) for m in range(MEMBERS)]
        judged = verdict(PLAN, results, confidence)
        winners += judged.decided
        statements += any(c.decided for c in judged.comparisons)
    return winners, statements


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of a rate k/n."""
    alpha = 1 - level
    low = float(stats.beta.ppf(alpha / 2, k, n - k + 1)) if k > 0 else 0.0
    high = float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k)) if k < n else 1.0
    return low, high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.studies
    print(f"{MEMBERS} members, {n} simulated studies per row, confidence {DEFAULT_CONFIDENCE:g}")
    print(f"seed noise sigma = {100 * SIGMA:g} point, shared per-seed offset sd = {100 * OFFSET:g} points")
    print()
    print("| true gap | seeds | winner declared | 95% CI | any 'A beats B' | 95% CI |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for gap, name in ((0.0, "none"), (SIGMA, "1 sigma"), (2 * SIGMA, "2 sigma")):
        for seeds in SEED_COUNTS:
            winners, statements = simulate(seeds, gap, n, rng)
            w_low, w_high = clopper_pearson(winners, n)
            s_low, s_high = clopper_pearson(statements, n)
            print(
                f"| {name} | {seeds} | {winners / n:.2%} | [{w_low:.2%}, {w_high:.2%}] "
                f"| {statements / n:.2%} | [{s_low:.2%}, {s_high:.2%}] |"
            )


if __name__ == "__main__":
    main()
