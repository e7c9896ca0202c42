"""The report's analysis, checked by equality on small hand-made trials tables."""

from __future__ import annotations

import fnmatch
import html
import json
import math
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_NAME
from markupsafe import escape

from nas_resnext.architecture import Architecture
from nas_resnext.report.data import ReportData, RunMeta, build_report_data
from nas_resnext.report.page import SCRIPT, STYLE, TEMPLATE, asset, environment, render_html
from nas_resnext.report.views import analyse
from nas_resnext.report.views.cardinality import tradeoff_figure, tradeoff_info
from nas_resnext.report.views.curves import CurvePoints, curves_figure, curves_info
from nas_resnext.report.views.edf import EdfCurve, edf_figure, edf_info
from nas_resnext.report.views.header import header_info
from nas_resnext.report.views.importance import importance_figure, importance_infos
from nas_resnext.report.views.pareto import ParetoRun, pareto_figure, pareto_infos
from nas_resnext.report.views.plotting import percent, text
from nas_resnext.report.views.study import (
    MemberCurve,
    StudyInfo,
    comparison_row,
    seeds_text,
    study_curves_figure,
    study_figure,
    study_infos,
)
from nas_resnext.report.views.trials import table_order, trials_info
from nas_resnext.rundir import TRIAL_COLUMNS, RunOptions
from nas_resnext.search.study import INTERRUPTED, retried_error
from nas_resnext.space import DesignSpace
from nas_resnext.tradeoff.plan import TradeoffPlan
from nas_resnext.tradeoff.results import DEFAULT_CONFIDENCE, member_results, verdict

SPACE = {
    "name": "hand",
    "description": "hand-made",
    "template": "cifar",
    "resolution": 8,
    "num_classes": 10,
    "in_channels": 1,
    "stem_width": 4,
    "axes": {"depth": [1, 2], "width": [2, 4], "cardinality": [1, 2, 4], "bottleneck_width": [1, 2]},
    "budget": {"max_gflops": 0.01, "max_mparams": 1.0},
}


def run_options(**values: object) -> RunOptions:
    """Options as a run stores them; ``trials``, ``sampler``, ``scheduler`` and ``seed`` always are."""
    return RunOptions(**{"trials": 1, "sampler": "random", "scheduler": "fifo", "seed": 0, **values})


def run_meta(name: str = "run", **options: object) -> RunMeta:
    return RunMeta(name, Path(name), DesignSpace.from_dict(SPACE), run_options(**options))


def table(rows: list[dict], run: str = "run") -> pd.DataFrame:
    """A trials.csv-shaped table; unspecified columns take plain defaults."""
    defaults = {"state": "COMPLETE", "depths": "1,1,1", "width": 4, "cardinality": 1, "bottleneck_width": 2}
    defaults["params"] = 1000
    full = []
    for number, row in enumerate(rows):
        item = (
            {column: None for column in TRIAL_COLUMNS} | defaults | {"number": number, "name": f"n{number}"}
        )
        item |= row
        item["group_width"] = item["cardinality"] * item["bottleneck_width"]
        full.append(item)
    frame = pd.DataFrame(full, columns=TRIAL_COLUMNS)
    frame.insert(0, "run", run)
    return frame


def data(rows: list[dict], **options: object) -> ReportData:
    return build_report_data([run_meta(**options)], [table(rows)])


def test_pareto_flags_keep_ties_and_duplicates() -> None:
    report = data(
        [
            {"val_accuracy": 0.9, "flops": 100},
            {"val_accuracy": 0.9, "flops": 100},  # a duplicate of a front point is on the front too
            {"val_accuracy": 0.8, "flops": 100},
            {"val_accuracy": 0.95, "flops": 200},
            {"val_accuracy": 0.95, "flops": 300},  # same accuracy, more FLOPs: dominated
            {"val_accuracy": 0.99, "flops": 50, "state": "PRUNED", "epochs": 1},  # never on the front
            {"val_accuracy": None, "flops": 80, "state": "FAIL", "error": "RuntimeError: NaN loss"},
        ]
    )
    assert report.table["pareto"].tolist() == [True, True, False, True, False, False, False]
    assert report.table["reason"].tolist() == [
        "",
        "",
        "",
        "",
        "",
        "stopped early after 1 epochs",
        "RuntimeError: NaN loss",
    ]
    flops = pareto_infos(report)[0]
    assert flops.cost == "flops" and flops.budget == (0.01,) and flops.log_x
    assert flops.runs == (
        ParetoRun(
            "run", front=(0, 1, 3), dominated=(2, 4), pruned=(5,), failed=((6, "RuntimeError: NaN loss"),)
        ),
    )
    # What the figure plots, in axis units (GFLOPs), and the trial number it names for the failed one.
    assert flops.points == {
        0: (1e-7, 0.9),
        1: (1e-7, 0.9),
        2: (1e-7, 0.8),
        3: (2e-7, 0.95),
        4: (3e-7, 0.95),
        5: (5e-8, 0.99),
    }
    assert flops.numbers == {6: 6}
    assert [p.cost for p in pareto_infos(report)] == ["flops", "params"]  # no latency was measured
    assert table_order(report) == (3, 0, 1, 4, 2, 5, 6)


