"""A trade-off study (a run with a plan): its verdict, error per member, and the members' learning curves.

The paper's Table 3 and Figure 5 for the study's members: every member trained for every seed under
identical settings, at matched complexity. The statistics are the command line's
(``nas_resnext.tradeoff.results``): the same intervals, comparisons and reading at the same confidence.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import pandas as pd

from nas_resnext.report.data import ReportData, RunMeta
from nas_resnext.report.views.plotting import color, percent, text
from nas_resnext.tradeoff.plan import SPENDING, TradeoffPlan
from nas_resnext.tradeoff.results import (
    DEFAULT_CONFIDENCE,
    Comparison,
    MemberResult,
    Verdict,
    mean_interval,
    member_results,
    verdict,
)
from nas_resnext.units import gflops_text


class MemberCurve(NamedTuple):
    """One member's learning curve: validation error per epoch over its completed seeds."""

    label: str
    epochs: tuple[int, ...]
    mean: tuple[float, ...]  # validation error (fraction), mean over the seeds that reached the epoch
    std: tuple[float | None, ...]  # sample standard deviation over seeds; None with fewer than two
    seeds: tuple[int, ...]  # how many seeds reached each epoch


class StudyInfo(NamedTuple):
    """A trade-off study (one run with a plan): the paper's Table 3 and Figure 5 for its members."""

    run: str
    description: str
    axis: str  # the varied axis, or "spending"
    match: str  # "flops" or "params"
    target: str  # the matched complexity in words
    seeds: int  # seeds planned per member
    members: tuple[MemberResult, ...]  # in plan order
    # Per member (plan order): Student-t interval of the mean validation error (fractions) at
    # ``confidence``; None with fewer than two seeds.
    intervals: tuple[tuple[float, float] | None, ...]
    best: int | None  # index of the verdict's best member; None when none completed a seed
    verdict: Verdict  # the best against each rival, the method and the reading
    confidence: float
    curves: tuple[MemberCurve, ...]  # in plan order, one per member (empty curves for members without one)

    @property
    def reading(self) -> str:
        """The verdict's one line, as the command line prints it."""
        return self.verdict.reading


def study_infos(data: ReportData, confidence: float = DEFAULT_CONFIDENCE) -> tuple[StudyInfo, ...]:
    """One ``StudyInfo`` per run that holds a trade-off plan, in the order of ``data.runs``."""
    return tuple(_study_info(data, run, run.plan, confidence) for run in data.runs if run.plan is not None)


def _study_info(data: ReportData, run: RunMeta, plan: TradeoffPlan, confidence: float) -> StudyInfo:
    part = data.table[data.table["run"] == run.name]
    results = member_results(plan, part)
    found = verdict(plan, results, confidence=confidence, looks=plan.looks)  # as the command line reads it
    curves = tuple(
        _member_curve(data.history, plan.label(i), _completed_rows(part, m.arch.name, plan.seed_values))
        for i, m in enumerate(plan.members)
    )
    return StudyInfo(
        run=run.name,
        description=plan.describe(),
        axis=plan.axis,
        match=plan.match,
        target=plan.target_text(),
        seeds=plan.seeds,
        members=tuple(results),
        intervals=tuple(mean_interval(r, confidence=confidence) for r in results),
        best=found.best.index if found.best is not None else None,
        verdict=found,
        confidence=confidence,
        curves=curves,
    )


def _completed_rows(part: pd.DataFrame, name: str, seeds: tuple[int, ...]) -> list[int]:
    """The rows whose errors ``member_results`` counts: per planned seed, the first COMPLETE trial that was
    trained (a reused trial copies another's history, so it would count that training run twice)."""
    done = part[(part["name"] == name) & (part["state"] == "COMPLETE") & part["val_accuracy"].notna()]
    done = done[done["reused_from"].isna()]
    seed = pd.to_numeric(done["seed"], errors="coerce")
    return [int(done.loc[seed == s, "row"].iloc[0]) for s in seeds if (seed == s).any()]


def _member_curve(history: pd.DataFrame, label: str, rows: list[int]) -> MemberCurve:
    mine = history[history["row"].isin(rows)]
    errors = (1.0 - mine["val_accuracy"].astype(float)).groupby(mine["epoch"].astype(int))
    stats = errors.agg(["mean", "std", "count"]).sort_index()
    return MemberCurve(
        label,
        tuple(int(e) for e in stats.index),
        tuple(float(v) for v in stats["mean"]),
        tuple(float(v) if n > 1 else None for v, n in zip(stats["std"], stats["count"], strict=True)),
        tuple(int(n) for n in stats["count"]),
    )


