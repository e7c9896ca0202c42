"""A trade-off study's results: one row per member (the paper's Table 3) and a verdict with its reading.

Pure: reads the plan and the run's trials table (``trials.csv`` columns), computes, never plots or prints.
Errors are validation error = 1 - validation accuracy, as fractions; comparisons and the reading speak in
points (%). Intervals are Student-t (paired over common seeds) or Welch, at a stated confidence, with a
Bonferroni correction over every pair of members when a family has more than two, and over the planned
looks of an adaptive study (``--seeds auto``), which reads the verdict after every round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from nas_resnext.search.study import INTERRUPTED, RETRIED
from nas_resnext.tradeoff.plan import REFERENCE, SPENDING, TradeoffPlan

DEFAULT_CONFIDENCE = 0.95
_TIE = 1e-9  # points: differences below this are float rounding of equal errors, a tie
_MAX_SEEDS = 10**6  # a seeds-needed estimate beyond this is no estimate


@dataclass(frozen=True)
class MemberResult:
    """One member over its seeds."""

    index: int
    label: str
    name: str
    axis: str
    cardinality: int
    bottleneck_width: int
    width: int
    depths: tuple[int, ...]
    params: int
    flops: int
    latency_ms: float | None  # mean over the seeds that measured it
    errors: dict[int, float]  # seed -> validation error of each completed trial
    epochs: int  # epochs trained by the completed trials (0 when none completed)
    failures: tuple[str, ...]  # messages of failed or stopped trials
    pending: int  # seeds not run yet (an interrupted study)
    planned: int = 0  # seeds planned for this member (``TradeoffPlan.member_seeds``)

    @property
    def seeds(self) -> int:
        return len(self.errors)

    @property
    def val_error_mean(self) -> float | None:
        return float(np.mean(list(self.errors.values()))) if self.errors else None

    @property
    def val_error_std(self) -> float | None:
        """Sample standard deviation over seeds (None with fewer than two)."""
        return float(np.std(list(self.errors.values()), ddof=1)) if len(self.errors) > 1 else None

    def to_row(self) -> dict[str, Any]:
        """The ``--json`` row."""
        return {
            "name": self.name,
            "label": self.label,
            "axis": self.axis,
            "cardinality": self.cardinality,
            "bottleneck_width": self.bottleneck_width,
            "width": self.width,
            "depths": list(self.depths),
            "params": self.params,
            "flops": self.flops,
            "latency_ms": self.latency_ms,
            "val_error_mean": self.val_error_mean,
            "val_error_std": self.val_error_std,
            "val_errors": {str(seed): error for seed, error in sorted(self.errors.items())},
            "seeds": self.seeds,
            "planned_seeds": self.planned,
            "epochs": self.epochs,
            "failures": list(self.failures),
        }


def member_results(plan: TradeoffPlan, table: pd.DataFrame) -> list[MemberResult]:
    """Aggregate the trials table by member and seed. A reused trial (same architecture and seed as an
    earlier one) is the same training run and counts once."""
    finished = table[table["state"].isin(["COMPLETE", "PRUNED", "FAIL"])]
    if "reused_from" in finished:
        finished = finished[finished["reused_from"].isna()]
    results = []
    for index, member in enumerate(plan.members):
        mine = finished[finished["name"] == member.arch.name]
        errors: dict[int, float] = {}
        failures: list[str] = []
        latencies: list[float] = []
        epochs = 0
        planned = plan.member_seeds[index]
        for seed in plan.seed_values[:planned]:
            runs = mine[pd.to_numeric(mine["seed"], errors="coerce") == seed]
            complete = runs[(runs["state"] == "COMPLETE") & runs["val_accuracy"].notna()]
            if len(complete):
                row = complete.iloc[0]
                errors[seed] = 1.0 - float(row["val_accuracy"])
                epochs = max(epochs, int(row["epochs"]))
                if pd.notna(row["latency_ms"]):
                    latencies.append(float(row["latency_ms"]))
            elif len(runs):
                row = runs.iloc[-1]
                error = row.get("error")
                message = str(error) if isinstance(error, str) and error else str(row["state"]).lower()
                # An interrupted or retried attempt is run again; only the final outcome is a failure.
                if not message.startswith((INTERRUPTED.split(":")[0], RETRIED)):
                    failures.append(f"seed {seed}: {message}")
        done = len(errors) + len(failures)
        results.append(
            MemberResult(
                index=index,
                label=plan.label(index),
                name=member.arch.name,
                axis=member.axis,
                cardinality=member.arch.cardinality,
                bottleneck_width=member.arch.bottleneck_width,
                width=member.arch.width,
                depths=tuple(member.arch.depths),
                params=member.complexity.params,
                flops=member.complexity.flops,
                latency_ms=float(np.mean(latencies)) if latencies else None,
                errors=errors,
                epochs=epochs,
                failures=tuple(failures),
                pending=max(planned - done, 0),
                planned=planned,
            )
        )
    return results


def check_confidence(confidence: float) -> float:
    """``confidence`` if it is a probability strictly between 0 and 1; ValueError otherwise."""
    if not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return float(confidence)


@lru_cache(maxsize=4096)
def _t_quantile(level: float, df: float) -> float:
    """Two-sided Student-t critical value: half-width in standard errors of a ``level`` interval."""
    return float(stats.t.ppf(0.5 + level / 2, df))


def mean_interval(result: MemberResult, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval of the member's mean validation error (fractions), None with fewer than two seeds.

    Clipped to [0, 1]: an error rate cannot leave it, so the clipped interval covers at least as often."""
    check_confidence(confidence)
    if result.seeds < 2:
        return None
    mean, std = result.val_error_mean or 0.0, result.val_error_std or 0.0
    half = _t_quantile(confidence, result.seeds - 1) * std / math.sqrt(result.seeds)
    return max(mean - half, 0.0), min(mean + half, 1.0)