def test_pareto_of_several_runs_is_per_run_with_every_runs_budget_line() -> None:
    a = table([{"val_accuracy": 0.9, "flops": 100}], run="a")
    b = table([{"val_accuracy": 0.8, "flops": 200}], run="b")
    wider = RunMeta(
        "b", Path("b"), DesignSpace.from_dict({**SPACE, "budget": {"max_gflops": 0.5}}), run_options()
    )
    report = build_report_data([run_meta("a"), wider], [a, b])
    assert report.table["pareto"].tolist() == [True, True]
    (flops, _) = pareto_infos(report)
    assert flops.budget == tuple(sorted({SPACE["budget"]["max_gflops"], 0.5}))
    assert [r.front for r in flops.runs] == [(0,), (1,)]
    same = build_report_data([run_meta("a"), run_meta("b")], [a, b])
    assert pareto_infos(same)[0].budget == (SPACE["budget"]["max_gflops"],)  # a shared budget: one line


def test_an_activations_objective_gets_its_front_panel_and_budget_lines() -> None:
    rows = [
        {"val_accuracy": 0.90, "flops": 300, "activations": 2_000_000},
        {"val_accuracy": 0.80, "flops": 100, "activations": 3_000_000},  # cheaper in FLOPs, dearer in acts
        {"val_accuracy": 0.95, "flops": 400, "activations": 2_500_000},
    ]
    space = DesignSpace.from_dict(
        {
            **SPACE,
            "objectives": ["val_accuracy", "activations"],
            "budget": {"min_mactivations": 1.5, "max_mactivations": 4.0},
        }
    )
    report = build_report_data([RunMeta("run", Path("run"), space, run_options())], [table(rows)])
    # The run's own front is on its objectives: trial 1 is dominated in activations.
    assert report.table["pareto"].tolist() == [True, False, True]
    infos = {p.cost: p for p in pareto_infos(report)}
    assert list(infos) == ["flops", "params", "activations"]
    panel = infos["activations"]
    assert (panel.label, panel.scale, panel.log_x) == (
        "activations (M, conv and classifier outputs)",
        1e6,
        True,
    )
    assert panel.budget == (1.5, 4.0)
    assert panel.runs == (ParetoRun("run", front=(0, 2), dominated=(1,), pruned=(), failed=()),)
    assert panel.points == {0: (2.0, 0.9), 1: (3.0, 0.8), 2: (2.5, 0.95)}
    shown = json.loads(pareto_figure(panel).to_json())
    assert shown["layout"]["xaxis"]["title"]["text"] == "activations (M, conv and classifier outputs)"


def test_a_run_older_than_the_activations_count_has_nothing_on_their_panel() -> None:
    new = table([{"val_accuracy": 0.9, "flops": 100, "activations": 2_000_000}], run="new")
    old = table([{"val_accuracy": 0.8, "flops": 200}], run="old")  # no activations column values at all
    report = build_report_data([run_meta("new"), run_meta("old")], [new, old])
    infos = {p.cost: p for p in pareto_infos(report)}
    assert [r.run for r in infos["activations"].runs] == ["new", "old"]  # colours stay those of the run
    assert infos["activations"].runs[1] == ParetoRun("old", front=(), dominated=(), pruned=(), failed=())
    assert infos["activations"].points == {0: (2.0, 0.9)}
    assert "failed" not in str(json.loads(pareto_figure(infos["activations"]).to_json())["layout"])
    assert [r.front for r in infos["flops"].runs] == [(0,), (1,)]  # the other panels are as before
    # Only old runs: no activations panel at all.
    assert [p.cost for p in pareto_infos(build_report_data([run_meta("old")], [old]))] == ["flops", "params"]


def test_edf_weights_match_complexity_distributions() -> None:
    # C=1 has two cheap models and one costly; C=2 one cheap and one costly. The pooled share of the
    # cheap bin is 3/5, of the costly one 2/5; each group's weights follow those shares.
    rows = [
        {"cardinality": 1, "flops": 100, "val_accuracy": 0.9},
        {"cardinality": 1, "flops": 100, "val_accuracy": 0.8},
        {"cardinality": 1, "flops": 1000, "val_accuracy": 0.7},
        {"cardinality": 2, "flops": 100, "val_accuracy": 0.6},
        {"cardinality": 2, "flops": 1000, "val_accuracy": 0.95},
        {"cardinality": 4, "flops": 100, "state": "FAIL"},
    ]
    info = edf_info(data(rows), "cardinality", bins=2)
    (c1, c2) = info.curves
    assert c1.label == "C=1 (n=3)" and c1.n == 3
    assert c1.errors == pytest.approx((0.1, 0.2, 0.3))
    assert c1.cdf == pytest.approx((0.3, 0.6, 1.0))  # cheap ones 0.3 each, the costly one 0.4
    assert c2 == EdfCurve("C=2 (n=2)", 2, pytest.approx((0.05, 0.4)), pytest.approx((0.4, 1.0)))
    assert edf_info(data(rows[:3]), "cardinality").curves == ()  # one group: nothing to compare