def study_figure(study: StudyInfo) -> Any | None:
    """Validation error per member (plan order): the mean over seeds with its Student-t interval at the
    study's confidence, and each seed as a circle."""
    import plotly.graph_objects as go

    members = study.members
    if not any(m.errors for m in members):
        return None
    labels = [text(m.label) for m in members]
    means = [m.val_error_mean for m in members]
    # The bars' lengths above and below the mean (fractions; shown in points). A member with fewer than
    # two seeds has no interval, so no bar.
    above = [
        None if i is None or v is None else i[1] - v for v, i in zip(means, study.intervals, strict=True)
    ]
    below = [
        None if i is None or v is None else v - i[0] for v, i in zip(means, study.intervals, strict=True)
    ]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=[_rounded(v, 100) for v in means],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [_rounded(v, 100) for v in above],
                "arrayminus": [_rounded(v, 100) for v in below],
            },
            mode="lines+markers",
            line={"color": color(0)},
            marker={"size": 10},
            name=f"mean and {percent(study.confidence)} Student-t interval over seeds",
            hovertext=[
                _member_hover(m, i, study.confidence) for m, i in zip(members, study.intervals, strict=True)
            ],
            hoverinfo="text",
        )
    )
    # Each seed's error on top of the mean, open so the mean and its error bar stay visible beneath.
    seeds = [(text(m.label), seed, error) for m in members for seed, error in sorted(m.errors.items())]
    fig.add_trace(
        go.Scatter(
            x=[label for label, _, _ in seeds],
            y=[round(100 * error, 4) for _, _, error in seeds],
            mode="markers",
            marker={"color": "#444", "size": 7, "symbol": "circle-open", "opacity": 0.6},
            name="each seed",
            hovertext=[f"{label}, seed {seed}: {100 * error:.2f} %" for label, seed, error in seeds],
            hoverinfo="text",
        )
    )
    match = "FLOPs" if study.match == "flops" else study.match
    axis = "budget spent on" if study.axis == SPENDING else text(study.axis)
    fig.update_layout(
        title=f"Validation error vs {axis} at matched {text(match)} ({text(study.target)})",
        xaxis={
            "title": axis,
            "type": "category",
            "categoryorder": "array",
            "categoryarray": labels,
        },
        yaxis={"title": "validation error (%)"},
        height=420,
    )
    return fig


def study_curves_figure(study: StudyInfo) -> Any | None:
    """Validation error per epoch, one line per member (mean over seeds, std as error bars): Figure 5."""
    import plotly.graph_objects as go

    curves = [c for c in study.curves if c.epochs]
    if not curves:
        return None
    fig = go.Figure()
    for k, curve in enumerate(study.curves):
        if not curve.epochs:
            continue
        label = text(curve.label)
        fig.add_trace(
            go.Scatter(
                x=list(curve.epochs),
                y=[_rounded(v, 100) for v in curve.mean],
                error_y={"type": "data", "array": [_rounded(v, 100) for v in curve.std]},
                mode="lines+markers",
                line={"color": color(k)},
                marker={"size": 5},
                name=label,
                hovertext=[
                    f"{label}, epoch {epoch}: {error_percent(mean, std)} % over {seeds_text(n)}"
                    for epoch, mean, std, n in zip(
                        curve.epochs, curve.mean, curve.std, curve.seeds, strict=True
                    )
                ],
                hoverinfo="text",
            )
        )
    epochs = max(max(c.epochs) for c in curves)
    fig.update_layout(
        title="Validation error per epoch (mean over seeds; error bars: std)",
        xaxis={"title": "epoch", "dtick": 1 if epochs <= 20 else None},
        yaxis={"title": "validation error (%)"},
        height=420,
    )
    return fig


def _member_hover(member: MemberResult, interval: tuple[float, float] | None, confidence: float) -> str:
    m = member
    result = (
        f"val error {error_interval(m.val_error_mean, interval, confidence)} over {seeds_text(m.seeds)}"
        if m.errors
        else "no completed seed"
    )
    return (
        f"<b>{text(m.name)}</b><br>C {m.cardinality}, d {m.bottleneck_width}, width {m.width}, "
        f"depths {','.join(map(str, m.depths))}<br>"
        f"{gflops_text(m.flops)} GFLOPs, {m.params / 1e6:.4g} Mparams<br>{result}"
    )


def seeds_text(n: int) -> str:
    """``1 seed``, ``3 seeds``."""
    return f"{n} seed{'' if n == 1 else 's'}"


def _rounded(value: float | None, scale: float = 1.0) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value * scale, 4)


def error_percent(mean: float | None, std: float | None) -> str:
    """A validation error in percent: ``7.25 ± 0.31``, ``7.25`` with one seed, ``—`` without any."""
    if mean is None:
        return "—"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def error_interval(mean: float | None, interval: tuple[float, float] | None, confidence: float) -> str:
    """A mean validation error and its interval in percent: ``7.25 % (95% interval 6.80 to 7.70)``,
    ``7.25 % (one seed: no interval)``, ``—`` without any seed."""
    if mean is None:
        return "—"
    if interval is None:
        return f"{100 * mean:.2f} % (one seed: no interval)"
    low, high = (100 * v for v in interval)
    return f"{100 * mean:.2f} % ({percent(confidence)} interval {low:.2f} to {high:.2f})"


def comparison_row(comparison: Comparison) -> dict[str, str]:
    """One row of the page's comparisons table, in words: the best member against one rival."""
    c = comparison
    interval = (
        f"{c.ci_low:+.2f} to {c.ci_high:+.2f}" if c.ci_low is not None and c.ci_high is not None else "—"
    )
    if c.decided:
        decision = "decided"
    elif c.ci_low is None:
        decision = "not separated yet (a single seed on one side: no interval)"
    else:
        # The command line's estimate at the spread observed; None for a tie, which no seeds separate.
        decision = "not separated yet" + (
            f" (about {seeds_text(c.seeds_needed)} each would separate them)" if c.seeds_needed else ""
        )
    return {
        "better": c.better.label,
        "worse": c.worse.label,
        "difference": f"{c.difference:.2f}",
        "interval": interval,
        "seeds": f"paired over {seeds_text(c.paired)}" if c.paired else "unpaired",
        "p_value": f"{c.p_value:.3g}" if c.p_value is not None else "—",
        "decision": decision,
    }
