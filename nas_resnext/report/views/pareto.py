"""Validation accuracy against each cost (GFLOPs, Mparams, activations, latency): every run's trials and its
2-D front.

A copy of another trial (a redrawn architecture, not trained again) is not plotted: it would sit on its
source's point, and on a front it would list one trained model twice. The panel counts copies in a note.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import pandas as pd

from nas_resnext.pareto import losses, pareto_mask
from nas_resnext.report.data import ReportData, is_copy
from nas_resnext.report.views.plotting import ACTIVATIONS_LABEL, FLOPS_LABEL, color, scatter_class, text
from nas_resnext.report.views.trials import HOVER
from nas_resnext.space import Budget

COST_LABELS = {
    "flops": FLOPS_LABEL,
    "params": "Mparams",
    "activations": ACTIVATIONS_LABEL,
    "latency_ms": "latency (ms, batch 1)",
}
# Costs as shown: flops in G, params and activations in M.
COST_SCALES = {"flops": 1e9, "params": 1e6, "activations": 1e6, "latency_ms": 1.0}
# Failed trials named in a panel's hover note; the rest are counted.
FAILED_SHOWN = 15


class ParetoRun(NamedTuple):
    run: str
    front: tuple[int, ...]  # rows on this panel's 2-D front, by increasing cost
    dominated: tuple[int, ...]  # other COMPLETE rows
    pruned: tuple[int, ...]  # PRUNED rows with an accuracy (their last epoch's)
    failed: tuple[tuple[int, str], ...]  # rows without an accuracy to plot, and why
    copies: tuple[tuple[int, int], ...] = ()  # copies, not plotted: (row, the source's trial number)


class ParetoInfo(NamedTuple):
    cost: str  # column of the table
    label: str
    scale: float  # the column divided by this is what the axis shows
    log_x: bool
    budget: tuple[float, ...]  # vertical budget lines, in axis units
    runs: tuple[ParetoRun, ...]
    points: dict[int, tuple[float, float]]  # each plotted row: (cost in axis units, validation accuracy)
    numbers: dict[int, int]  # each failed or copied row's trial number


def pareto_infos(data: ReportData) -> list[ParetoInfo]:
    """One panel per cost that was measured: accuracy vs GFLOPs, Mparams, activations and latency. A run
    that did not measure a cost (one older than the activations count) has nothing on that panel."""
    table = data.table
    infos = []
    for cost in COST_LABELS:
        if table[cost].notna().sum() == 0:
            continue
        runs = tuple(_pareto_run(table[table["run"] == run.name], run.name, cost) for run in data.runs)
        # Every run's limits (runs over one space share them, so one line each).
        budget: set[float] = set()
        for run in data.runs:
            budget.update(v for v in _budget_limits(run.space.budget, cost) if v is not None)
        plotted = table[table["val_accuracy"].notna() & table[cost].notna() & ~is_copy(table)]
        x = plotted[cost].to_numpy(dtype=float) / COST_SCALES[cost]
        y = plotted["val_accuracy"].to_numpy(dtype=float)
        # Failed trials and copies are named in notes rather than plotted.
        noted = table[table["row"].isin([r for run in runs for r, _ in (*run.failed, *run.copies)])]
        infos.append(
            ParetoInfo(
                cost=cost,
                label=COST_LABELS[cost],
                scale=COST_SCALES[cost],
                log_x=cost != "latency_ms",
                budget=tuple(sorted(budget)),
                runs=runs,
                points={int(r): (float(a), float(b)) for r, a, b in zip(plotted["row"], x, y, strict=True)},
                numbers={int(r): int(n) for r, n in zip(noted["row"], noted["number"], strict=True)},
            )
        )
    return infos


def _budget_limits(budget: Budget, cost: str) -> tuple[float | None, ...]:
    """The budget's limits on ``cost``, in the panel's axis units (None where unbounded)."""
    if cost == "flops":
        return (budget.min_gflops, budget.max_gflops)
    if cost == "params":
        return (budget.max_mparams,)
    if cost == "activations":
        return (budget.min_mactivations, budget.max_mactivations)
    return ()


def _pareto_run(table: pd.DataFrame, run: str, cost: str) -> ParetoRun:
    if table[cost].isna().all():  # not measured in this run: nothing to plot, nothing failed
        return ParetoRun(run=run, front=(), dominated=(), pruned=(), failed=())
    copies = table[is_copy(table)]
    table = table[~is_copy(table)]
    has_point = table["val_accuracy"].notna() & table[cost].notna()
    complete = table[(table["state"] == "COMPLETE") & has_point]
    mask = pareto_mask(losses(complete["val_accuracy"], [complete[cost].astype(float)], [1.0]))
    front = complete[mask].sort_values([cost, "val_accuracy"], ascending=[True, False], kind="stable")
    pruned = table[(table["state"] == "PRUNED") & has_point]
    others = table[~table.index.isin(complete.index) & ~table.index.isin(pruned.index)]
    return ParetoRun(
        run=run,
        front=tuple(int(r) for r in front["row"]),
        dominated=tuple(int(r) for r in complete.loc[~mask, "row"]),
        pruned=tuple(int(r) for r in pruned["row"]),
        failed=tuple(
            (int(r), str(reason)) for r, reason in zip(others["row"], others["reason"], strict=True)
        ),
        copies=tuple(
            (int(r), int(source)) for r, source in zip(copies["row"], copies["reused_from"], strict=True)
        ),
    )


def pareto_figure(info: ParetoInfo) -> Any:
    """Each run's dominated, stopped and front trials; failed ones in a hover note; the budget lines."""
    import plotly.graph_objects as go

    total = sum(len(r.front) + len(r.dominated) + len(r.pruned) for r in info.runs)
    scatter = scatter_class(total)
    fig = go.Figure()
    several = len(info.runs) > 1
    notes = []
    for k, run in enumerate(info.runs):
        line_color = color(k)
        prefix = f"{text(run.run)}: " if several else ""
        for rows, label, style in (
            (run.dominated, "dominated", {"marker": {"color": line_color, "opacity": 0.3, "size": 6}}),
            (
                run.pruned,
                "stopped early",
                {"marker": {"color": line_color, "symbol": "x", "opacity": 0.6, "size": 7}},
            ),
        ):
            if rows:
                x, y = _axis_values(info, rows)
                fig.add_trace(
                    scatter(
                        x=x,
                        y=y,
                        mode="markers",
                        name=f"{prefix}{label} ({len(rows)})",
                        meta={"rows": list(rows)},
                        hovertemplate=HOVER,
                        **style,
                    )
                )
        if run.front:
            x, y = _axis_values(info, run.front)
            fig.add_trace(
                scatter(
                    x=x,
                    y=y,
                    mode="lines+markers",
                    line={"shape": "hv", "color": line_color, "width": 2},
                    marker={"color": line_color, "size": 9, "line": {"color": "white", "width": 1}},
                    name=f"{prefix}Pareto front ({len(run.front)})",
                    meta={"rows": list(run.front)},
                    hovertemplate=HOVER,
                )
            )
        if run.failed:
            lines = [f"trial {info.numbers[r]}: {text(why)[:160]}" for r, why in run.failed]
            label = f"{prefix}{len(run.failed)} failed/unplotted (hover)"
            notes.append(_listing_note(label, lines, len(notes), "#b00"))
        if run.copies:
            lines = [f"trial {info.numbers[r]} = trial {source}" for r, source in run.copies]
            count = (
                "1 copy of an earlier trial"
                if len(run.copies) == 1
                else f"{len(run.copies)} copies of earlier trials"
            )
            notes.append(_listing_note(f"{prefix}{count} (not plotted)", lines, len(notes), "#666"))
    for value in info.budget:
        fig.add_vline(x=value, line_dash="dash", line_color="#555")
        # Annotations on a log axis take log10 of the value (shapes take the value itself).
        notes.append(
            {
                "x": math.log10(value) if info.log_x else value,
                "y": 1.0,
                "yref": "paper",
                "text": f"budget {value:g}",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
            }
        )
    fig.update_layout(
        title=f"Validation accuracy vs {info.label}",
        xaxis={"title": info.label, "type": "log" if info.log_x else "linear"},
        yaxis={"title": "validation accuracy", "tickformat": ".1%"},
        annotations=list(fig.layout.annotations) + notes,
        margin={"b": 90 + 20 * len(notes)},
        height=480,
        legend={"orientation": "v"},
    )
    return fig


def _axis_values(info: ParetoInfo, rows: tuple[int, ...]) -> tuple[list[Any], list[Any]]:
    """The rows' costs and accuracies as plotted: 5 significant digits keep the page small."""
    points = [info.points[r] for r in rows]
    return [_short(x) for x, _ in points], [_short(y) for _, y in points]


def _short(value: float) -> float | None:
    return float(f"{value:.5g}") if math.isfinite(value) else None


def _listing_note(label: str, lines: list[str], below: int, font_color: str) -> dict[str, Any]:
    """A note under the plot (the ``below``-th) whose hover lists the first ``FAILED_SHOWN`` of ``lines``."""
    more = f"<br>and {len(lines) - FAILED_SHOWN} more" if len(lines) > FAILED_SHOWN else ""
    return {
        "text": label,
        "hovertext": "<br>".join(lines[:FAILED_SHOWN]) + more,
        "xref": "paper",
        "yref": "paper",
        "x": 1.0,
        "y": -0.18 - 0.06 * below,
        "showarrow": False,
        "xanchor": "right",
        "font": {"color": font_color},
    }
