"""Trade-off studies: the plan, its results and reading (table-tested), and whole studies end to end with
real Ray, Optuna in SQLite and training on the embedded digits data (tiny architectures, few epochs)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import NAS, TINY_FLAGS, TINY_NAME
from optuna.trial import TrialState
from scipy import stats

from nas_resnext import Architecture, TrainSettings, count_analytic
from nas_resnext.cli import main
from nas_resnext.rundir import TRIAL_COLUMNS, RunDirectory
from nas_resnext.search.study import retried_error
from nas_resnext.tradeoff import PlanSampler, TradeoffPlan, compare, member_results, reading
from nas_resnext.tradeoff.results import (
    DEFAULT_CONFIDENCE,
    MemberResult,
    contenders,
    mean_interval,
    next_round,
    verdict,
)

TINY = Architecture.from_name(TINY_NAME)
FAST = ["--batch-size", "128", "--lr", "0.2", "--val-fraction", "0.2"]


pytestmark = pytest.mark.usefixtures("in_tmp_path")


# ------------------------------------------------------------------------------------------------ the plan


def test_family_plan_round_trips_and_its_space_holds_every_member() -> None:
    plan = TradeoffPlan.family(
        TINY, "cardinality", [1, 2, 4], "bottleneck_width", "flops", seeds=3, base_seed=5
    )
    assert [plan.label(i) for i in range(3)] == ["C=1", "C=2", "C=4"]
    assert [m.arch.bottleneck_width for m in plan.members] == [4, 2, 1]
    assert plan.seed_values == (5, 6, 7) and plan.trials == 9
    again = TradeoffPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    space = plan.design_space("t", "digits", None, TrainSettings(epochs=2))
    names = {a.name for a in space.architectures()}
    assert {m.arch.name for m in plan.members} <= names
    assert space.objectives == ("val_accuracy", "flops") and space.search.sampler == "grid"


def test_a_plan_at_matched_activations_round_trips_and_its_space_takes_activations_as_cost() -> None:
    plan = TradeoffPlan.family(TINY, "cardinality", [1, 2], "bottleneck_width", "activations", seeds=1)
    assert TradeoffPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert plan.target_text() == f"{count_analytic(TINY).activations / 1e6:.4g}M activations"
    space = plan.design_space("t", "digits", None, TrainSettings(epochs=2))
    assert space.objectives == ("val_accuracy", "activations")


def test_spending_plan_leads_with_the_reference_and_grows_each_axis_to_the_target() -> None:
    plan = TradeoffPlan.spending(TINY, "2x", "flops", seeds=1)
    assert [plan.label(i) for i in range(5)] == [
        "reference",
        "depth",
        "width",
        "cardinality",
        "bottleneck_width",
    ]
    reference = count_analytic(TINY).flops
    assert plan.members[0].arch == TINY and plan.target_count == 2 * reference
    for member in plan.members[1:]:
        assert abs(member.complexity.flops - 2 * reference) / (2 * reference) < 0.35
    assert TradeoffPlan.from_dict(plan.to_dict()) == plan
    # Depth grows as a block count over the stages, so the space lists each stage's choices.
    space = plan.design_space("s", "digits", None, TrainSettings())
    assert {m.arch.name for m in plan.members} <= {a.name for a in space.architectures()}


def test_plan_sampler_queues_each_member_and_seed_once() -> None:
    plan = TradeoffPlan.family(TINY, "cardinality", [1, 2], "bottleneck_width", "flops", seeds=2)
    study = optuna.create_study(directions=["maximize", "minimize"])
    sampler = PlanSampler(plan)
    assert sampler.queue(study) == 4
    assert sampler.queue(study) == 0  # queued trials are seen, not queued twice
    asked = [study.ask(sampler.distributions()) for _ in range(4)]
    pairs = [(t.params["member"], t.params["seed_index"]) for t in asked]
    assert pairs == [(0, 0), (1, 0), (0, 1), (1, 1)]  # every member at the first seed first
    assert [sampler.seed_of(t.params) for t in asked] == [0, 0, 1, 1]
    for trial in asked:
        study.tell(trial, [0.9, 1.0])
    more = PlanSampler(plan.with_seeds(3))
    assert more.queue(study) == 2  # adding a seed queues only the new (member, seed) pairs


# -------------------------------------------------------------------------------------- results, reading


def trials(rows: list[dict]) -> pd.DataFrame:
    """A trials.csv-shaped table of the tiny C=1,2 family; unspecified columns take plain defaults."""
    frame = []
    for number, row in enumerate(rows):
        item = {c: None for c in TRIAL_COLUMNS} | {"number": number, "state": "COMPLETE", "epochs": 2} | row
        frame.append(item)
    return pd.DataFrame(frame, columns=TRIAL_COLUMNS)


PLAN = TradeoffPlan.family(TINY, "cardinality", [1, 2], "bottleneck_width", "flops", seeds=2)
C1, C2 = (m.arch.name for m in PLAN.members)


def test_member_results_average_seeds_and_keep_failures() -> None:
    table = trials(
        [
            {"name": C1, "seed": 0, "val_accuracy": 0.80, "latency_ms": 1.0},
            {"name": C1, "seed": 1, "val_accuracy": 0.90, "latency_ms": 3.0},
            {"name": C1, "seed": 1, "val_accuracy": 0.90, "reused_from": 1},  # the same run, copied
            {"name": C2, "seed": 0, "val_accuracy": 0.85},
            {"name": C2, "seed": 1, "state": "FAIL", "error": "RuntimeError: out of memory"},
        ]
    )
    first, second = member_results(PLAN, table)
    assert first.errors == pytest.approx({0: 0.20, 1: 0.10})
    assert first.val_error_mean == pytest.approx(0.15) and first.val_error_std == pytest.approx(0.0707107)
    assert first.seeds == 2 and first.latency_ms == 2.0 and first.epochs == 2 and first.failures == ()
    assert second.seeds == 1 and second.val_error_std is None
    assert second.failures == ("seed 1: RuntimeError: out of memory",)
    row = first.to_row()
    assert {
        "name",
        "cardinality",
        "bottleneck_width",
        "width",
        "depths",
        "params",
        "flops",
        "latency_ms",
    } <= set(row)
    assert row["val_error_mean"] == pytest.approx(0.15) and row["seeds"] == 2 and row["depths"] == [1, 1, 1]


@pytest.mark.parametrize(
    "error", ["interrupted: the search stopped", retried_error("OSError: connection reset", attempt=1)]
)
def test_interrupted_or_retried_attempts_are_pending_not_failures(error: str) -> None:
    table = trials([{"name": C1, "seed": 0, "state": "FAIL", "error": error}])
    first, second = member_results(PLAN, table)
    assert first.failures == () and first.pending == 2 and second.pending == 2


def result(index: int, errors: dict[int, float]) -> MemberResult:
    member = PLAN.members[index]
    return MemberResult(
        index, PLAN.label(index), member.arch.name, member.axis, member.arch.cardinality,
        member.arch.bottleneck_width, member.arch.width, member.arch.depths, member.complexity.params,
        member.complexity.flops, None, errors, 2, (), 0,
    )  # fmt: skip


def result3(index: int, errors: dict[int, float]) -> MemberResult:
    """A member of the 3-member family (C=1, 2, 4)."""
    member = PLAN3.members[index]
    return MemberResult(
        index, PLAN3.label(index), member.arch.name, member.axis, member.arch.cardinality,
        member.arch.bottleneck_width, member.arch.width, member.arch.depths, member.complexity.params,
        member.complexity.flops, None, errors, 2, (), 0,
    )  # fmt: skip


PLAN3 = TradeoffPlan.family(TINY, "cardinality", [1, 2, 4], "bottleneck_width", "flops", seeds=4)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({0: 0.10, 1: 0.20}, {0: 0.12, 1: 0.24}),  # 2 seeds: 1 degree of freedom
        ({0: 0.10, 1: 0.20, 2: 0.15, 3: 0.13}, {0: 0.15, 1: 0.26, 2: 0.19, 3: 0.17}),  # 4 seeds
    ],
)
def test_paired_interval_is_student_t_over_the_per_seed_differences(a: dict, b: dict) -> None:
    got = compare(result(0, a), result(1, b))
    diffs = [100 * (b[s] - a[s]) for s in sorted(a)]
    n = len(diffs)
    test = stats.ttest_rel([100 * b[s] for s in sorted(b)], [100 * a[s] for s in sorted(a)])
    low, high = test.confidence_interval(0.95)
    assert got.better.index == 0 and got.paired == n and got.df == n - 1
    assert got.difference == pytest.approx(sum(diffs) / n)
    assert (got.ci_low, got.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert got.p_value == pytest.approx(test.pvalue)
    assert got.decided == (low > 0) and got.confidence == 0.95
    # 2 seeds: the half-width is t(0.975, 1) = 12.7 standard errors, not 2.
    if n == 2:
        assert not got.decided and got.ci_high - got.difference == pytest.approx(12.706 * 1.0, abs=1e-3)
    else:
        assert got.decided and got.seeds_needed is None


def test_unpaired_interval_is_welch() -> None:
    a, b = {0: 0.10, 1: 0.20, 4: 0.12}, {2: 0.10, 3: 0.30}
    got = compare(result(0, a), result(1, b))
    test = stats.ttest_ind([100 * e for e in b.values()], [100 * e for e in a.values()], equal_var=False)
    low, high = test.confidence_interval(0.95)
    assert got.paired == 0 and got.df == pytest.approx(test.df)
    assert got.difference == pytest.approx(100 * (0.20 - 0.14))
    assert (got.ci_low, got.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert got.p_value == pytest.approx(test.pvalue) and not got.decided


def test_one_seed_on_a_side_gives_no_interval_and_decides_nothing() -> None:
    got = compare(result(0, {0: 0.10}), result(1, {0: 0.30, 1: 0.31}))
    assert got.difference == pytest.approx(20.5) and got.ci_low is None and got.ci_high is None
    assert got.df is None and got.p_value is None and not got.decided and got.seeds_needed is None
    text = reading(PLAN, [result(0, {0: 0.10}), result(1, {0: 0.30, 1: 0.31})])
    assert "C=1 is ahead of C=2 by 20.5 points of validation error, but a single seed" in text
    assert "nothing is decided" in text and " beats " not in text


def test_a_tie_is_no_win() -> None:
    # Paired differences +2 and -2: mean 0. Unpaired, equal means.
    for a, b in (({0: 0.10, 1: 0.20}, {0: 0.12, 1: 0.18}), ({0: 0.10, 1: 0.20}, {2: 0.12, 3: 0.18})):
        judged = verdict(PLAN, [result(0, a), result(1, b)])
        (got,) = judged.comparisons
        assert got.difference == pytest.approx(0, abs=1e-12) and not got.decided and not judged.decided
        assert got.seeds_needed is None  # no number of seeds separates a tie
    identical = verdict(PLAN, [result(0, {0: 0.1, 1: 0.2}), result(1, {0: 0.1, 1: 0.2})])
    assert not identical.decided and identical.comparisons[0].p_value == 1.0
    assert "C=1 and C=2 tie" in identical.reading and " beats " not in identical.reading


def test_a_failed_seed_pairs_over_the_seeds_both_completed() -> None:
    table = trials(
        [
            {"name": C1, "seed": 0, "val_accuracy": 0.90},
            {"name": C1, "seed": 1, "val_accuracy": 0.80},
            {"name": C1, "seed": 2, "val_accuracy": 0.85},
            {"name": C2, "seed": 0, "val_accuracy": 0.88},
            {"name": C2, "seed": 1, "state": "FAIL", "error": "RuntimeError: out of memory"},
            {"name": C2, "seed": 2, "val_accuracy": 0.82},
        ]
    )
    plan = PLAN.with_seeds(3)
    first, second = member_results(plan, table)
    got = compare(first, second)
    test = stats.ttest_rel([12, 18], [10, 15])  # errors in points at seeds 0 and 2
    assert got.paired == 2 and got.df == 1 and got.difference == pytest.approx(2.5)
    assert (got.ci_low, got.ci_high) == tuple(pytest.approx(x) for x in test.confidence_interval(0.95))


def test_more_than_two_members_are_bonferroni_corrected_over_every_pair() -> None:
    errors = [
        {0: 0.10, 1: 0.20, 2: 0.15, 3: 0.13},
        {0: 0.15, 1: 0.26, 2: 0.19, 3: 0.19},
        {0: 0.30, 1: 0.41, 2: 0.30, 3: 0.36},
    ]
    judged = verdict(PLAN3, [result3(i, e) for i, e in enumerate(errors)], confidence=0.9)
    assert judged.best is not None and judged.best.label == "C=1" and judged.confidence == 0.9
    assert (
        judged.method == "paired Student-t intervals, Bonferroni-corrected over the 3 pairs of 3 members, 90%"
    )
    assert [c.worse.label for c in judged.comparisons] == ["C=2", "C=4"]  # closest rival first
    for got, rival in zip(judged.comparisons, errors[1:], strict=True):
        test = stats.ttest_rel([100 * e for e in rival.values()], [100 * e for e in errors[0].values()])
        low, high = test.confidence_interval(1 - 0.1 / 3)
        assert (got.ci_low, got.ci_high) == (pytest.approx(low), pytest.approx(high))
        assert got.p_value == pytest.approx(min(1.0, 3 * test.pvalue)) and got.confidence == 0.9
        assert got.decided == (low > 0) == (got.p_value < 0.1)
    assert judged.decided == all(c.decided for c in judged.comparisons)
    assert judged.reading.startswith(f"at {PLAN3.target_text()} (matched flops), C=1 has the lowest mean")
    assert judged.reading.endswith(f"({judged.method}).")
    # Uncorrected, the same C=1 vs C=2 interval is narrower.
    alone = compare(result3(0, errors[0]), result3(1, errors[1]), confidence=0.9)
    assert alone.ci_high - alone.ci_low < judged.comparisons[0].ci_high - judged.comparisons[0].ci_low


def test_seeds_needed_is_the_smallest_n_whose_interval_would_exclude_zero() -> None:
    a, b = {0: 0.10, 1: 0.20, 2: 0.15}, {0: 0.13, 1: 0.20, 2: 0.17}
    got = compare(result(0, a), result(1, b))
    diffs = [3.0, 0.0, 2.0]
    s = stats.tstd(diffs)
    mean = sum(diffs) / 3

    def separates(n: int) -> bool:
        return stats.t.ppf(0.975, n - 1) * s / n**0.5 < mean

    assert not got.decided and got.seeds_needed is not None
    assert separates(got.seeds_needed) and not separates(got.seeds_needed - 1)
    assert "estimate: about" in reading(PLAN, [result(0, a), result(1, b)])
    # Welch: n seeds each at the observed spreads.
    welch = compare(result(0, {0: 0.10, 1: 0.20}), result(1, {2: 0.14, 3: 0.26}))
    k = welch.seeds_needed
    assert k is not None and k > 2

    def separates_welch(n: int) -> bool:
        v = (stats.tvar([10, 20]) + stats.tvar([14, 26])) / n
        df = v**2 / ((stats.tvar([10, 20]) / n) ** 2 / (n - 1) + (stats.tvar([14, 26]) / n) ** 2 / (n - 1))
        return stats.t.ppf(0.975, df) * v**0.5 < welch.difference

    assert separates_welch(k) and not separates_welch(k - 1)


def test_mean_interval_is_student_t_of_the_mean_clipped_to_0_1() -> None:
    member = result(0, {0: 0.10, 1: 0.14, 2: 0.12})
    low, high = stats.t.interval(0.9, 2, loc=0.12, scale=stats.sem([0.10, 0.14, 0.12]))
    assert mean_interval(member, 0.9) == (pytest.approx(low), pytest.approx(high))
    assert mean_interval(result(0, {0: 0.1})) is None
    assert mean_interval(result(0, {0: 0.01, 1: 0.03})) == (0.0, pytest.approx(0.02 + 12.7062 * 0.01, 1e-4))


def test_verdict_and_comparisons_carry_their_numbers_as_json() -> None:
    judged = verdict(PLAN, [result(0, {0: 0.10, 1: 0.20}), result(1, {0: 0.12, 1: 0.24})])
    entry = json.loads(json.dumps(judged.comparisons[0].to_dict()))
    assert set(entry) == {
        "better", "worse", "difference", "ci_low", "ci_high", "confidence", "df", "paired", "p_value",
        "decided", "seeds_needed", "no_interval",
    }  # fmt: skip
    assert entry["better"] == "C=1" and entry["worse"] == "C=2" and entry["paired"] == 2
    assert entry["decided"] is False and entry["seeds_needed"] == 4
    whole = json.loads(json.dumps(judged.to_dict()))
    assert {"decided", "confidence", "method", "comparisons", "reading"} <= set(whole)
    assert whole["method"] == "paired Student-t interval, 95%"


def test_the_cli_default_confidence_is_the_library_one() -> None:
    from nas_resnext.cli.tradeoff import DEFAULT_CONFIDENCE as CLI_DEFAULT

    assert CLI_DEFAULT == DEFAULT_CONFIDENCE


@pytest.mark.parametrize(
    ("c1", "c2", "line"),
    [
        (
            {0: 0.20, 1: 0.22, 2: 0.21, 3: 0.20},
            {0: 0.10, 1: 0.13, 2: 0.11, 3: 0.10},
            "C=2 beats C=1 by 9.8 points of validation error [9.0, 10.5] (paired Student-t interval, 95%).",
        ),
        (
            {0: 0.10, 1: 0.13},
            {0: 0.20, 1: 0.22},
            "C=1 beats C=2 by 9.5 points of validation error [3.1, 15.9] (paired Student-t interval, 95%).",
        ),
        (
            {0: 0.10, 1: 0.13},
            {0: 0.20, 1: 0.18},
            "C=1 and C=2 are not separated yet (C=1 ahead by 7.5 points, interval [-24.3, 39.3]; estimate:",
        ),
        ({0: 0.20}, {}, "Not enough results to compare: 1 of 2 members completed a seed."),
    ],
)
def test_reading_states_the_answer_and_its_interval(c1: dict, c2: dict, line: str) -> None:
    text = reading(PLAN, [result(0, c1), result(1, c2)])
    assert line in text
    if "Not enough" not in line:
        assert text.startswith(f"at {PLAN.target_text()} (matched flops), ")


def test_spending_reading_compares_the_best_axis_with_every_rival() -> None:
    plan = TradeoffPlan.spending(TINY, "2x", "flops", seeds=3)
    names = [m.arch.name for m in plan.members]
    errors = {"reference": 0.30, "depth": 0.25, "width": 0.20, "cardinality": 0.22, "bottleneck_width": 0.26}
    rows = []
    for name, label in zip(names, errors, strict=True):
        for seed, shift in ((0, 0.0), (1, 0.01), (2, 0.02 if label == "cardinality" else 0.0)):
            rows.append({"name": name, "seed": seed, "val_accuracy": 1 - errors[label] - shift})
    judged = verdict(plan, member_results(plan, trials(rows)))
    assert judged.best is not None and judged.best.label == "width"
    assert judged.reading.startswith(f"at 2x the flops of {TINY.name} ({plan.target_text()}), ")
    # The same per-seed difference every seed: no spread to estimate, so no interval and no decision.
    assert (
        "spending on width is ahead of the reference by 10.0 points of validation error, but the seeds agree "
        "exactly, so their spread, and with it an interval, cannot be estimated, so nothing is decided"
    ) in judged.reading
    assert "spending on width and spending on cardinality are not separated yet" in judged.reading
    assert not judged.decided and "over the 10 pairs of 5 members" in judged.method


def _simulation() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "verdict_simulation.py"
    spec = importlib.util.spec_from_file_location("verdict_simulation", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seeds", [2, 3, 5, 8])
def test_with_no_true_difference_a_winner_is_declared_at_most_5_percent_of_the_time(seeds: int) -> None:
    simulation = _simulation()
    studies = 2000
    winners, statements = simulation.simulate(seeds, 0.0, studies, np.random.default_rng(seeds))
    # At a true rate of 5%, 2,000 studies exceed this count with probability 0.001: a larger count would
    # show the rate above 5%, not bad luck.
    bound = stats.binom.ppf(0.999, studies, 0.05)
    assert winners <= statements <= bound, (winners, statements, bound)


def test_adaptive_design_on_simulated_null_studies_declares_a_winner_at_most_5_percent_of_the_time() -> None:
    simulation = _simulation()
    studies = 2000
    winners, statements, trials = simulation.simulate_adaptive(0.0, studies, np.random.default_rng(7))
    bound = stats.binom.ppf(0.999, studies, 0.05)
    assert winners <= statements <= bound, (winners, statements, bound)
    assert 5 * 3 <= trials <= 5 * 8


# ------------------------------------------------------------------------------------ adaptive seeds (auto)


AUTO3 = PLAN3.adaptive_seeds(3, 5, 0.95)  # 3 looks: 3, 4 and 5 seeds


def test_adaptive_plan_holds_per_member_seeds_and_reads_back_old_plans() -> None:
    assert AUTO3.member_seeds == (3, 3, 3) and AUTO3.seeds == 3 and AUTO3.rounds == 1
    assert AUTO3.adaptive and AUTO3.looks == 3 and AUTO3.trials == 9
    grown = AUTO3.grow({0, 2})
    assert grown.member_seeds == (4, 3, 4) and grown.seeds == 4 and grown.rounds == 2 and grown.trials == 11
    stored = json.loads(json.dumps(grown.to_dict()))
    assert stored["member_seeds"] == [4, 3, 4] and stored["seeds"] == 4
    assert (stored["min_seeds"], stored["max_seeds"], stored["rounds"], stored["confidence"]) == (
        3,
        5,
        2,
        0.95,
    )
    assert TradeoffPlan.from_dict(stored) == grown
    # A plan written before per-member counts: every member gets ``seeds``; not adaptive.
    old = {k: v for k, v in PLAN3.to_dict().items() if k != "member_seeds"}
    assert TradeoffPlan.from_dict(old).member_seeds == (4, 4, 4) and not TradeoffPlan.from_dict(old).adaptive
    assert "min_seeds" not in PLAN3.to_dict() and PLAN3.looks == 1
    assert grown.seeds_text() == "3 to 4 seeds per member (0, 1, 2, 3; --seeds auto, 3 to 5, round 2)"
    assert PLAN3.seeds_text() == "4 seeds each (0, 1, 2, 3)"
    # Only the planned (member, seed) pairs are queued, paired seed by seed.
    study = optuna.create_study(directions=["maximize", "minimize"])
    sampler = PlanSampler(grown)
    assert sampler.queue(study) == 11
    asked = [study.ask(sampler.distributions()) for _ in range(11)]
    pairs = [(t.params["member"], t.params["seed_index"]) for t in asked]
    assert pairs[9:] == [(0, 3), (2, 3)] and (1, 3) not in pairs
    assert {sampler.seed_of(t.params) for t in asked if t.params["seed_index"] == 3} == {3}


def test_member_results_count_each_members_planned_seeds() -> None:
    plan = TradeoffPlan.family(TINY, "cardinality", [1, 2], "bottleneck_width", "flops", seeds=2)
    plan = plan.adaptive_seeds(2, 3, 0.95).grow({0})
    rows = [{"name": C1, "seed": s, "val_accuracy": 0.9} for s in (0, 1)]
    rows += [{"name": C2, "seed": s, "val_accuracy": 0.8} for s in (0, 1, 2)]  # seed 2 is not C2's
    first, second = member_results(plan, trials(rows))
    assert (first.seeds, first.planned, first.pending) == (2, 3, 1)
    assert (second.seeds, second.planned, second.pending) == (2, 2, 0)
    assert first.to_row()["planned_seeds"] == 3


def _auto_results(errors: list[dict[int, float]]) -> list[MemberResult]:
    return [result3(i, e) for i, e in enumerate(errors)]


# C=1 is far ahead of C=4 (every seed by 20 points, give or take 0.1) and close to C=2.
SEPARATES_C4 = [
    {0: 0.10, 1: 0.20, 2: 0.15},
    {0: 0.11, 1: 0.195, 2: 0.17},
    {0: 0.30, 1: 0.401, 2: 0.349},
]


def test_only_the_contenders_get_another_seed_until_decided_or_max() -> None:
    results = _auto_results(SEPARATES_C4)
    judged = verdict(AUTO3, results, 0.95, AUTO3.looks)
    assert judged.best is not None and judged.best.label == "C=1" and not judged.decided
    assert [c.decided for c in judged.comparisons] == [False, True]  # C=2 not separated, C=4 beaten
    assert contenders(results, judged) == (0, 1)
    grown = next_round(AUTO3, results, judged)
    assert grown is not None and grown.member_seeds == (4, 4, 3) and grown.rounds == 2
    # Decided: stop.
    apart = [{s: e + 0.2 * (i > 0) + 0.001 * s * i for s, e in SEPARATES_C4[0].items()} for i in range(3)]
    decided = verdict(AUTO3, _auto_results(apart), 0.95, AUTO3.looks)
    assert decided.decided and next_round(AUTO3, _auto_results(apart), decided) is None
    # The planned looks used up (round 3 of 3): stop, decided or not.
    last = AUTO3.grow({0, 1}).grow({0, 1})
    assert last.rounds == 3 == last.looks and next_round(last, results, judged) is None
    # Members at --max-seeds do not grow; when no contender can, the study stops.
    capped = TradeoffPlan.from_dict(AUTO3.to_dict() | {"member_seeds": [5, 5, 3]})
    assert capped.grow({0, 1}).member_seeds == (5, 5, 3) and next_round(capped, results, judged) is None
    # A fixed plan has no schedule.
    assert next_round(PLAN3, results, verdict(PLAN3, results)) is None


def test_alpha_is_spent_evenly_over_the_planned_looks() -> None:
    results = _auto_results(SEPARATES_C4)
    once = verdict(AUTO3, results, 0.9)
    looked = verdict(AUTO3, results, 0.9, looks=3)
    assert looked.method == (
        "paired Student-t intervals, Bonferroni-corrected over the 3 pairs of 3 members, "
        "alpha spent evenly over 3 planned looks, 90%"
    )
    assert looked.reading.endswith(f"({looked.method}).") and looked.confidence == 0.9
    for got, rival in zip(looked.comparisons, (SEPARATES_C4[1], SEPARATES_C4[2]), strict=True):
        test = stats.ttest_rel([100 * e for e in rival.values()], [100 * e for e in SEPARATES_C4[0].values()])
        low, high = test.confidence_interval(1 - 0.1 / (3 * 3))
        assert (got.ci_low, got.ci_high) == (pytest.approx(low), pytest.approx(high))
        assert got.p_value == pytest.approx(min(1.0, 9 * test.pvalue))
    wider = [c.ci_high - c.ci_low for c in looked.comparisons]
    assert all(w > c.ci_high - c.ci_low for w, c in zip(wider, once.comparisons, strict=True))
    with pytest.raises(ValueError, match="looks"):
        verdict(AUTO3, results, 0.9, looks=0)


# --------------------------------------------------------------------------------------------- end to end


def nas(*argv: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([NAS, *argv], capture_output=True, text=True, timeout=timeout, check=False)


def _finished_rows(run_dir: Path) -> int:
    try:
        table = pd.read_csv(run_dir / "trials.csv")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0
    return int(table["state"].isin(["COMPLETE", "PRUNED", "FAIL"]).sum())


def _trained(run_dir: Path) -> list[set[int]]:
    """Trial numbers trained by each start of the study (one Ray Tune experiment each)."""
    return [
        {int(d.name.split("_")[1]) for d in experiment.iterdir() if d.name.startswith("trial_")}
        for experiment in sorted((run_dir / "ray").iterdir())
    ]


@pytest.mark.ray
def test_study_trains_every_member_for_every_seed_survives_a_kill_and_grows(tmp_path: Path) -> None:
    run_dir = tmp_path / "study"
    argv = [NAS, "tradeoff", *TINY_FLAGS, "--cardinalities", "1,2", "--match", "flops", "--seeds", "2"]
    argv += ["--epochs", "1", *FAST, "--run-dir", str(run_dir), "--max-concurrent", "1"]
    study = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while _finished_rows(run_dir) < 1 and time.monotonic() < deadline and study.poll() is None:
        time.sleep(0.3)
    assert study.poll() is None, study.communicate()[1]
    os.killpg(study.pid, signal.SIGKILL)  # the study, its local Ray and the trial in flight
    study.wait(timeout=60)
    finished_before = {
        int(n) for n in pd.read_csv(run_dir / "trials.csv").query("state == 'COMPLETE'")["number"]
    }
    assert finished_before

    # `search --resume` continues a trade-off study as `tradeoff --resume` does.
    resumed = nas("search", "--resume", str(run_dir), "--json")
    assert resumed.returncode == 0, resumed.stderr
    outcome = json.loads(resumed.stdout)
    rows = outcome["rows"]
    assert [(r["label"], r["cardinality"], r["seeds"], r["epochs"]) for r in rows] == [
        ("C=1", 1, 2, 1),
        ("C=2", 2, 2, 1),
    ]
    assert all(0 <= r["val_error_mean"] <= 1 and r["val_error_std"] is not None for r in rows)
    assert rows[0]["flops"] >= rows[1]["flops"] and rows[0]["latency_ms"] > 0
    assert outcome["reading"].startswith("at ") and not outcome["interrupted"]
    assert not _trained(run_dir)[-1] & finished_before  # nothing finished before the kill was retrained
    table = pd.read_csv(run_dir / "trials.csv")
    done = table[table["state"] == "COMPLETE"]
    assert sorted(zip(done["name"], done["seed"], strict=True)) == sorted(
        (r["name"], s) for r in rows for s in (0, 1)
    )
    assert {p.name for p in run_dir.iterdir()} >= {
        "space.yaml",
        "run.json",
        "study.db",
        "ray",
        "trials.csv",
        "tradeoff.json",
    }
    assert RunDirectory(run_dir).is_tradeoff
    assert Path(outcome["report"]).is_file() and "Trade-off study" in Path(outcome["report"]).read_text()

    # A third seed trains only the new (member, seed) pairs; the text output is the paper's Table 3.
    grown = nas("tradeoff", "--resume", str(run_dir), "--seeds", "3")
    assert grown.returncode == 0, grown.stderr
    assert len(_trained(run_dir)[-1]) == 2
    assert json.loads((run_dir / "tradeoff.json").read_text())["seeds"] == 3
    lines = grown.stdout.splitlines()
    header = next(line for line in lines if line.startswith("member"))
    assert header.split() == (
        [
            "member",
            "name",
            "C",
            "d",
            "width",
            "depths",
            "params",
            "GFLOPs",
            "latency",
            "ms",
            "val",
            "error",
            "%",
            "seeds",
            "epochs",
        ]
    )
    assert [line.split()[0] for line in lines if " 3/3 " in line] == ["C=1", "C=2"]
    assert any(line.startswith("At ") and "interval" in line for line in lines)
    assert "[95% Student-t interval of the mean, per member]" in grown.stdout


@pytest.mark.ray
def test_adaptive_study_grows_only_the_contenders_and_resumes_its_schedule_after_a_kill(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "auto"
    argv = [NAS, "tradeoff", *TINY_FLAGS, "--cardinalities", "1,2,4", "--match", "flops", "--seeds", "auto"]
    argv += ["--min-seeds", "2", "--max-seeds", "3", "--epochs", "1", *FAST, "--run-dir", str(run_dir)]
    study = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while _finished_rows(run_dir) < 6 and time.monotonic() < deadline and study.poll() is None:
        time.sleep(0.2)
    if study.poll() is None:
        os.killpg(study.pid, signal.SIGKILL)  # round 1 trained: kill it between rounds or early in round 2
    study.wait(timeout=60)
    finished_before = {
        int(n) for n in pd.read_csv(run_dir / "trials.csv").query("state == 'COMPLETE'")["number"]
    }
    assert len(finished_before) >= 6

    resumed = nas("tradeoff", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert not _trained(run_dir)[-1] & finished_before  # nothing finished before the kill was retrained
    plan = TradeoffPlan.load(RunDirectory(run_dir))
    assert plan.adaptive and (plan.min_seeds, plan.max_seeds, plan.looks) == (2, 3, 2)

    # The rule, replayed on the trials: round 1 is every member at seeds 0 and 1; after it, exactly the
    # members not separated from the best (at 95% over 3 pairs and 2 looks) get seed 2, and then it stops.
    table = pd.read_csv(run_dir / "trials.csv")
    first = plan.adaptive_seeds(2, 3, 0.95)
    round1 = member_results(first, table)
    judged = verdict(first, round1, 0.95, looks=2)
    grown = next_round(first, round1, judged)
    expected = first if grown is None else grown
    assert plan.member_seeds == expected.member_seeds and plan.rounds == expected.rounds
    if grown is not None:
        assert plan.member_seeds == tuple(3 if i in contenders(round1, judged) else 2 for i in range(3))
        assert f"round 2: best {verdict(plan, member_results(plan, table), 0.95, 2).best.label}" in (
            resumed.stderr
        )
    assert "stopping" in resumed.stderr
    done = table[table["state"] == "COMPLETE"]
    names = [m.arch.name for m in plan.members]
    assert sorted(zip(done["name"], done["seed"], strict=True)) == sorted(
        (names[i], s) for i, n in enumerate(plan.member_seeds) for s in range(n)
    )
    rows = [line.split() for line in resumed.stdout.splitlines() if line.startswith("C=")]
    assert [r[-2] for r in rows] == [f"{n}/{n}" for n in plan.member_seeds]
    assert "alpha spent evenly over 2 planned looks" in resumed.stdout

    # Resumed again when finished: nothing trains, and the JSON records the schedule.
    again = nas("tradeoff", "--resume", str(run_dir), "--json")
    assert again.returncode == 0, again.stderr
    outcome = json.loads(again.stdout)
    assert (outcome["seeds"], outcome["min_seeds"], outcome["max_seeds"]) == ("auto", 2, 3)
    assert outcome["rounds"] == plan.rounds
    assert [(r["seeds"], r["planned_seeds"]) for r in outcome["rows"]] == [(n, n) for n in plan.member_seeds]
    assert outcome["method"].endswith("alpha spent evenly over 2 planned looks, 95%")
    assert sum(outcome["trials"].values()) == len(table)
    refused = nas("tradeoff", "--resume", str(run_dir), "--seeds", "4")
    assert refused.returncode == 2 and "--seeds: got 4; allowed: nothing for a study started with" in (
        refused.stderr
    )


@pytest.mark.ray
def test_spending_plan_from_a_space_file_on_a_ray_head_node(
    tmp_path: Path, ray_head: tuple[str, dict[str, str]], tiny_space: Callable[..., Path]
) -> None:
    address, env = ray_head
    path = tiny_space(
        axes__width=[2, 4, 8], axes__bottleneck_width=[1, 2, 4], training__epochs=1, training__seed=3
    )
    run_dir = tmp_path / "spend"
    argv = [NAS, "tradeoff", str(path), "--target", "2x", "--match", "flops", "--seeds", "1"]
    argv += ["--run-dir", str(run_dir), "--ray-address", address, "--json"]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    rows = outcome["rows"]
    assert [r["label"] for r in rows] == ["reference", "depth", "width", "cardinality", "bottleneck_width"]
    # The reference is the middle of each axis of the space: width 4, C 1 (of 1,2), d 2 (of 1,2,4).
    reference = TINY.replace(bottleneck_width=2)
    assert rows[0]["name"] == reference.name and all(r["seeds"] == 1 and r["epochs"] == 1 for r in rows)
    assert outcome["target"] == 2 * count_analytic(reference).flops
    assert outcome["reading"].startswith(f"at 2x the flops of {reference.name}")
    assert json.loads((run_dir / "run.json").read_text())["ray_address"] == address
    # Training settings (seed included) come from the space file.
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{run_dir / 'study.db'}")
    assert {t.user_attrs["seed"] for t in study.trials if t.state == TrialState.COMPLETE} == {3}
    assert main(["report", str(run_dir), "-o", str(tmp_path / "r.html")]) == 0
    assert "Trade-off study" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seeds", "0"], "--seeds: got 0; allowed: an integer >= 1"),
        (["--seeds", "many"], "--seeds: got 'many'; allowed: an integer >= 1, or auto"),
        (
            ["--seeds", "auto", "--min-seeds", "1"],
            "--min-seeds: got 1; allowed: an integer >= 2 (two seeds give the first interval)",
        ),
        (
            ["--seeds", "auto", "--min-seeds", "4", "--max-seeds", "3"],
            "--max-seeds: got 3; allowed: an integer >= --min-seeds (4)",
        ),
        (
            ["--seeds", "auto", "--max-seeds", "2"],
            "--max-seeds: got 2; allowed: an integer >= --min-seeds (3)",
        ),
        (["--min-seeds", "3"], "--min-seeds: got '3'; allowed: only with --seeds auto"),
        (["--seeds", "4", "--max-seeds", "6"], "--max-seeds: got '6'; allowed: only with --seeds auto"),
        (["--confidence", "1"], "--confidence: got '1'; allowed: a number strictly between 0 and 1"),
        (["--confidence", "95%"], "--confidence: got '95%'; allowed: a number strictly between 0 and 1"),
        (["--confidence", "nan"], "--confidence: got 'nan'; allowed: a number strictly between 0 and 1"),
        (["--dataset", "cifar10"], "--data-dir: got None; allowed: a path for the cifar10 data set"),
        (["--in-channels", "3"], "--in-channels: got 3; allowed: 1 (what the digits data set holds)"),
        (["--epochs", "0"], "--epochs: got 0; allowed: an integer >= 1"),
        (["--cpus-per-trial", "-1"], "--cpus-per-trial: got -1.0; allowed: a number >= 0"),
        (["--retries", "-1"], "--retries: got -1; allowed: an integer >= 0"),
        (
            ["--solve", "cardinality"],
            "--solve: got 'cardinality'; allowed: an axis other than the varied one",
        ),
        (["--preset", "resnet50", "nope.yaml"], "space: got 'nope.yaml'; allowed: an existing YAML"),
    ],
)
def test_bad_study_input_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    run_dir = tmp_path / "study"
    code = main(["tradeoff", *TINY_FLAGS, "--cardinalities", "1,2", "--run-dir", str(run_dir), *extra])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert message in err and len(err.splitlines()) == 1, err
    assert not run_dir.exists() and not Path("runs").exists()


def test_resume_needs_a_trade_off_study(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    assert main(["tradeoff", "--resume", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "--resume: got" in err and "tradeoff.json" in err
    assert main(["tradeoff", "--resume", str(tmp_path / "run"), "--cardinalities", "1,2"]) == 2
    assert "only --seeds, --confidence and execution flags with --resume" in capsys.readouterr().err
    # The plan, and with it which members are reachable, was settled when the study started.
    assert main(["tradeoff", "--resume", str(tmp_path / "run"), "--tolerance", "0.5"]) == 2
    assert (
        "--tolerance: got '0.5'; allowed: only --seeds, --confidence and execution" in capsys.readouterr().err
    )


@pytest.mark.ray
def test_a_study_the_cluster_can_never_hold_is_bad_input_new_or_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nas_resnext.rundir import RunOptions
    from nas_resnext.tradeoff.runner import create_tradeoff_run

    code = main(["tradeoff", *TINY_FLAGS, "--cardinalities", "1,2", "--gpus-per-trial", "1"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "--gpus-per-trial: got 1.0; allowed: at most 0 (the largest node of this cluster has 0 GPUs" in err
    assert len(err.splitlines()) == 1 and not Path("runs").exists()
    # Resumed with more seeds and more CPUs per trial than any node has: the plan is not grown.
    space = PLAN.design_space("study", "digits", None, TrainSettings(epochs=1))
    options = RunOptions(trials=PLAN.trials, sampler="grid", scheduler="fifo", seed=0)
    run = create_tradeoff_run(tmp_path / "study", PLAN, space, options)
    files = {p.name: p.read_bytes() for p in run.path.iterdir()}
    code = main(["tradeoff", "--resume", str(run.path), "--seeds", "3", "--cpus-per-trial", "64"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "--cpus-per-trial: got 64.0; allowed: at most " in err and len(err.splitlines()) == 1, err
    assert {p.name: p.read_bytes() for p in run.path.iterdir()} == files
