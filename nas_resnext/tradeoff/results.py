"""A trade-off study's results: one row per member (the paper's Table 3) and a one-line reading.

Pure: reads the plan and the run's trials table (``trials.csv`` columns), computes, never plots or prints.
Errors are validation error = 1 - validation accuracy, as fractions; the reading speaks in points (%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nas_resnext.search.study import INTERRUPTED, RETRIED
from nas_resnext.tradeoff.plan import REFERENCE, SPENDING, TradeoffPlan

_Z = 2.0  # a difference within two standard errors is called noise


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
        for seed in plan.seed_values:
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
                pending=max(plan.seeds - done, 0),
            )
        )
    return results


@dataclass(frozen=True)
class Comparison:
    """``better`` has the lower mean error, by ``difference`` points, give or take ``stderr`` points."""

    better: MemberResult
    worse: MemberResult
    difference: float  # percentage points of validation error, >= 0
    stderr: float | None  # None: a single seed on one side, no uncertainty to give
    paired: int  # seeds both members completed (0: compared unpaired)

    @property
    def within_noise(self) -> bool:
        return self.stderr is not None and self.difference <= _Z * self.stderr

    def uncertainty_text(self) -> str:
        if self.stderr is None:
            return "a single seed on one side, so no uncertainty: train with --seeds 2 or more"
        if self.paired >= 2:
            return f"mean over {self.paired} seeds; ± one standard error of the per-seed difference"
        return "± one standard error of the difference of means"

    def amount_text(self) -> str:
        return (
            f"{self.difference:.1f} ± {self.stderr:.1f}"
            if self.stderr is not None
            else f"{self.difference:.1f}"
        )


def compare(a: MemberResult, b: MemberResult) -> Comparison:
    """Compare two members with results. Seeds both completed are paired (same seed: same validation split
    and initialisation stream), which removes the split-to-split variation from the difference."""
    better, worse = (a, b) if (a.val_error_mean or 0.0) <= (b.val_error_mean or 0.0) else (b, a)
    common = sorted(set(better.errors) & set(worse.errors))
    if len(common) >= 2:
        diffs = np.array([worse.errors[s] - better.errors[s] for s in common]) * 100
        return Comparison(
            better, worse, float(diffs.mean()), float(diffs.std(ddof=1) / math.sqrt(len(diffs))), len(common)
        )
    difference = ((worse.val_error_mean or 0.0) - (better.val_error_mean or 0.0)) * 100
    if better.seeds >= 2 and worse.seeds >= 2:
        variance = (better.val_error_std or 0.0) ** 2 / better.seeds + (
            worse.val_error_std or 0.0
        ) ** 2 / worse.seeds
        return Comparison(better, worse, difference, 100 * math.sqrt(variance), 0)
    return Comparison(better, worse, difference, None, 0)


def ranked(results: list[MemberResult]) -> list[MemberResult]:
    """Members with at least one completed seed, lowest mean error first (ties: plan order)."""
    done = [r for r in results if r.errors]
    return sorted(done, key=lambda r: (r.val_error_mean, r.index))


def reading(plan: TradeoffPlan, results: list[MemberResult]) -> str:
    """One line answering the study's question, with its uncertainty."""
    order = ranked(results)
    if len(order) < 2:
        return f"Not enough results to compare: {len(order)} of {len(results)} members completed a seed."
    if plan.axis == SPENDING:

        def name(r: MemberResult) -> str:
            return "the reference" if r.axis == REFERENCE else f"spending on {r.label}"

        where = f"at {plan.target or '1x'} the {plan.match} of {plan.reference.name} ({plan.target_text()})"
        grown = [r for r in order if r.axis != REFERENCE]
        reference = next((r for r in order if r.axis == REFERENCE), None)
        if not grown:
            return f"{where}: no grown member completed a seed."
        top = grown[0]
        comparisons = [compare(top, r) for r in (reference, *grown[1:2]) if r is not None]
        if not comparisons:
            return f"{where}: only {name(top)} completed a seed."
        parts = [_versus(c, name) for c in comparisons]
        return f"{where}, " + "; ".join(parts) + f" ({comparisons[0].uncertainty_text()})."
    # A family is read against its first member (the baseline, e.g. C=1), or, when that wins, the runner-up.
    best = order[0]
    baseline = min(order, key=lambda r: r.index)
    result = compare(best, order[1] if best is baseline else baseline)
    where = f"at {plan.target_text()} (matched {plan.match})"
    return f"{where}, {_versus(result, lambda r: r.label)} ({result.uncertainty_text()})."


def _versus(result: Comparison, name: Any) -> str:
    better, worse, amount = name(result.better), name(result.worse), result.amount_text()
    if result.difference == 0:
        return f"{better} and {worse} tie"
    if result.within_noise:
        return (
            f"{better} and {worse} are within noise ({better} ahead by {amount} points of validation error)"
        )
    return f"{better} beats {worse} by {amount} points of validation error"
