"""Design-space error EDFs: the share of models below each error, per sub-space, complexity-normalised.

Sub-spaces (by cardinality, by depths) are compared within one run; the grouping by run compares runs,
each a curve of its own. Each trained model counts once: copies are left out.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from nas_resnext.report.data import ReportData, one_run, trained
from nas_resnext.report.views.plotting import color, text


class EdfCurve(NamedTuple):
    label: str
    n: int
    errors: tuple[float, ...]  # sorted error (1 - accuracy)
    cdf: tuple[float, ...]  # normalised cumulative weight at each error


class EdfInfo(NamedTuple):
    grouping: str  # "cardinality", "depths" or "run"
    run: str | None  # the run whose sub-spaces are compared; None when the groups are the runs
    curves: tuple[EdfCurve, ...]
    note: str


def edf_info(data: ReportData, grouping: str, bins: int = 8, run: str | None = None) -> EdfInfo:
    """Complexity-normalised error EDFs of sub-spaces (Radosavovic et al., 2019) of one run (``run``, which
    a report of one run may leave out), or of every run when ``grouping`` is ``"run"``.

    Each trained model is weighted so that every sub-space's distribution over log-FLOPs bins matches the
    pooled one: weight = pooled share of the model's bin / the sub-space's count in that bin. Bins a
    sub-space has no model in are left out of its curve and the rest renormalised.
    """
    table = trained(data.table)
    if grouping == "run":
        if run is not None:
            raise ValueError(f"the EDF by run compares every run; got run={run!r}")
    else:
        run = one_run(data, run)
        table = table[table["run"] == run]
    done = table[(table["state"] == "COMPLETE") & table["val_accuracy"].notna() & table["flops"].notna()]
    done = done[done[grouping].notna()]
    if done[grouping].nunique() < 2:
        return EdfInfo(grouping, run, (), f"Needs completed trials in at least two groups by {grouping}.")
    log_flops = np.log(done["flops"].astype(float).to_numpy())
    low, high = log_flops.min(), log_flops.max()
    if high > low:
        bin_of = np.minimum(((log_flops - low) / (high - low) * bins).astype(int), bins - 1)
    else:
        bin_of = np.zeros(len(done), dtype=int)
    pooled = np.bincount(bin_of, minlength=bins) / len(done)
    curves = []
    keys = done[grouping].to_numpy()
    for key in _sorted_keys(done[grouping].unique()):
        mine = keys == key
        counts = np.bincount(bin_of[mine], minlength=bins)
        weights = pooled[bin_of[mine]] / counts[bin_of[mine]]
        weights = weights / weights.sum()
        errors = 1.0 - done.loc[mine, "val_accuracy"].to_numpy()
        order = np.argsort(errors, kind="stable")
        label = f"{_group_label(grouping, key)} (n={int(mine.sum())})"
        curves.append(
            EdfCurve(
                label,
                int(mine.sum()),
                tuple(float(e) for e in errors[order]),
                tuple(float(c) for c in np.cumsum(weights[order])),
            )
        )
    note = f"Weighted so that each group's GFLOPs distribution matches all groups' ({bins} log-spaced bins)."
    return EdfInfo(grouping, run, tuple(curves), note)


def _sorted_keys(keys: Any) -> list[Any]:
    try:
        return sorted(keys, key=lambda k: (float(k), str(k)))
    except (TypeError, ValueError):
        return sorted(keys, key=str)


def _group_label(grouping: str, key: Any) -> str:
    return {"cardinality": f"C={key}", "depths": f"depths {key}"}.get(grouping, str(key))


def edf_figure(edf: EdfInfo) -> Any | None:
    """One step line per group; None when there is nothing to compare (the page shows the note)."""
    import plotly.graph_objects as go

    if not edf.curves:
        return None
    where = f" in {text(edf.run)}" if edf.run is not None else ""
    fig = go.Figure()
    for k, curve in enumerate(edf.curves):
        # A line is one SVG path however many points it has; WebGL only pays off for markers. The step
        # starts from 0 at the lowest error, so a group of one model still draws its rise to 1.
        fig.add_trace(
            go.Scatter(
                x=[round(e, 5) for e in curve.errors[:1] + curve.errors],
                y=[0.0, *(round(c, 5) for c in curve.cdf)],
                mode="lines",
                line={"shape": "hv", "color": color(k)},
                name=text(curve.label),
                hovertemplate=f"{text(curve.label)}<br>error %{{x:.2%}}<br>EDF %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"Error EDF by {text(edf.grouping)}{where} (complexity-normalised)",
        xaxis={"title": "validation error (1 − accuracy)", "tickformat": ".0%"},
        yaxis={"title": "cumulative share of models", "range": [0, 1.02]},
        height=420,
    )
    return fig