def test_tradeoff_bins_and_answer() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for flops in (1000, 4000):
        for cardinality in (1, 2, 4):
            for _ in range(3):
                accuracy = 0.8 + 0.02 * math.log2(cardinality) + rng.normal(0, 0.002)
                rows.append({"flops": flops, "cardinality": cardinality, "val_accuracy": accuracy})
    info = tradeoff_info(data(rows), ratio=2.0)
    assert [b.low_gflops * 1e9 for b in info.bins] == pytest.approx([512, 2048])
    assert [b.high_gflops * 1e9 for b in info.bins] == pytest.approx([1024, 4096])
    assert [[g.cardinality for g in b.groups] for b in info.bins] == [[1, 2, 4], [1, 2, 4]]
    first = info.bins[0].groups[0]
    assert first.n == 3 and first.group_widths == (2,)
    # A Student-t interval of the mean with n - 1 degrees of freedom (scipy is the reference).
    from scipy import stats

    low, high = stats.t.interval(0.95, 2, loc=first.mean, scale=first.std / math.sqrt(3))
    assert (first.ci_low, first.ci_high) == pytest.approx((low, high))
    assert (info.n, info.df, info.confidence) == (18, 15, 0.95)
    assert info.slope == pytest.approx(2.0, abs=0.2) and 0 < info.ci_low < info.slope < info.ci_high
    assert info.answer.startswith("At matched complexity, more cardinality helped")
    assert "95% Student-t interval" in info.answer and "15 degrees of freedom" in info.answer
    assert "Spend the budget on C" in info.answer


def bin_dummy_fit(rows: list[dict], bins: list[int], confidence: float) -> tuple[float, float, float, int]:
    """Reference: the slope of accuracy (points) on log2(C) with one dummy per bin, fit by
    ``numpy.linalg.lstsq``; its standard error from (X'X)^-1 and the residual variance; scipy's t interval."""
    from scipy import stats

    y = np.array([100 * r["val_accuracy"] for r in rows])
    x = np.log2([r["cardinality"] for r in rows])
    dummies = np.array([[float(b == level) for level in sorted(set(bins))] for b in bins])
    design = np.column_stack([dummies, x])
    coef, _, _, _ = np.linalg.lstsq(design, y, rcond=None)
    df = len(y) - design.shape[1]
    variance = float(np.sum((y - design @ coef) ** 2)) / df
    stderr = math.sqrt(variance * np.linalg.inv(design.T @ design)[-1, -1])
    low, high = stats.t.interval(confidence, df, loc=coef[-1], scale=stderr)
    return float(coef[-1]), stderr, float(low), float(high)


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_tradeoff_slope_interval_is_the_bin_dummy_least_squares_t_interval(confidence: float) -> None:
    # Unbalanced bins: 1000 FLOPs holds C = 1, 2, 4 (4 models); 4000 holds C = 2, 8 (5); 16000 only C = 4,
    # which compares nothing and is left out of the fit (its model adds no information on the slope).
    table = [
        (1000, 1, 0.801), (1000, 2, 0.815), (1000, 4, 0.812), (1000, 4, 0.829),
        (4000, 2, 0.850), (4000, 2, 0.842), (4000, 8, 0.861), (4000, 8, 0.870), (4000, 8, 0.848),
        (16000, 4, 0.9),
    ]  # fmt: skip
    rows = [{"flops": f, "cardinality": c, "val_accuracy": a} for f, c, a in table]
    info = tradeoff_info(data(rows), ratio=2.0, confidence=confidence)
    slope, stderr, low, high = bin_dummy_fit(rows[:9], [0, 0, 0, 0, 1, 1, 1, 1, 1], confidence)
    assert (info.n, info.df, info.confidence) == (9, 6, confidence)
    assert (info.slope, info.stderr) == pytest.approx((slope, stderr))
    assert (info.ci_low, info.ci_high) == pytest.approx((low, high))
    assert f"{percent(confidence)} Student-t interval {low:+.2f} to {high:+.2f}" in info.answer
    assert "6 degrees of freedom" in info.answer and "9 trained models in 2 complexity bins" in info.answer
    groups = [g for b in info.bins for g in b.groups]
    from scipy import stats

    for g in groups:
        if g.n > 1:
            interval = stats.t.interval(confidence, g.n - 1, loc=g.mean, scale=g.std / math.sqrt(g.n))
            assert (g.ci_low, g.ci_high) == pytest.approx(interval)
        else:
            assert g.ci_low == g.ci_high == g.mean


def test_tradeoff_is_not_decided_when_the_interval_includes_zero() -> None:
    # Within each bin C=2 is as often better as worse than C=1: the slope's interval straddles 0.
    table = [(1000, 1, 0.80), (1000, 1, 0.84), (1000, 2, 0.81), (1000, 2, 0.83), (4000, 1, 0.90),
             (4000, 2, 0.89), (4000, 2, 0.92)]  # fmt: skip
    rows = [{"flops": f, "cardinality": c, "val_accuracy": a} for f, c, a in table]
    info = tradeoff_info(data(rows), ratio=2.0)
    assert info.ci_low < 0 < info.ci_high and info.df == 4
    assert info.answer.startswith("At matched complexity, C against width is not decided: ")
    assert "95% Student-t interval" in info.answer and "the interval includes 0" in info.answer
    assert "Spend" not in info.answer


def test_tradeoff_says_when_data_are_too_few() -> None:
    rows = [
        {"flops": 1000, "cardinality": 1, "val_accuracy": 0.8},
        {"flops": 5000, "cardinality": 2, "val_accuracy": 0.9},
    ]
    info = tradeoff_info(data(rows))
    assert info.slope is None and info.answer.startswith("Not enough data")
    assert (
        tradeoff_info(data([{"state": "FAIL", "flops": 10}])).answer
        == "Not enough data: no completed trials."
    )


