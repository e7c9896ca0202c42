"""Cardinality against width at matched complexity: accuracy per C within bins of similar GFLOPs.

This answers the question ResNeXt asks of a budget: spend it on more groups (cardinality C) or on wider
ones. (The ``nas_resnext.tradeoff`` package runs controlled studies of the same question; this view reads
a search's trials.) Each run is analysed on its own, each trained model counted once (copies left out).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from nas_resnext.report.data import ReportData, one_run, trained
from nas_resnext.report.views.plotting import color, percent, text
from nas_resnext.tradeoff.results import DEFAULT_CONFIDENCE  # the command line's, so both speak alike


class CardinalityStats(NamedTuple):
    cardinality: int
    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    group_widths: tuple[int, ...]
    bottleneck_widths: tuple[int, ...]


class ComplexityBin(NamedTuple):
    low_gflops: float
    high_gflops: float
    groups: tuple[CardinalityStats, ...]


class TradeoffInfo(NamedTuple):
    run: str  # the one run analysed
    bins: tuple[ComplexityBin, ...]  # every bin that holds a COMPLETE trained model
    slope: float | None  # accuracy change (points of %) per doubling of C at matched complexity
    ci_low: float | None  # Student-t interval of the slope at ``confidence``
    ci_high: float | None
    n: int  # trained models in bins that compare at least two cardinalities
    answer: str
    stderr: float | None = None  # standard error of the slope (points)
    df: int | None = None  # degrees of freedom of its interval: n - (bins compared) - 1
    confidence: float = DEFAULT_CONFIDENCE


def tradeoff_infos(data: ReportData, **options: Any) -> list[TradeoffInfo]:
    """``tradeoff_info`` of each run in turn (``options`` as it takes them)."""
    return [tradeoff_info(data, run.name, **options) for run in data.runs]


def tradeoff_info(
    data: ReportData,
    run: str | None = None,
    ratio: float = math.sqrt(2),
    confidence: float = DEFAULT_CONFIDENCE,
) -> TradeoffInfo:
    """Accuracy against cardinality within complexity bins (factor ``ratio`` wide) of one run, with
    Student-t intervals at ``confidence``; ``run`` may be left out of a report of one run (``one_run``).

    The answer is the pooled within-bin least-squares slope of accuracy on log2(C) (one intercept per bin,
    one common slope): bins remove the complexity difference, so a positive slope says "at this budget
    spend it on cardinality", a negative one "on width (fewer, wider groups)". Its interval is Student-t
    with the pooled residual variance and n - bins - 1 degrees of freedom. Copies are left out: a copy
    repeats its source's accuracy, so counting it would narrow the interval with no new data.
    """
    name = one_run(data, run)
    table = trained(data.table)
    table = table[table["run"] == name]
    done = table[(table["state"] == "COMPLETE") & table["val_accuracy"].notna() & table["flops"].notna()]
    done = done[done["cardinality"].notna()]
    if done.empty:
        return TradeoffInfo(
            name, (), None, None, None, 0, "Not enough data: no completed trials.", confidence=confidence
        )
    flops = done["flops"].astype(float).to_numpy()
    bin_of = np.floor(np.log(flops) / np.log(ratio)).astype(int)
    bins, samples = [], []
    for b in np.unique(bin_of):
        part = done[bin_of == b]
        groups = tuple(
            _cardinality_stats(int(c), part[part["cardinality"] == c], confidence)
            for c in sorted(part["cardinality"].astype(int).unique())
        )
        bins.append(ComplexityBin(ratio**b / 1e9, ratio ** (b + 1) / 1e9, groups))
        if len(groups) >= 2:
            samples.append(
                (np.log2(part["cardinality"].astype(float).to_numpy()), part["val_accuracy"].to_numpy() * 100)
            )
    n = sum(len(x) for x, _ in samples)
    if not samples or n < 6:
        return TradeoffInfo(
            name,
            tuple(bins),
            None,
            None,
            None,
            n,
            "Not enough data: fewer than 6 trained models (copies not counted) share a complexity bin with "
            f"one of another cardinality ({n} do). Run more trials to compare C and width at matched "
            "complexity.",
            confidence=confidence,
        )
    slope, stderr, df = pooled_slope(samples)
    low, high = t_interval(slope, stderr, df, confidence)
    where = f"{n} trained models in {len(samples)} complexity bin{'s' if len(samples) > 1 else ''}"
    interval = (
        f"{slope:+.2f} points of accuracy per doubling of C (pooled within-bin least-squares slope, "
        f"{percent(confidence)} Student-t interval {low:+.2f} to {high:+.2f} with {df} degrees of freedom; "
        f"{where})"
    )
    if low > 0:
        answer = f"At matched complexity, more cardinality helped: {interval}. Spend the budget on C."
    elif high < 0:
        answer = (
            f"At matched complexity, more cardinality hurt: {interval}. "
            "Spend the budget on width (fewer, wider groups)."
        )
    else:
        answer = (
            f"At matched complexity, C against width is not decided: {interval}; the interval includes 0, "
            "so the data do not separate them yet."
        )
    return TradeoffInfo(name, tuple(bins), slope, low, high, n, answer, stderr, df, confidence)


def pooled_slope(samples: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float, int]:
    """The common slope of y on x with one intercept per sample (bin), its standard error and degrees of
    freedom: the ordinary least-squares fit of ``y ~ bin + x``, written out per bin.

    Each bin needs two distinct x; the residual variance pools every bin's residuals over
    n - bins - 1 degrees of freedom (each bin's intercept and the slope are estimated)."""
    sxy = sxx = 0.0
    for x, y in samples:
        xc = x - x.mean()
        sxy += float(xc @ (y - y.mean()))
        sxx += float(xc @ xc)
    slope = sxy / sxx
    sse = sum(float(np.sum((y - y.mean() - slope * (x - x.mean())) ** 2)) for x, y in samples)
    df = sum(len(x) for x, _ in samples) - len(samples) - 1
    return slope, math.sqrt(sse / df / sxx), df


def t_interval(estimate: float, stderr: float, df: int, confidence: float) -> tuple[float, float]:
    """``estimate`` ± the Student-t quantile (``df`` degrees of freedom) times ``stderr``."""
    from scipy import stats

    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * stderr
    return estimate - half, estimate + half


def _cardinality_stats(cardinality: int, part: pd.DataFrame, confidence: float) -> CardinalityStats:
    """Mean accuracy of one cardinality in one bin with its Student-t interval (n - 1 degrees of freedom):
    groups hold a handful of models, where a bootstrap of the mean is far too narrow. One model: no
    interval (its ends are the mean)."""
    accuracy = part["val_accuracy"].to_numpy() * 100
    mean = float(accuracy.mean())
    std = float(accuracy.std(ddof=1)) if len(accuracy) > 1 else 0.0
    if len(accuracy) > 1:
        low, high = t_interval(mean, std / math.sqrt(len(accuracy)), len(accuracy) - 1, confidence)
    else:
        low = high = mean
    return CardinalityStats(
        cardinality,
        len(accuracy),
        mean,
        std,
        low,
        high,
        tuple(sorted(int(v) for v in part["group_width"].dropna().unique())),
        tuple(sorted(int(v) for v in part["bottleneck_width"].dropna().unique())),
    )


def tradeoff_figure(info: TradeoffInfo) -> Any | None:
    """Mean accuracy and its CI per C, one line per complexity bin; beside it the same against C·d."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not info.bins:
        return None
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("accuracy vs cardinality C", "accuracy vs group width C·d"),
        horizontal_spacing=0.1,
    )
    for k, b in enumerate(info.bins):
        bin_color = color(k)
        name = f"{b.low_gflops:.3g}–{b.high_gflops:.3g} GFLOPs"
        means = [g.mean for g in b.groups]
        error = {
            "type": "data",
            "symmetric": False,
            "array": [g.ci_high - g.mean for g in b.groups],
            "arrayminus": [g.mean - g.ci_low for g in b.groups],
        }
        hover = [
            f"C={g.cardinality}, n={g.n}<br>mean {g.mean:.2f}% ± {g.std:.2f} (std)<br>"
            + (
                f"{percent(info.confidence)} Student-t interval {g.ci_low:.2f}–{g.ci_high:.2f} ({g.n - 1} df)"
                if g.n > 1
                else "one model: no interval"
            )
            + f"<br>C·d {list(g.group_widths)}, d {list(g.bottleneck_widths)}"
            for g in b.groups
        ]
        common = {"y": means, "error_y": error, "hovertext": hover, "hoverinfo": "text", "legendgroup": name}
        fig.add_trace(
            go.Scatter(
                x=[g.cardinality for g in b.groups],
                mode="lines+markers",
                name=name,
                line={"color": bin_color},
                **common,
            ),
            row=1,
            col=1,
        )
        group_width = [
            float(np.exp(np.mean(np.log(g.group_widths)))) if g.group_widths else None for g in b.groups
        ]
        fig.add_trace(
            go.Scatter(
                x=group_width,
                mode="markers",
                name=name,
                showlegend=False,
                marker={"color": bin_color},
                **common,
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(type="log", dtick=math.log10(2), title_text="cardinality C", row=1, col=1)
    fig.update_xaxes(type="log", title_text="group width C·d (geometric mean)", row=1, col=2)
    fig.update_yaxes(
        title_text=f"val accuracy (%), mean and {percent(info.confidence)} t-interval", row=1, col=1
    )
    fig.update_layout(
        title=f"C vs width at matched complexity in {text(info.run)} (bins of a factor √2 in GFLOPs)",
        height=460,
    )
    return fig
