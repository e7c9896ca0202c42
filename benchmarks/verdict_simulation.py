"""How often does a trade-off study's verdict declare a winner? Simulated studies, no training.

Each simulated study has 5 members; member m's validation error at seed s is mu_m + o_s + e_ms, with a
per-seed offset o_s ~ N(0, 2 sigma) shared by every member (the seed fixes the validation split, so some
seeds are harder for everyone: pairing removes it) and noise e_ms ~ N(0, sigma), sigma = 1 point. With no
true difference (all mu equal), the share of studies that declare a winner (or state any "A beats B") is the
false-positive rate, printed with its 95% Clopper-Pearson interval; with the best member one sigma below
the rest (and two sigma), the share that decides is the power at each seed count.

The adaptive design (``--seeds auto --min-seeds 3 --max-seeds 8``) runs on the same simulated studies: every
member at 3 seeds, then one more seed per round for the contenders only (``next_round``), each look read at
the level corrected over pairs and over the 6 planned looks; beside it, fixed ``--seeds 8``. Each row gives
the rate of declared winners, of any "A beats B", and the mean trials (member-seeds) a study spends.

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
from nas_resnext.tradeoff.results import DEFAULT_CONFIDENCE, MemberResult, next_round, verdict

MEMBERS = 5
SIGMA = 0.01  # seed noise, as a fraction (1 point of validation error)
OFFSET = 0.02  # spread of the per-seed offset shared by every member
BASE = 0.10
SEED_COUNTS = (2, 3, 5, 8, 13, 20)
MIN_SEEDS, MAX_SEEDS = 3, 8  # the adaptive design's defaults
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
    winners = statements = 0
    for _ in range(studies):
        errors = _errors(seeds, gap, rng)
        results = [member(m, dict(enumerate(map(float, errors[m])))) for m in range(MEMBERS)]
        judged = verdict(PLAN, results, confidence)
        winners += judged.decided
        statements += any(c.decided for c in judged.comparisons)
    return winners, statements


def _errors(seeds: int, gap: float, rng: np.random.Generator) -> np.ndarray:
    """One simulated study's errors (members x seeds); member 0 is ``gap`` better than the others."""
    mu = np.full(MEMBERS, BASE)
    mu[0] -= gap
    return mu[:, None] + rng.normal(0, OFFSET, seeds)[None, :] + rng.normal(0, SIGMA, (MEMBERS, seeds))


def simulate_adaptive(
    gap: float,
    studies: int,
    rng: np.random.Generator,
    min_seeds: int = MIN_SEEDS,
    max_seeds: int = MAX_SEEDS,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[int, int, float]:
    """The adaptive schedule on ``studies`` simulated studies: (studies that declare a winner, studies whose
    final reading states at least one "A beats B", mean trials per study). Every seed's errors are drawn up
    front (seed k is the same draw whichever members train it, as real paired seeds are)."""
    start = PLAN.adaptive_seeds(min_seeds, max_seeds, confidence)
    winners = statements = trials = 0
    for _ in range(studies):
        errors = _errors(max_seeds, gap, rng)
        plan = start
        while True:
            results = [
                member(m, dict(enumerate(map(float, errors[m, : plan.member_seeds[m]]))))
                for m in range(MEMBERS)
            ]
            judged = verdict(plan, results, confidence, plan.looks)
            grown = next_round(plan, results, judged)
            if grown is None:
                break
            plan = grown
        winners += judged.decided
        statements += any(c.decided for c in judged.comparisons)
        trials += plan.trials
    return winners, statements, trials / studies


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
    print()
    looks = MAX_SEEDS - MIN_SEEDS + 1
    print(f"adaptive: --seeds auto --min-seeds {MIN_SEEDS} --max-seeds {MAX_SEEDS} ({looks} planned looks)")
    print()
    print("| true gap | design | winner declared | 95% CI | any 'A beats B' | 95% CI | mean trials |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for gap, name in ((0.0, "none"), (SIGMA, "1 sigma"), (2 * SIGMA, "2 sigma")):
        winners, statements, spent = simulate_adaptive(gap, n, rng)
        fixed_winners, fixed_statements = simulate(MAX_SEEDS, gap, n, rng)
        rows = (
            (f"auto {MIN_SEEDS}..{MAX_SEEDS}", winners, statements, spent),
            (f"fixed {MAX_SEEDS}", fixed_winners, fixed_statements, float(MEMBERS * MAX_SEEDS)),
        )
        for design, w, st, mean_trials in rows:
            w_low, w_high = clopper_pearson(w, n)
            s_low, s_high = clopper_pearson(st, n)
            print(
                f"| {name} | {design} | {w / n:.2%} | [{w_low:.2%}, {w_high:.2%}] "
                f"| {st / n:.2%} | [{s_low:.2%}, {s_high:.2%}] | {mean_trials:.1f} |"
            )


if __name__ == "__main__":
    main()