def test_header_fields() -> None:
    rows = [
        {"val_accuracy": 0.9, "flops": 100},
        {"state": "PRUNED", "flops": 10},
        {"state": "FAIL", "flops": 1},
    ]
    options = {
        "sampler": "tpe",
        "scheduler": "moasha",
        "seed": 3,
        "hardware": "x86_64 2 CPUs",
        "versions": {"optuna": "5.0.0"},
        "wall_seconds": 125.0,
        "space_file": "spaces/a.yaml",
    }
    header = header_info(data(rows, **options), run_meta(**options))
    assert header.counts == (("COMPLETE", 1), ("PRUNED", 1), ("FAIL", 1))
    # Attempts that failed through no fault of the candidate and ran again are counted apart from failures.
    rerun = [
        {"state": "FAIL", "flops": 1, "error": retried_error("OSError: connection reset", 1)},
        {"state": "FAIL", "flops": 1, "error": INTERRUPTED},
    ]
    counts = header_info(data(rows + rerun, **options), run_meta(**options)).counts
    assert counts == (("COMPLETE", 1), ("PRUNED", 1), ("FAIL", 1), ("INTERRUPTED", 1), ("RETRIED", 1))
    assert header.budget == "GFLOPs <= 0.01, Mparams <= 1"
    assert (header.sampler, header.scheduler, header.seed, header.wall_time) == (
        "tpe",
        "moasha",
        "3",
        "2m05s",
    )
    assert header.space_file == "spaces/a.yaml" and header.versions == (("optuna", "5.0.0"),)
    assert header.objectives == ("val_accuracy", "flops")
    assert header.flop_convention == "GFLOPs: multiply-adds, fvcore convention, batch 1"
    older = header_info(data(rows), run_meta())  # options older runs did not record keep their defaults
    assert (older.hardware, older.wall_time) == ("not recorded", "not recorded")


def test_importance_too_few_trials_is_a_message() -> None:
    infos = importance_infos(data([{"val_accuracy": 0.9, "flops": 100}]))
    assert [(i.objective, i.importances) for i in infos] == [("val_accuracy", ()), ("flops", ())]
    assert infos[0].message.startswith("Not enough completed trials")


def test_importance_on_natural_values() -> None:
    rows = [
        {"width": w, "cardinality": c, "val_accuracy": 0.5 + 0.1 * w, "flops": 100 * c}
        for w in (2, 4, 8)
        for c in (1, 2, 4)
    ]
    (accuracy, flops) = importance_infos(data(rows))
    assert dict(accuracy.importances)["width"] > 0.8
    assert dict(flops.importances)["cardinality"] > 0.8
    assert {a for a, _ in accuracy.importances} == {"width", "cardinality"}  # constant axes are left out


def test_history_and_curves() -> None:
    history = pd.DataFrame(
        {
            "run": "run",
            "number": [0, 0, 1, 9],
            "epoch": [1.0, 2.0, 1.0, 1.0],
            "val_accuracy": [0.5, 0.6, 0.4, 0.1],
        }
    )
    rows = [{"val_accuracy": 0.6, "flops": 1}, {"state": "PRUNED", "val_accuracy": 0.4, "flops": 1}]
    report = build_report_data([run_meta()], [table(rows)], [history])
    assert report.history.values.tolist() == [[0, 1.0, 0.5], [0, 2.0, 0.6], [1, 1.0, 0.4]]
    info = curves_info(report)
    assert (info.complete, info.stopped, info.epochs) == ((0,), (1,), 2)
    assert info.complete_points == CurvePoints((0, 0), (1.0, 2.0), (0.5, 0.6))
    assert info.stopped_points == CurvePoints((1,), (1.0,), (0.4,))


@pytest.mark.parametrize(
    "value", ["</script><script>alert(1)</script>", "<img src=x onerror=alert(1)>", "a & b <!-- c"]
)
def test_escaping(value: str) -> None:
    encoded = environment().from_string("{{ value|tojson }}").render(value={"name": value})
    assert "<" not in encoded and ">" not in encoded and "&" not in encoded
    assert json.loads(encoded) == {"name": value}
    assert "<" not in text(value) and ">" not in text(value)


# ------------------------------------------------------------------------- copies and runs in statistics


def trained_models() -> list[dict]:
    """Twelve trained models in two complexity bins (C = 1, 2, 4 at two depths each), then one stopped early
    (row 12) and one failed (row 13). Row 11 (C=4, deeper, costlier bin) is the most accurate."""
    rows = []
    for flops in (1000, 4000):
        for cardinality in (1, 2, 4):
            for depth in (1, 2):
                accuracy = 0.7 + 0.01 * math.log2(cardinality) + 0.02 * depth + flops / 1e5
                rows.append(
                    {
                        "flops": flops + 10 * depth,
                        "cardinality": cardinality,
                        "depths": f"{depth},{depth},{depth}",
                        "val_accuracy": accuracy + 0.003 * (len(rows) % 3),
                        "epochs": 2,
                    }
                )
    rows.append({"flops": 1500, "cardinality": 2, "state": "PRUNED", "val_accuracy": 0.6, "epochs": 1})
    rows.append({"flops": 1200, "cardinality": 4, "state": "FAIL", "error": "RuntimeError: NaN loss"})
    return rows


def with_copies(rows: list[dict], sources: list[int]) -> list[dict]:
    """``rows`` and, after them, a copy of each source row: its outcome with ``reused_from`` naming it."""
    return rows + [rows[k] | {"reused_from": k} for k in sources]


