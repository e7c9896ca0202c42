"""Learning curves: validation accuracy per epoch of every trial that trained, completed or stopped early.

A copy of another trial trained nothing (its history is its source's), so it draws no curve of its own.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from nas_resnext.report.data import ReportData, trained
from nas_resnext.report.views.plotting import WEBGL_POINTS, scatter_class
from nas_resnext.report.views.trials import HOVER


class CurvePoints(NamedTuple):
    """Per-epoch accuracies of some trials, grouped by trial (``row``), by epoch within each."""

    rows: tuple[int, ...]
    epochs: tuple[float, ...]
    accuracy: tuple[float, ...]


class CurvesInfo(NamedTuple):
    complete: tuple[int, ...]  # rows with a history that completed
    stopped: tuple[int, ...]  # rows stopped early (PRUNED) or failed after some epochs
    epochs: int  # the most epochs any trial trained
    complete_points: CurvePoints
    stopped_points: CurvePoints


def curves_info(data: ReportData) -> CurvesInfo:
    """The trained trials split by how they ended, with their per-epoch accuracies."""
    history = data.history
    rows = set(history["row"].astype(int))
    table = trained(data.table)
    table = table[table["row"].isin(rows)]
    max_epoch = history["epoch"].max() if len(history) else 0
    complete = tuple(int(r) for r in table.loc[table["state"] == "COMPLETE", "row"])
    stopped = tuple(int(r) for r in table.loc[table["state"] != "COMPLETE", "row"])
    return CurvesInfo(
        complete,
        stopped,
        int(max_epoch) if pd.notna(max_epoch) else 0,
        _points(history, complete),
        _points(history, stopped),
    )


def _points(history: pd.DataFrame, rows: tuple[int, ...]) -> CurvePoints:
    mine = history[history["row"].astype(int).isin(rows)]
    return CurvePoints(
        tuple(int(r) for r in mine["row"]),
        tuple(float(e) for e in mine["epoch"].to_numpy(dtype=float)),
        tuple(float(a) for a in mine["val_accuracy"].to_numpy(dtype=float)),
    )


def curves_figure(info: CurvesInfo) -> Any | None:
    """A trace of completed and one of stopped curves (gaps between trials); crosses where trials stopped."""
    import plotly.graph_objects as go

    points = len(info.complete_points.rows) + len(info.stopped_points.rows)
    if not points:
        return None
    # Learning curves are lines broken by gaps: WebGL renders thousands of such segments far slower than one
    # SVG path does, so many curves are drawn as plain SVG lines, without per-epoch markers.
    many = points > WEBGL_POINTS
    fig = go.Figure()
    for chosen, label, color, stopped in (
        (info.complete_points, "completed", "#1f77b4", False),
        (info.stopped_points, "stopped early", "#ff7f0e", True),
    ):
        if not chosen.rows:
            continue
        r = np.asarray(chosen.rows, dtype=int)
        x = np.asarray(chosen.epochs, dtype=float)
        y = np.asarray(chosen.accuracy, dtype=float)
        # One trace per kind, curves separated by gaps: a trace per trial would not scale.
        breaks = np.flatnonzero(np.diff(r)) + 1
        xs, ys, ids = [], [], []
        for part in np.split(np.arange(len(r)), breaks):
            xs += [float(v) for v in x[part]] + [None]
            ys += [round(float(v), 4) for v in y[part]] + [None]
            ids += [int(v) for v in r[part]] + [None]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines" if many else "lines+markers",
                line={"color": color, "width": 1},
                marker={"size": 4},
                opacity=0.6,
                name=f"{label} ({len(np.unique(r))})",
                meta={"rows": ids},
                hovertemplate=HOVER.replace("<extra>", "<br>epoch %{x}<extra>"),
            )
        )
        if stopped:
            last = np.append(breaks, len(r)) - 1
            fig.add_trace(
                scatter_class(len(last))(
                    x=[float(v) for v in x[last]],
                    y=[round(float(v), 4) for v in y[last]],
                    mode="markers",
                    marker={"symbol": "x", "size": 8, "color": color},
                    name="where stopped",
                    meta={"rows": [int(v) for v in r[last]]},
                    hovertemplate=HOVER,
                )
            )
    fig.update_layout(
        title="Validation accuracy per epoch",
        xaxis={"title": "epoch", "dtick": 1 if info.epochs <= 20 else None},
        yaxis={"title": "validation accuracy", "tickformat": ".0%"},
        height=420,
    )
    return fig