@dataclass(frozen=True)
class Comparison:
    """``better`` has the lower estimated error, by ``difference`` points; ``ci_low``..``ci_high`` is the
    (multiplicity-corrected) interval of worse - better in points, and ``decided`` says it excludes 0."""

    better: MemberResult
    worse: MemberResult
    difference: float  # percentage points of validation error, >= 0
    ci_low: float | None  # None: no interval (see ``no_interval``)
    ci_high: float | None
    confidence: float  # the family's stated confidence (each interval is at the corrected level)
    df: float | None  # degrees of freedom: n - 1 paired, Welch-Satterthwaite unpaired
    paired: int  # seeds both members completed (0: compared unpaired)
    p_value: float | None  # two-sided, Bonferroni-corrected, capped at 1
    decided: bool  # the interval excludes 0
    seeds_needed: int | None  # estimate: seeds per member that would separate them at the spread observed
    no_interval: str = ""  # why there is no interval, when there is none

    @property
    def has_interval(self) -> bool:
        return self.ci_low is not None and self.ci_high is not None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` entry: members by label, points of validation error."""
        return {
            "better": self.better.label,
            "worse": self.worse.label,
            "difference": self.difference,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "df": self.df,
            "paired": self.paired,
            "p_value": self.p_value,
            "decided": self.decided,
            "seeds_needed": self.seeds_needed,
            "no_interval": self.no_interval or None,
        }


def compare(
    a: MemberResult, b: MemberResult, confidence: float = DEFAULT_CONFIDENCE, family: int = 1
) -> Comparison:
    """Compare two members with results at ``confidence``, Bonferroni-corrected for a family of ``family``
    comparisons (each interval at 1 - (1 - confidence) / family).

    With two or more seeds both completed, the per-seed differences are paired (same seed: same validation
    split and initialisation stream, which removes the split-to-split variation) and the interval is
    Student-t with n - 1 degrees of freedom. Otherwise, with two or more seeds on each side, Welch's interval
    with Welch-Satterthwaite degrees of freedom. With a single seed on a side: no interval, not decided.
    ``a`` stays ``better`` unless ``b``'s estimated error is strictly lower (a tie is no win)."""
    check_confidence(confidence)
    if family < 1:
        raise ValueError(f"family must be >= 1, got {family}")
    level = 1.0 - (1.0 - confidence) / family
    common = sorted(set(a.errors) & set(b.errors))
    if len(common) >= 2:
        diffs = np.array([b.errors[s] - a.errors[s] for s in common]) * 100
        better, worse = (b, a) if diffs.mean() < -_TIE else (a, b)
        diffs = diffs if better is a else -diffs  # worse - better, seed by seed
        mean = float(diffs.mean())
        n = len(diffs)
        spread = float(diffs.std(ddof=1))
        if spread == 0 and abs(mean) > _TIE:
            # Seeds that all differ by the same amount (common when accuracy moves in steps of one
            # validation image) give no estimate of the spread: a zero-width interval would be no evidence.
            return _no_interval(better, worse, mean if abs(mean) > _TIE else 0.0, confidence, n, _SAME_SPREAD)
        return _comparison(
            better,
            worse,
            mean if abs(mean) > _TIE else 0.0,
            spread / math.sqrt(n),
            float(n - 1),
            confidence,
            level,
            family,
            n,
            lambda k: (float(k - 1), spread / math.sqrt(k)),
            n,
        )
    gap = 100 * ((b.val_error_mean or 0.0) - (a.val_error_mean or 0.0))
    better, worse = (b, a) if gap < -_TIE else (a, b)
    difference = abs(gap) if abs(gap) > _TIE else 0.0
    if better.seeds < 2 or worse.seeds < 2:
        return _no_interval(better, worse, difference, confidence, 0, _SINGLE_SEED)
    s1, s2 = 100 * (better.val_error_std or 0.0), 100 * (worse.val_error_std or 0.0)
    if s1 == 0 and s2 == 0 and difference > 0:
        return _no_interval(better, worse, difference, confidence, 0, _SAME_SPREAD)
    n1, n2 = better.seeds, worse.seeds

    def welch(k1: int, k2: int) -> tuple[float, float]:
        v1, v2 = s1**2 / k1, s2**2 / k2
        if v1 + v2 == 0:
            return float(k1 + k2 - 2), 0.0
        df = (v1 + v2) ** 2 / (v1**2 / (k1 - 1) + v2**2 / (k2 - 1))
        return df, math.sqrt(v1 + v2)

    df, stderr = welch(n1, n2)
    return _comparison(
        better,
        worse,
        difference,
        stderr,
        df,
        confidence,
        level,
        family,
        0,
        lambda k: welch(k, k),
        max(n1, n2),
    )


_SINGLE_SEED = "a single seed on one side gives no interval"
_SAME_SPREAD = "the seeds agree exactly, so their spread, and with it an interval, cannot be estimated"


def _no_interval(
    better: MemberResult, worse: MemberResult, difference: float, confidence: float, paired: int, why: str
) -> Comparison:
    """A comparison the data cannot put an interval on: not decided, whatever the difference."""
    return Comparison(better, worse, difference, None, None, confidence, None, paired, None, False, None, why)


def _comparison(
    better: MemberResult,
    worse: MemberResult,
    difference: float,
    stderr: float,
    df: float,
    confidence: float,
    level: float,
    family: int,
    paired: int,
    precision: Any,
    seeds: int,
) -> Comparison:
    """The interval, corrected p-value, decision and seeds-needed estimate of one comparison.
    ``precision(k)`` gives (degrees of freedom, standard error) with k seeds per member at the spread
    observed; ``seeds`` is how many the larger side has now."""
    half = _t_quantile(level, df) * stderr if stderr > 0 else 0.0
    low, high = difference - half, difference + half
    if stderr > 0:
        p_value = min(1.0, family * 2 * float(stats.t.sf(difference / stderr, df)))
    else:
        p_value = 0.0 if difference > 0 else 1.0
    decided = low > 0  # difference >= 0, so the interval excludes 0 exactly when its low end is above it
    needed = None if decided else _seeds_needed(difference, level, precision, seeds)
    return Comparison(better, worse, difference, low, high, confidence, df, paired, p_value, decided, needed)


def _seeds_needed(difference: float, level: float, precision: Any, seeds: int) -> int | None:
    """Smallest k (> ``seeds``) with t_level(df(k)) * stderr(k) < difference, at the spread observed;
    None for a zero difference (no number of seeds separates a tie)."""
    if difference <= 0:
        return None
    df, stderr = precision(2)
    scale = stderr * math.sqrt(2)  # the standard error with one seed per member
    if scale == 0:
        return seeds + 1
    # The t quantile exceeds the normal one, so no k below the normal-theory answer can do.
    z = float(stats.norm.ppf(0.5 + level / 2))
    k = max(2, seeds + 1, math.floor((z * scale / difference) ** 2))
    if k > _MAX_SEEDS:
        return None
    while True:
        df, stderr = precision(k)
        if _t_quantile(level, df) * stderr < difference:
            return k
        k += 1


def ranked(results: list[MemberResult]) -> list[MemberResult]:
    """Members with at least one completed seed, lowest mean error first (ties: plan order)."""
    done = [r for r in results if r.errors]
    return sorted(done, key=lambda r: (r.val_error_mean, r.index))


@dataclass(frozen=True)
class Verdict:
    """Which member wins, how sure that is, and the one-line reading said from the same numbers."""

    best: MemberResult | None  # lowest mean error (a spending plan: the best grown member)
    comparisons: tuple[Comparison, ...]  # best against each rival, closest rival first
    confidence: float
    method: str  # e.g. "paired Student-t intervals, Bonferroni-corrected over the 10 pairs of 5 members, 95%"
    decided: bool  # the best is separated from every rival
    reading: str

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` fields: the verdict's numbers behind its words."""
        return {
            "best": self.best.label if self.best is not None else None,
            "decided": self.decided,
            "confidence": self.confidence,
            "method": self.method,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "reading": self.reading,
        }