def report_with_history(rows: list[dict], run: RunMeta | None = None) -> ReportData:
    """One run's report whose trials trained two epochs each; a copy has its source's history."""
    meta = run or run_meta()
    history = pd.DataFrame(
        [
            {
                "run": meta.name,
                "number": number,
                "epoch": float(epoch),
                "val_accuracy": row["val_accuracy"] - e,
            }
            for number, row in enumerate(rows)
            if row.get("val_accuracy") is not None
            for epoch, e in ((1, 0.1), (2, 0.0))
        ]
    )
    return build_report_data([meta], [table(rows, run=meta.name)], [history])


# Each statistic the report prints, as a value that must not change when copies of trials are added.
COUNTED_ONCE = {
    "rows flagged Pareto-optimal": lambda r: r.table.loc[r.table["pareto"], "row"].tolist(),
    "Pareto panels": lambda r: [
        (p.cost, [(run.front, run.dominated, run.pruned, run.failed) for run in p.runs], p.points)
        for p in pareto_infos(r)
    ],
    "C vs width": lambda r: tradeoff_info(r, ratio=2.0),
    "EDF by cardinality": lambda r: edf_info(r, "cardinality", bins=2),
    "EDF by depths": lambda r: edf_info(r, "depths", bins=2),
    "importance": lambda r: importance_infos(r),
    "learning curves": lambda r: curves_info(r),
}


@pytest.mark.parametrize("view", list(COUNTED_ONCE))
def test_a_copy_is_never_a_second_observation(view: str) -> None:
    rows = trained_models()
    # Copies of the best model (on every front), of a dominated one, of the stopped and of the failed one.
    copied = with_copies(rows, [11, 0, 12, 13])
    statistic = COUNTED_ONCE[view]
    assert statistic(report_with_history(copied)) == statistic(report_with_history(rows))


def test_a_copy_is_shown_as_a_copy_and_never_on_a_front() -> None:
    rows = [
        {"val_accuracy": 0.9, "flops": 100},
        {"val_accuracy": 0.8, "flops": 200},
        {"val_accuracy": 0.95, "flops": 300},
        {"val_accuracy": 0.7, "flops": 400},
    ]
    report = data(with_copies(rows, [0]))  # trial 4 is a copy of trial 0, which is on the front
    assert report.table["pareto"].tolist() == [True, False, True, False, False]
    (flops, _) = pareto_infos(report)
    assert flops.runs == (
        ParetoRun("run", front=(0, 2), dominated=(1, 3), pruned=(), failed=(), copies=((4, 0),)),
    )
    assert 4 not in flops.points  # not drawn over its source
    shown = json.loads(pareto_figure(flops).to_json())
    assert all(4 not in trace.get("meta", {}).get("rows", []) for trace in shown["data"])
    assert "1 copy of an earlier trial (not plotted)" in str(shown["layout"]["annotations"])
    info = trials_info(report)
    copy = dict(zip(info.keys, info.rows[4], strict=True))
    assert (copy["reused_from"], copy["pareto"]) == (0, False)
    assert info.keys[info.copy] == "reused_from" and info.headings[info.copy] == "copy of"
    assert dict(zip(info.keys, info.rows[0], strict=True))["reused_from"] is None
    assert table_order(report) == (2, 0, 1, 3, 4)  # the front, the other trained models, then the copy
    assert header_info(report, run_meta()).copies == 1
    # Four trained models are too few for importance, however many copies they have.
    (accuracy, _) = importance_infos(report)
    assert accuracy.importances == ()
    assert accuracy.message == "Not enough completed trials for importance (4; needs 5)."


def runs_of_opposite_trends() -> tuple[RunMeta, pd.DataFrame, RunMeta, pd.DataFrame]:
    """Run ``a`` on digits, where more cardinality helps, and run ``b`` on CIFAR-10, at lower accuracy,
    where it hurts; pooled, b's low accuracies at C=4 would pass for an effect of C."""
    runs = []
    for name, dataset, base, step in (("a", "digits", 0.9, 0.02), ("b", "cifar10", 0.5, -0.02)):
        rows = [
            {
                "flops": 1000,
                "cardinality": cardinality,
                "depths": f"{depth},{depth},{depth}",
                "val_accuracy": base + step * math.log2(cardinality) + 0.002 * (k % 3),
            }
            for cardinality in ((1, 2) if name == "a" else (2, 4))
            for k, depth in enumerate((1, 2, 1, 2))
        ]
        meta = RunMeta(name, Path(name), DesignSpace.from_dict({**SPACE, "dataset": dataset}), run_options())
        runs += [meta, table(rows, run=name)]
    return tuple(runs)  # type: ignore[return-value]


def test_subspace_comparisons_stay_within_each_run() -> None:
    meta_a, a, meta_b, b = runs_of_opposite_trends()
    both = build_report_data([meta_a, meta_b], [a, b])
    alone = {"a": build_report_data([meta_a], [a]), "b": build_report_data([meta_b], [b])}
    info = analyse(both)
    assert [t.run for t in info.tradeoff] == ["a", "b"]
    for each in info.tradeoff:
        assert each == tradeoff_info(alone[each.run])
        assert each.n == 8
    (in_a, in_b) = info.tradeoff
    assert in_a.answer.startswith("At matched complexity, more cardinality helped")
    assert in_b.answer.startswith("At matched complexity, more cardinality hurt")
    assert tradeoff_info(both, run="b") == in_b
    with pytest.raises(ValueError, match="one run"):
        tradeoff_info(both)  # several runs are never pooled by default
    assert [(e.grouping, e.run) for e in info.edfs] == [
        ("run", None),
        ("cardinality", "a"),
        ("depths", "a"),
        ("cardinality", "b"),
        ("depths", "b"),
    ]
    for edf in info.edfs[1:]:
        assert edf == edf_info(alone[edf.run], edf.grouping)
    assert [c.label for c in info.edfs[0].curves] == ["a (n=8)", "b (n=8)"]  # runs are compared, not pooled
    with pytest.raises(ValueError, match="one run"):
        edf_info(both, "cardinality")
    page = render_html(info)
    for k, each in enumerate(info.tradeoff):
        assert str(escape(each.answer)) in page and f'id="plot-tradeoff-{k}"' in page
    assert page.index(str(escape(in_a.answer))) < page.index(str(escape(in_b.answer)))


# ------------------------------------------------------------------------------------- trade-off study

TINY = Architecture.from_name(TINY_NAME)
EVIL = "<img src=x onerror=alert(1)>"


def study_data() -> tuple[TradeoffPlan, ReportData]:
    """A plain search run ``s`` (one trial), then a study of C=1 and C=2 over seeds 0 and 1 in run ``t``:
    C=1 completes both seeds, C=2 completes seed 0 (plus a reused copy of it) and fails seed 1."""
    plan = TradeoffPlan.family(TINY, "cardinality", [1, 2], "bottleneck_width", match="flops", seeds=2)
    one, two = (m.arch for m in plan.members)

    def trial(arch: Architecture, seed: int, **row: object) -> dict:
        return (
            {"name": arch.name, "seed": seed, "cardinality": arch.cardinality}
            | {
                "bottleneck_width": arch.bottleneck_width,
                "flops": 90_000,
                "epochs": 2,
                "latency_ms": 0.5,
            }
            | row
        )

    rows = [
        trial(one, 0, val_accuracy=0.80),
        trial(two, 0, val_accuracy=0.85, latency_ms=0.7),
        trial(one, 1, val_accuracy=0.82),
        trial(two, 1, state="FAIL", epochs=0, error=f"RuntimeError: NaN loss {EVIL}"),
        trial(two, 0, val_accuracy=0.85, reused_from=1),  # the same training run as trial 1
    ]
    accuracy = {0: (0.70, 0.80), 1: (0.75, 0.85), 2: (0.72, 0.82), 4: (0.75, 0.85)}
    history = pd.DataFrame(
        [
            {"run": "t", "number": number, "epoch": float(epoch), "val_accuracy": value}
            for number, values in accuracy.items()
            for epoch, value in enumerate(values, start=1)
        ]
    )
    search = table([{"val_accuracy": 0.9, "flops": 100}], run="s")
    study = RunMeta("t", Path("t"), DesignSpace.from_dict(SPACE), run_options(sampler="grid"), plan=plan)
    return plan, build_report_data([run_meta("s"), study], [search, table(rows, run="t")], [history])


def test_study_info_of_a_tradeoff_run() -> None:
    plan, report = study_data()
    (info,) = study_infos(report)  # the plain search run has no study
    assert (info.run, info.axis, info.match, info.seeds, info.best) == ("t", "cardinality", "flops", 2, 1)
    assert (info.description, info.target) == (plan.describe(), plan.target_text())
    c1, c2 = info.members
    assert (c1.label, c1.name, c1.cardinality, c1.bottleneck_width) == ("C=1", "X-11-1x4d-w4-s4-r8-i1", 1, 4)
    assert c1.errors == pytest.approx({0: 0.20, 1: 0.18}) and c1.failures == () and c1.epochs == 2
    assert c2.errors == pytest.approx({0: 0.15})  # the reused copy of seed 0 counts once
    assert c2.failures == (f"seed 1: RuntimeError: NaN loss {EVIL}",) and c2.latency_ms == 0.7
    assert (c1.val_error_mean, c2.val_error_std) == (pytest.approx(0.19), None)
    # The verdict is the command line's, at its confidence; C=2 has one seed, so nothing is decided.
    results = member_results(plan, report.table[report.table["run"] == "t"])
    assert info.verdict == verdict(plan, results) and info.reading == info.verdict.reading
    assert info.confidence == DEFAULT_CONFIDENCE == 0.95
    assert info.reading.startswith(
        f"at {plan.target_text()} (matched flops), C=2 is ahead of C=1 by 4.0 points"
    )
    (versus,) = info.verdict.comparisons
    assert (versus.better.label, versus.worse.label, versus.decided, versus.ci_low) == (
        "C=2",
        "C=1",
        False,
        None,
    )
    # C=1's two seeds: a Student-t interval of the mean with 1 degree of freedom; C=2's one seed: none.
    from scipy import stats

    c1_interval = stats.t.interval(0.95, 1, loc=0.19, scale=np.std([0.20, 0.18], ddof=1) / math.sqrt(2))
    assert info.intervals == (pytest.approx(c1_interval), None)
    assert info.curves == (
        MemberCurve("C=1", (1, 2), pytest.approx((0.29, 0.19)), pytest.approx((0.02 / 2**0.5,) * 2), (2, 2)),
        MemberCurve("C=2", (1, 2), pytest.approx((0.25, 0.15)), (None, None), (1, 1)),
    )
    header = header_info(report, report.runs[1])
    assert header.study == f"{plan.describe()}; 2 seeds each (0, 1)"
    assert header_info(report, report.runs[0]).study == ""