def verdict(
    plan: TradeoffPlan, results: list[MemberResult], confidence: float = DEFAULT_CONFIDENCE, looks: int = 1
) -> Verdict:
    """The best member against each rival, at ``confidence`` for the whole family.

    The best is picked from the data, so its comparisons are a data-chosen subset of all pairs of members;
    the Bonferroni correction runs over every pair (k(k-1)/2 for k members with results), which keeps the
    chance of any false "beats" at most 1 - confidence whichever member turns out best.

    ``looks``: how many times the study may read its verdict and act on it (an adaptive study stops as soon
    as one read is decided, which on its own inflates the error rate). Alpha is spent evenly over the looks,
    a Bonferroni bound over them: each read is at 1 - (1 - confidence) / looks, on top of the correction
    over pairs, so the chance of any false "beats" at any look stays at most 1 - confidence."""
    check_confidence(confidence)
    if looks < 1:
        raise ValueError(f"looks must be >= 1, got {looks}")
    order = ranked(results)
    if len(order) < 2:
        text = f"Not enough results to compare: {len(order)} of {len(results)} members completed a seed."
        return Verdict(order[0] if order else None, (), confidence, "", False, text)
    family = len(order) * (len(order) - 1) // 2
    if plan.axis == SPENDING:
        best = next((r for r in order if r.axis != REFERENCE), order[0])

        def name(r: MemberResult) -> str:
            return "the reference" if r.axis == REFERENCE else f"spending on {r.label}"

        where = f"at {plan.target or '1x'} the {plan.match} of {plan.reference.name} ({plan.target_text()})"
    else:
        best = order[0]

        def name(r: MemberResult) -> str:
            return r.label

        where = f"at {plan.target_text()} (matched {plan.match})"
    comparisons = tuple(compare(best, r, confidence, family * looks) for r in order if r is not best)
    decided = all(c.decided and c.better is best for c in comparisons)
    method = _method(comparisons, confidence, family, len(order), looks)
    parts = "; ".join(_versus(c, name) for c in comparisons)
    said = f" ({method})" if any(c.has_interval for c in comparisons) else ""
    if len(comparisons) == 1:
        text = f"{where}, {parts}{said}."
    else:
        state = "separated from every rival" if decided else "not separated from every rival yet"
        lead = f"{name(best)} has the lowest mean validation error, {state}"
        text = f"{where}, {lead}: {parts}{said}."
    return Verdict(best, comparisons, confidence, method, decided, text)


def reading(plan: TradeoffPlan, results: list[MemberResult], confidence: float = DEFAULT_CONFIDENCE) -> str:
    """One line answering the study's question with its uncertainty: ``verdict(...).reading``."""
    return verdict(plan, results, confidence).reading


def _percent(confidence: float) -> str:
    return f"{100 * confidence:.10g}%"


def contenders(results: list[MemberResult], judged: Verdict) -> tuple[int, ...]:
    """Members not yet separated from the best, the best included (indices, plan order): the ones another
    seed can still move. Only the rivals the best beats are out; a member without a completed seed is not
    separated from anything, so it stays in."""
    if judged.best is None:
        return tuple(r.index for r in results)
    separated = {c.worse.index for c in judged.comparisons if c.decided and c.better is judged.best}
    return tuple(r.index for r in results if r.index not in separated)


def next_round(plan: TradeoffPlan, results: list[MemberResult], judged: Verdict) -> TradeoffPlan | None:
    """The adaptive schedule's next plan, or None when the study stops.

    It stops when the best is separated from every rival, when the planned looks are used up
    (``plan.rounds == plan.looks``), or when every contender already has ``max_seeds``; otherwise each
    contender (see :func:`contenders`) gets one more seed.
    """
    if not plan.adaptive or judged.decided or plan.rounds >= plan.looks:
        return None
    grown = plan.grow(contenders(results, judged))
    return grown if grown.member_seeds != plan.member_seeds else None