def test_study_info_without_results() -> None:
    plan = TradeoffPlan.family(TINY, "cardinality", [1, 2], "bottleneck_width", match="flops", seeds=2)
    study = RunMeta("t", Path("t"), DesignSpace.from_dict(SPACE), run_options(), plan=plan)
    rows = [{"name": plan.members[0].arch.name, "seed": 0, "state": "RUNNING"}]
    (info,) = study_infos(build_report_data([study], [table(rows, run="t")]))
    assert info.best is None and [m.pending for m in info.members] == [2, 2]
    assert info.curves == (MemberCurve("C=1", (), (), (), ()), MemberCurve("C=2", (), (), (), ()))
    assert info.reading == "Not enough results to compare: 0 of 2 members completed a seed."
    assert info.intervals == (None, None) and info.verdict.comparisons == () and info.verdict.method == ""


def three_seed_study(confidence: float = DEFAULT_CONFIDENCE) -> tuple[TradeoffPlan, ReportData]:
    """C = 1, 2, 4 over three seeds. C=4 has the lowest mean error (20.67 %), clearly below C=1 (30 %)
    seed by seed, but within noise of C=2 (21 %): one decided comparison and one not separated yet."""
    plan = TradeoffPlan.family(TINY, "cardinality", [1, 2, 4], "bottleneck_width", match="flops", seeds=3)
    errors = {1: (0.30, 0.31, 0.29), 2: (0.20, 0.22, 0.21), 4: (0.19, 0.23, 0.20)}
    rows = [
        {
            "name": member.arch.name,
            "seed": seed,
            "cardinality": member.arch.cardinality,
            "bottleneck_width": member.arch.bottleneck_width,
            "flops": 90_000,
            "epochs": 2,
            "val_accuracy": 1 - errors[member.arch.cardinality][k],
        }
        for k, seed in enumerate(plan.seed_values)
        for member in plan.members
    ]
    study = RunMeta("t", Path("t"), DesignSpace.from_dict(SPACE), run_options(sampler="grid"), plan=plan)
    return plan, build_report_data([study], [table(rows, run="t")])


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_study_intervals_and_comparisons_are_the_command_lines(confidence: float) -> None:
    from scipy import stats

    plan, report = three_seed_study()
    (info,) = study_infos(report, confidence=confidence)
    results = member_results(plan, report.table)
    assert info.verdict == verdict(plan, results, confidence=confidence) and info.confidence == confidence
    assert info.best == 2 and info.verdict.best.label == "C=4"
    for member, interval in zip(info.members, info.intervals, strict=True):
        errors = list(member.errors.values())
        scale = np.std(errors, ddof=1) / math.sqrt(3)
        assert interval == pytest.approx(stats.t.interval(confidence, 2, loc=np.mean(errors), scale=scale))
    # The best against each rival: paired over the three seeds, Student-t with 2 degrees of freedom,
    # Bonferroni-corrected over the 3 pairs of 3 members.
    by_rival = {c.worse.label: c for c in info.verdict.comparisons}
    assert set(by_rival) == {"C=1", "C=2"}
    best = errors_of(info, "C=4")
    for rival, decided in (("C=1", True), ("C=2", False)):
        c = by_rival[rival]
        diffs = 100 * (np.array(errors_of(info, rival)) - np.array(best))
        level = 1 - (1 - confidence) / 3
        low, high = stats.t.interval(level, 2, loc=diffs.mean(), scale=diffs.std(ddof=1) / math.sqrt(3))
        assert (c.difference, c.ci_low, c.ci_high) == pytest.approx((diffs.mean(), low, high))
        assert (c.paired, c.df, c.decided) == (3, 2, decided)
        p_value = min(1.0, 3 * stats.ttest_rel(errors_of(info, rival), best).pvalue)
        assert c.p_value == pytest.approx(p_value)
        row = comparison_row(c)
        assert (row["better"], row["worse"], row["seeds"]) == ("C=4", rival, "paired over 3 seeds")
        assert row["interval"] == f"{low:+.2f} to {high:+.2f}" and row["difference"] == f"{diffs.mean():.2f}"
        assert row["decision"] == "decided" if decided else row["decision"].startswith("not separated yet")
    assert (
        f"about {seeds_text(by_rival['C=2'].seeds_needed)} each"
        in comparison_row(by_rival["C=2"])["decision"]
    )
    fig = json.loads(study_figure(info).to_json())
    mean, _ = fig["data"]
    assert mean["name"] == f"mean and {percent(confidence)} Student-t interval over seeds"
    low, high = info.intervals[0]
    assert mean["error_y"]["array"][0] == pytest.approx(
        100 * (high - info.members[0].val_error_mean), abs=1e-4
    )
    assert mean["error_y"]["arrayminus"][0] == pytest.approx(
        100 * (info.members[0].val_error_mean - low), abs=1e-4
    )


def errors_of(info: StudyInfo, label: str) -> list[float]:
    """A member's errors in seed order."""
    (member,) = [m for m in info.members if m.label == label]
    return [member.errors[seed] for seed in sorted(member.errors)]


def test_study_section_shows_the_comparisons_method_and_confidence() -> None:
    _, report = three_seed_study()
    info = analyse(report)
    (study,) = info.studies
    page = render_html(info)
    assert str(escape(study.reading)) in page
    assert f"Confidence 95% for the comparisons together; method: {study.verdict.method}." in page
    assert "Bonferroni-corrected over the 3 pairs of 3 members" in study.verdict.method
    comparisons = page[page.index('<table class="comparisons">') : page.index('<table class="study">')]
    assert comparisons.count("<tr>") == 3  # heading and the best against each of two rivals
    assert ">decided<" in comparisons and "not separated yet" in comparisons
    assert "error bars: 95% Student-t interval of the mean" in page and "sample std" not in page
    assert "(95% interval" in page  # the members' table states each mean with its interval


def test_tradeoff_section_leads_the_page() -> None:
    _, report = study_data()
    page = render_html(analyse(report))
    sections = [page.index(f'<section id="{anchor}">') for anchor in ("run", "study", "pareto")]
    assert sections == sorted(sections)
    links = [page.index(f'href="#{anchor}"') for anchor in ("run", "study", "pareto")]
    assert links == sorted(links)
    for view in (
        'id="plot-study-0"',
        'id="plot-study-curves-0"',
        '<table class="study">',
        '<tr class="best">',
    ):
        assert view in page
    (study,) = analyse(report).studies
    assert str(escape(study.reading)) in page and "<th>trade-off study</th>" in page
    assert "<td>not separated yet (a single seed on one side: no interval)</td>" in page
    assert EVIL not in page and html.escape(EVIL) in page  # the failure message is shown as text
    plain = render_html(analyse(data([{"val_accuracy": 0.9, "flops": 100}])))
    assert 'id="study"' not in plain and "plot-study" not in plain and "Trade-off study" not in plain


# ----------------------------------------------------------------------------------- figures and the page


def test_trials_info_holds_each_trial_once_as_plain_values() -> None:
    report = data(
        [
            {"val_accuracy": 0.9, "flops": 1_234_567, "params": 2_500_000},
            {"val_accuracy": None, "flops": 80, "state": "FAIL", "error": f"NaN {EVIL}"},
        ]
    )
    info = trials_info(report)
    assert len(info.keys) == len(info.headings) == len(info.rows[0])
    row = dict(zip(info.keys, info.rows[0], strict=True))
    assert (row["gflops"], row["mparams"], row["pareto"], row["width"]) == (0.00123457, 2.5, True, 4)
    assert row["mactivations"] is None  # a run older than the activations count
    failed = dict(zip(info.keys, info.rows[1], strict=True))
    assert (failed["val_accuracy"], failed["reason"], failed["latency_ms"]) == (None, f"NaN {EVIL}", None)
    measured = trials_info(data([{"val_accuracy": 0.9, "activations": 1_234_567}]))
    assert dict(zip(measured.keys, measured.rows[0], strict=True))["mactivations"] == 1.2346
    assert info.keys[info.pareto] == "pareto" and info.order == table_order(report) == (0, 1)


def test_figures_render_from_their_info_alone() -> None:
    _, report = study_data()
    info = analyse(report)
    (study,) = info.studies
    figures = [
        *(pareto_figure(p) for p in info.pareto),
        *(tradeoff_figure(t) for t in info.tradeoff),
        *(edf_figure(e) for e in info.edfs),
        importance_figure(info.importance),
        curves_figure(info.curves),
        study_figure(study),
        study_curves_figure(study),
    ]
    for fig in figures:
        if fig is not None:
            shown = json.loads(fig.to_json())
            assert shown["data"] and EVIL not in str(shown)  # user strings reach Plotly escaped
    assert sum(fig is not None for fig in figures) >= 6
    empty = data([{"val_accuracy": 0.9, "flops": 100}])
    assert curves_figure(curves_info(empty)) is None
    assert tradeoff_figure(tradeoff_info(data([{"state": "FAIL", "flops": 10}]))) is None
    assert edf_figure(edf_info(empty, "cardinality")) is None
    assert importance_figure(tuple(importance_infos(empty))) is None


@pytest.mark.parametrize("name", [TEMPLATE, SCRIPT, STYLE])
def test_page_files_ship_as_package_data(name: str) -> None:
    assert resources.files("nas_resnext.report").joinpath(name).is_file()
    assert asset(name).strip()
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["nas_resnext.report"]
    assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


class _Elements(HTMLParser):
    """The page's script and style elements (attributes, content) and every event-handler attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self.handlers: list[str] = []
        self._open: str | None = None
        self._attrs: dict[str, str | None] = {}
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if tag in ("script", "style"):
            self._open, self._attrs, self._parts = tag, dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._open:
            self._parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            content = "".join(self._parts)
            if tag == "script":
                self.scripts.append((self._attrs, content))
            else:
                self.styles.append(content)
            self._open = None


def test_page_scripts_are_plotly_the_data_and_the_report_script() -> None:
    from plotly.offline import get_plotlyjs

    _, report = study_data()
    info = analyse(report)
    elements = _Elements()
    elements.feed(render_html(info))
    (plotly_js, trials, figures, script) = elements.scripts
    assert plotly_js == ({}, get_plotlyjs())
    assert trials[0] == {"id": "report-data", "type": "application/json"}
    assert json.loads(trials[1])["order"] == list(info.trials.order)
    assert figures[0] == {"id": "report-figures", "type": "application/json"}
    assert [f["id"] for f in json.loads(figures[1])][:2] == ["plot-study-0", "plot-study-curves-0"]
    assert script[0] == {} and script[1].strip() == asset(SCRIPT).strip()
    assert [style.strip() for style in elements.styles] == [asset(STYLE).strip()]
    assert elements.handlers == []