def _method(
    comparisons: tuple[Comparison, ...], confidence: float, family: int, members: int, looks: int = 1
) -> str:
    kinds = {("paired Student-t" if c.paired else "Welch") for c in comparisons if c.has_interval}
    if not kinds:
        reasons = sorted({c.no_interval for c in comparisons if c.no_interval})
        return "no interval: " + "; ".join(reasons) if reasons else "no interval"
    kind = " and ".join(sorted(kinds, key=lambda k: k != "paired Student-t"))
    plural = "s" if len(comparisons) > 1 else ""
    corrected = f", Bonferroni-corrected over the {family} pairs of {members} members" if family > 1 else ""
    spent = f", alpha spent evenly over {looks} planned looks" if looks > 1 else ""
    return f"{kind} interval{plural}{corrected}{spent}, {_percent(confidence)}"


def _versus(c: Comparison, name: Any) -> str:
    better, worse = name(c.better), name(c.worse)
    if not c.has_interval:
        more = "train with --seeds 2 or more" if c.no_interval == _SINGLE_SEED else "add seeds"
        return (
            f"{better} is ahead of {worse} by {c.difference:.1f} points of validation error, but "
            f"{c.no_interval}, so nothing is decided ({more})"
        )
    interval = f"[{c.ci_low:.1f}, {c.ci_high:.1f}]"
    if c.difference == 0:
        return f"{better} and {worse} tie (difference interval {interval} points)"
    if c.decided:
        return f"{better} beats {worse} by {c.difference:.1f} points of validation error {interval}"
    needed = (
        f"; estimate: about {c.seeds_needed} seeds each would separate them at the spread observed"
        if c.seeds_needed is not None
        else ""
    )
    ahead = f"{better} ahead by {c.difference:.1f} points, interval {interval}"
    return f"{better} and {worse} are not separated yet ({ahead}{needed})"
