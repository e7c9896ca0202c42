"""The report's rendering: info objects -> Plotly figures -> one self-contained HTML page.

The page holds plotly.js once, the trials once (``report-data``: one array per trial), and the figures as
JSON. Traces name the trials they show (``meta.rows``); the page fills their hover data from the shared
trials, so 10,000 trials are not written once per view. User strings reach the page only through
``html.escape`` (HTML) or ``script_json`` (JSON inside a script element), and are HTML-escaped before
Plotly shows them, so a name like ``<img onerror=...>`` is shown as text, never run.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

import numpy as np

from nas_resnext.report.analysis import (
    FLOPS_LABEL,
    CurvesInfo,
    EdfInfo,
    HeaderInfo,
    ImportanceInfo,
    ParetoInfo,
    ReportInfo,
    StudyInfo,
    TradeoffInfo,
)
from nas_resnext.tradeoff.plan import SPENDING, gflops_text
from nas_resnext.tradeoff.results import MemberResult

# Above this many points a view uses WebGL traces, which stay responsive where SVG would not.
WEBGL_POINTS = 2000
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
# The shared trial arrays: (key, heading in the table, digits kept)
DATA_COLUMNS = [
    ("run", "run", None),
    ("number", "trial", None),
    ("state", "state", None),
    ("name", "name", None),
    ("depths", "depths", None),
    ("width", "width", None),
    ("cardinality", "C", None),
    ("bottleneck_width", "d", None),
    ("group_width", "C·d", None),
    ("gflops", FLOPS_LABEL, 6),
    ("mparams", "Mparams", 4),
    ("latency_ms", "latency ms", 3),
    ("val_accuracy", "val accuracy", 4),
    ("epochs", "epochs", None),
    ("seconds", "seconds", 1),
    ("pareto", "Pareto", None),
    ("reason", "not completed because", None),
]
_COL = {key: i for i, (key, _, _) in enumerate(DATA_COLUMNS)}
HOVER = (
    "<b>%{customdata[3]}</b><br>trial %{customdata[1]} · %{customdata[0]} · %{customdata[2]}<br>"
    "depths %{customdata[4]}, width %{customdata[5]}, C %{customdata[6]}, d %{customdata[7]}, "
    "C·d %{customdata[8]}<br>GFLOPs (multiply-adds, fvcore) %{customdata[9]}, Mparams %{customdata[10]}"
    "<br>val accuracy %{customdata[12]}, epochs %{customdata[13]}<br>%{customdata[16]}<extra></extra>"
)


def script_json(value: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``<``, ``>`` or ``&`` survives as itself."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def text(value: Any) -> str:
    """A user string for Plotly's text (titles, legends): HTML-escaped, as Plotly reads tags in it."""
    return html.escape(str(value))


def _clean(value: Any, digits: int | None) -> Any:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        return float(f"{value:.{digits}g}") if digits and digits > 4 else round(float(value), digits or 6)
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def trial_rows(info: ReportInfo) -> list[list[Any]]:
    """One array per trial (``DATA_COLUMNS``), indexed by the table's ``row``."""
    table = info.data.table.assign(
        gflops=info.data.table["flops"] / 1e9, mparams=info.data.table["params"] / 1e6
    )
    columns = [table[key].astype(object).tolist() for key, _, _ in DATA_COLUMNS]
    digits = [d for _, _, d in DATA_COLUMNS]
    return [
        [_clean(v, d) for v, d in zip(values, digits, strict=True)] for values in zip(*columns, strict=True)
    ]


# ------------------------------------------------------------------------------------------------ figures


def _scatter(points: int) -> Any:
    import plotly.graph_objects as go

    return go.Scattergl if points > WEBGL_POINTS else go.Scatter


def _values(info: ReportInfo, rows: tuple[int, ...], column: str, scale: float = 1.0) -> list[Any]:
    series = info.data.table[column].to_numpy(dtype=float)[list(rows)] / scale
    return [None if not math.isfinite(v) else float(f"{v:.5g}") for v in series]


def pareto_figure(info: ReportInfo, pareto: ParetoInfo) -> Any:
    import plotly.graph_objects as go

    total = sum(len(r.front) + len(r.dominated) + len(r.pruned) for r in pareto.runs)
    scatter = _scatter(total)
    fig = go.Figure()
    several = len(pareto.runs) > 1
    failed_notes = []
    for k, run in enumerate(pareto.runs):
        color = COLORS[k % len(COLORS)]
        prefix = f"{text(run.run)}: " if several else ""
        for rows, label, style in (
            (run.dominated, "dominated", {"marker": {"color": color, "opacity": 0.3, "size": 6}}),
            (
                run.pruned,
                "stopped early",
                {"marker": {"color": color, "symbol": "x", "opacity": 0.6, "size": 7}},
            ),
        ):
            if rows:
                fig.add_trace(
                    scatter(
                        x=_values(info, rows, pareto.cost, pareto.scale),
                        y=_values(info, rows, "val_accuracy"),
                        mode="markers",
                        name=f"{prefix}{label} ({len(rows)})",
                        meta={"rows": list(rows)},
                        hovertemplate=HOVER,
                        **style,
                    )
                )
        if run.front:
            fig.add_trace(
                scatter(
                    x=_values(info, run.front, pareto.cost, pareto.scale),
                    y=_values(info, run.front, "val_accuracy"),
                    mode="lines+markers",
                    line={"shape": "hv", "color": color, "width": 2},
                    marker={"color": color, "size": 9, "line": {"color": "white", "width": 1}},
                    name=f"{prefix}Pareto front ({len(run.front)})",
                    meta={"rows": list(run.front)},
                    hovertemplate=HOVER,
                )
            )
        if run.failed:
            reasons = "<br>".join(
                f"trial {info.data.table.at[r, 'number']}: {text(why)[:160]}" for r, why in run.failed[:15]
            )
            more = f"<br>and {len(run.failed) - 15} more" if len(run.failed) > 15 else ""
            failed_notes.append(
                {
                    "text": f"{prefix}{len(run.failed)} failed/unplotted (hover)",
                    "hovertext": reasons + more,
                    "xref": "paper",
                    "yref": "paper",
                    "x": 1.0,
                    "y": -0.18 - 0.06 * len(failed_notes),
                    "showarrow": False,
                    "xanchor": "right",
                    "font": {"color": "#b00"},
                }
            )
    for value in pareto.budget:
        fig.add_vline(x=value, line_dash="dash", line_color="#555")
        # Annotations on a log axis take log10 of the value (shapes take the value itself).
        failed_notes.append(
            {
                "x": math.log10(value) if pareto.log_x else value,
                "y": 1.0,
                "yref": "paper",
                "text": f"budget {value:g}",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
            }
        )
    fig.update_layout(
        title=f"Validation accuracy vs {pareto.label}",
        xaxis={"title": pareto.label, "type": "log" if pareto.log_x else "linear"},
        yaxis={"title": "validation accuracy", "tickformat": ".1%"},
        annotations=list(fig.layout.annotations) + failed_notes,
        margin={"b": 90 + 20 * len(failed_notes)},
        height=480,
        legend={"orientation": "v"},
    )
    return fig


def tradeoff_figure(tradeoff: TradeoffInfo) -> Any | None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not tradeoff.bins:
        return None
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("accuracy vs cardinality C", "accuracy vs group width C·d"),
        horizontal_spacing=0.1,
    )
    for k, b in enumerate(tradeoff.bins):
        color = COLORS[k % len(COLORS)]
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
            f"90% CI {g.ci_low:.2f}–{g.ci_high:.2f}<br>"
            f"C·d {list(g.group_widths)}, d {list(g.bottleneck_widths)}"
            for g in b.groups
        ]
        common = {"y": means, "error_y": error, "hovertext": hover, "hoverinfo": "text", "legendgroup": name}
        fig.add_trace(
            go.Scatter(
                x=[g.cardinality for g in b.groups],
                mode="lines+markers",
                name=name,
                line={"color": color},
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
                x=group_width, mode="markers", name=name, showlegend=False, marker={"color": color}, **common
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(type="log", dtick=math.log10(2), title_text="cardinality C", row=1, col=1)
    fig.update_xaxes(type="log", title_text="group width C·d (geometric mean)", row=1, col=2)
    fig.update_yaxes(title_text="val accuracy (%), mean and 90% CI", row=1, col=1)
    fig.update_layout(title="C vs width at matched complexity (bins of a factor √2 in GFLOPs)", height=460)
    return fig


def edf_figure(edf: EdfInfo) -> Any | None:
    import plotly.graph_objects as go

    if not edf.curves:
        return None
    fig = go.Figure()
    for k, curve in enumerate(edf.curves):
        # A line is one SVG path however many points it has; WebGL only pays off for markers.
        fig.add_trace(
            go.Scatter(
                x=[round(e, 5) for e in curve.errors],
                y=[round(c, 5) for c in curve.cdf],
                mode="lines",
                line={"shape": "hv", "color": COLORS[k % len(COLORS)]},
                name=text(curve.label),
                hovertemplate=f"{text(curve.label)}<br>error %{{x:.2%}}<br>EDF %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"Error EDF by {text(edf.grouping)} (complexity-normalised)",
        xaxis={"title": "validation error (1 − accuracy)", "tickformat": ".0%"},
        yaxis={"title": "cumulative share of models", "range": [0, 1.02]},
        height=420,
    )
    return fig


def importance_figure(importances: tuple[ImportanceInfo, ...]) -> Any | None:
    import plotly.graph_objects as go

    shown = [i for i in importances if i.importances]
    if not shown:
        return None
    several = len({i.run for i in importances}) > 1
    fig = go.Figure()
    for k, item in enumerate(shown):
        label = f"{text(item.run)}: {item.objective}" if several else item.objective
        axes = [a for a, _ in item.importances]
        fig.add_trace(
            go.Bar(
                x=[v for _, v in item.importances],
                y=axes,
                orientation="h",
                name=label,
                marker={"color": COLORS[k % len(COLORS)]},
                hovertemplate=f"{label}<br>%{{y}}: %{{x:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(
        title="Parameter importance (fANOVA) per objective",
        barmode="group",
        xaxis={"title": "importance (normalised)"},
        height=380,
    )
    return fig


def curves_figure(info: ReportInfo, curves: CurvesInfo) -> Any | None:
    import plotly.graph_objects as go

    history = info.data.history
    if history.empty:
        return None
    # Learning curves are lines broken by gaps: WebGL renders thousands of such segments far slower than one
    # SVG path does, so many curves are drawn as plain SVG lines, without per-epoch markers.
    many = len(history) > WEBGL_POINTS
    rows = history["row"].to_numpy(dtype=int)
    epochs = history["epoch"].to_numpy(dtype=float)
    accuracy = history["val_accuracy"].to_numpy(dtype=float)
    fig = go.Figure()
    for chosen, label, color in (
        (curves.complete, "completed", "#1f77b4"),
        (curves.stopped, "stopped early", "#ff7f0e"),
    ):
        keep = np.isin(rows, chosen)
        if not keep.any():
            continue
        r, x, y = rows[keep], epochs[keep], accuracy[keep]
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
        if label == "stopped early":
            last = np.append(breaks, len(r)) - 1
            fig.add_trace(
                _scatter(len(last))(
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
        xaxis={"title": "epoch", "dtick": 1 if curves.epochs <= 20 else None},
        yaxis={"title": "validation accuracy", "tickformat": ".0%"},
        height=420,
    )
    return fig


def study_figure(study: StudyInfo) -> Any | None:
    """Validation error per member (plan order): mean ± std over seeds, and each seed as a circle."""
    import plotly.graph_objects as go

    members = study.members
    if not any(m.errors for m in members):
        return None
    labels = [text(m.label) for m in members]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=[_rounded(m.val_error_mean, 100) for m in members],
            error_y={"type": "data", "array": [_rounded(m.val_error_std, 100) for m in members]},
            mode="lines+markers",
            line={"color": COLORS[0]},
            marker={"size": 10},
            name="mean ± std over seeds",
            hovertext=[_member_hover(m) for m in members],
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
                line={"color": COLORS[k % len(COLORS)]},
                marker={"size": 5},
                name=label,
                hovertext=[
                    f"{label}, epoch {epoch}: {_percent(mean, std)} % over {_seeds(n)}"
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


def _member_hover(member: MemberResult) -> str:
    m = member
    result = (
        f"val error {_percent(m.val_error_mean, m.val_error_std)} % over {_seeds(m.seeds)}"
        if m.errors
        else "no completed seed"
    )
    return (
        f"<b>{text(m.name)}</b><br>C {m.cardinality}, d {m.bottleneck_width}, width {m.width}, "
        f"depths {','.join(map(str, m.depths))}<br>"
        f"{gflops_text(m.flops)} GFLOPs, {m.params / 1e6:.4g} Mparams<br>{result}"
    )


def _seeds(n: int) -> str:
    return f"{n} seed{'' if n == 1 else 's'}"


def _rounded(value: float | None, scale: float = 1.0) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value * scale, 4)


def _percent(mean: float | None, std: float | None) -> str:
    """A validation error in percent: ``7.25 ± 0.31``, ``7.25`` with one seed, ``—`` without any."""
    if mean is None:
        return "—"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


# ---------------------------------------------------------------------------------------------- the page


def _header_html(header: HeaderInfo) -> str:
    e = html.escape
    counts = ", ".join(f"{n} {state.lower()}" for state, n in header.counts)
    versions = ", ".join(f"{e(k)} {e(v)}" for k, v in header.versions) or "not recorded"
    rows = [
        ("space file", e(header.space_file)),
        ("description", e(header.description) or "—"),
        ("data set", e(header.dataset)),
        ("budget", e(header.budget) + f" <span class=note>({e(header.flop_convention)})</span>"),
        ("objectives", e(", ".join(header.objectives))),
        ("sampler / scheduler / seed", f"{e(header.sampler)} / {e(header.scheduler)} / {e(header.seed)}"),
        ("hardware", e(header.hardware)),
        ("package versions", versions),
        ("wall time", e(header.wall_time) + (f" (recorded {e(header.created)})" if header.created else "")),
        ("trials", e(counts)),
    ]
    if header.study:
        # A trade-off run's space is described by its plan by default: say it once.
        if header.study.startswith(header.description):
            rows.pop(1)
        rows.insert(1, ("trade-off study", e(header.study)))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<div class=card><h3>{e(header.run)}</h3><table class=meta>{body}</table></div>"


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px;color:#222}
h1{font-size:22px} h2{margin-top:32px;border-bottom:1px solid #ddd} .note{color:#666}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:4px 12px;flex:1}
table.meta th{text-align:left;padding-right:12px;vertical-align:top;white-space:nowrap}
.answer{background:#f4f7fb;border-left:4px solid #1f77b4;padding:8px 12px}
#trials-wrap{max-height:600px;overflow:auto;border:1px solid #ddd}
#trials{border-collapse:collapse;font-size:12px;width:100%}
#trials th{position:sticky;top:0;background:#eee;cursor:pointer;user-select:none}
#trials td,#trials th{padding:2px 6px;border-bottom:1px solid #eee;white-space:nowrap}
#trials tr.front{background:#fffbe6}
nav a{margin-right:12px}
table.study{border-collapse:collapse;margin:8px 0}
table.study td,table.study th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}
table.study td:first-child,table.study th:first-child{text-align:left}
table.study tr.best td{font-weight:bold}
"""

_SCRIPT = """
(function () {
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var FIGURES = JSON.parse(document.getElementById("report-figures").textContent);
  function esc(s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
  // Hover rows are built once and shared by every trace that shows the trial.
  var hoverRows = DATA.rows.map(function (r) {
    return r.map(function (v) { return v === null ? "–" : (typeof v === "string" ? esc(v) : v); });
  });
  FIGURES.forEach(function (fig) {
    fig.data.forEach(function (trace) {
      if (trace.meta && trace.meta.rows) {
        trace.customdata = trace.meta.rows.map(function (i) { return i === null ? null : hoverRows[i]; });
      }
    });
    Plotly.newPlot(fig.id, fig.data, fig.layout, {responsive: true, displaylogo: false});
  });
  var table = document.getElementById("trials");
  var order = DATA.order.slice();
  var head = table.createTHead().insertRow();
  DATA.columns.forEach(function (name, c) {
    var th = document.createElement("th");
    th.textContent = name;
    th.title = "sort";
    th.addEventListener("click", function () { sortBy(c); });
    head.appendChild(th);
  });
  var body = table.createTBody();
  var sorted = {column: -1, descending: false};
  function cell(v) { return v === null ? "" : (v === true ? "★" : (v === false ? "" : String(v))); }
  // A page of rows at a time: laying out every row of a 10,000-trial table would stall the browser.
  var PAGE = 200, first = 0;
  var prev = document.getElementById("page-prev"), next = document.getElementById("page-next");
  prev.addEventListener("click", function () { first = Math.max(0, first - PAGE); draw(); });
  next.addEventListener("click", function () { first = Math.min(first + PAGE, order.length - 1); draw(); });
  function draw() {
    var fragment = document.createDocumentFragment();
    order.slice(first, first + PAGE).forEach(function (i) {
      var row = DATA.rows[i], tr = document.createElement("tr");
      if (row[DATA.pareto]) tr.className = "front";
      row.forEach(function (v) {
        var td = document.createElement("td");
        td.textContent = cell(v);
        tr.appendChild(td);
      });
      fragment.appendChild(tr);
    });
    body.replaceChildren(fragment);
    var last = Math.min(first + PAGE, order.length);
    document.getElementById("page-range").textContent =
      "rows " + (order.length ? first + 1 : 0) + "–" + last + " of " + order.length;
    prev.disabled = first === 0;
    next.disabled = last >= order.length;
  }
  function sortBy(c) {
    var descending = sorted.column === c ? !sorted.descending : false;
    sorted = {column: c, descending: descending};
    first = 0;
    order.sort(function (a, b) {
      var x = DATA.rows[a][c], y = DATA.rows[b][c];
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      var less = typeof x === "number" && typeof y === "number" ? x < y : String(x) < String(y);
      return (less ? -1 : 1) * (descending ? -1 : 1);
    });
    draw();
  }
  draw();
  document.getElementById("csv").addEventListener("click", function (event) {
    function quote(v) {
      var s = cell(v === true ? "True" : v);
      return /[",\\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    }
    var lines = [DATA.keys.join(",")].concat(DATA.order.map(function (i) {
      return DATA.rows[i].map(quote).join(",");
    }));
    event.currentTarget.href = URL.createObjectURL(new Blob([lines.join("\\n") + "\\n"], {type: "text/csv"}));
  });
})();
"""


def _study_html(study: StudyInfo, plot: Any, k: int) -> str:
    """One study: its reading, the error-vs-axis figure, the Table 3 of its members, the learning curves."""
    e = html.escape
    head = (
        "<tr><th>name</th><th>C</th><th>d</th><th>width</th><th>depths</th><th>params</th>"
        "<th>GFLOPs</th><th>latency ms</th><th>val error %</th><th>seeds</th><th>epochs</th></tr>"
    )
    rows, failures = [], []
    for m in study.members:
        seeds = f"{m.seeds}" if m.seeds == study.seeds else f"{m.seeds} of {study.seeds}"
        cells = (
            f"{e(m.name)} <span class=note>({e(m.label)})</span>",
            str(m.cardinality),
            str(m.bottleneck_width),
            str(m.width),
            e(",".join(map(str, m.depths))),
            f"{m.params / 1e6:.4g}M",
            gflops_text(m.flops),
            f"{m.latency_ms:.3g}" if m.latency_ms is not None else "—",
            e(_percent(m.val_error_mean, m.val_error_std)),
            seeds,
            str(m.epochs) if m.epochs else "—",
        )
        best = " class=best" if m.index == study.best else ""
        rows.append(f"<tr{best}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        failures += [f"<li>{e(m.label)} ({e(m.name)}) {e(why)}</li>" for why in m.failures]
        if m.pending:
            failures.append(f"<li>{e(m.label)} ({e(m.name)}): {_seeds(m.pending)} not run yet</li>")
    table = (
        f"<table class=study><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
        "<p class=note>val error: mean ± sample std over seeds (the best mean in bold); "
        f"{e(FLOPS_LABEL)}; params: trainable.</p>"
    )
    if failures:
        table += f"<p class=note>Not completed:</p><ul class=failures>{''.join(failures)}</ul>"
    curves = plot(f"plot-study-curves-{k}", study_curves_figure(study)) or (
        "<p class=note>No per-epoch history of a completed seed.</p>"
    )
    return (
        f"<div class=study><h3>{e(study.run)}</h3><p class=note>{e(study.description)}</p>"
        f"<p class=answer>{e(study.reading)}</p>"
        + plot(f"plot-study-{k}", study_figure(study))
        + table
        + curves
        + "</div>"
    )


def _section(anchor: str, title: str, intro: str, content: str) -> str:
    return f"<section id={anchor}><h2>{title}</h2><p class=note>{intro}</p>{content}</section>"


def render_html(info: ReportInfo) -> str:
    """The whole report page for ``info``."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    figures: list[tuple[str, Any]] = []

    def plot(name: str, fig: Any) -> str:
        if fig is None:
            return ""
        figures.append((name, fig))
        return f"<div class=plot id={name}></div>"

    e = html.escape
    names = [run.name for run in info.data.runs]
    studies_only = bool(info.studies) and len(info.studies) == len(names)
    title = ("Trade-off study report: " if studies_only else "Search report: ") + ", ".join(names)
    pareto = "".join(plot(f"plot-pareto-{p.cost}", pareto_figure(info, p)) for p in info.pareto)
    tradeoff = f"<p class=answer>{e(info.tradeoff.answer)}</p>" + plot(
        "plot-tradeoff", tradeoff_figure(info.tradeoff)
    )
    edfs = "".join(
        plot(f"plot-edf-{edf.grouping}", edf_figure(edf)) or f"<p class=note>{e(edf.note)}</p>"
        for edf in info.edfs
    )
    notes = "".join(
        f"<p class=note>{e(i.run)} · {e(i.objective)}: {e(i.message)}</p>"
        for i in info.importance
        if i.message
    )
    importance = plot("plot-importance", importance_figure(info.importance)) + notes
    curves = (
        plot("plot-curves", curves_figure(info, info.curves)) or "<p class=note>No per-epoch history.</p>"
    )
    trials = (
        "<p><a id=csv href=# download=trials.csv>Download the trials table (CSV)</a>"
        " · click a heading to sort</p>"
        "<div id=trials-wrap><table id=trials></table></div>"
        "<p id=trials-pager><button id=page-prev>‹ previous</button> <span id=page-range></span> "
        "<button id=page-next>next ›</button></p>"
    )
    sections = [
        _section(
            "run",
            "Runs",
            "What was searched, how, and where.",
            "<div class=cards>" + "".join(_header_html(h) for h in info.headers) + "</div>",
        ),
    ]
    if info.studies:
        # A trade-off run exists to answer its one question, so its answer leads the page.
        sections.append(
            _section(
                "study",
                "Trade-off study",
                "Each member trained for every seed under identical settings, at matched complexity. "
                "Points: mean validation error over seeds (error bars: sample std; circles: each seed).",
                "".join(_study_html(study, plot, k) for k, study in enumerate(info.studies)),
            )
        )
    sections += [
        _section(
            "pareto",
            "Pareto front",
            f"Accuracy against each cost ({FLOPS_LABEL}; log axes). The step line joins the Pareto-optimal "
            "trials; dimmed points are dominated; crosses stopped early (accuracy of their last epoch); the "
            "dashed line is the budget. Hover a point for its architecture.",
            pareto,
        ),
        _section(
            "tradeoff",
            "C vs width at matched complexity",
            "Trials are grouped into complexity bins; within a bin, compare mean accuracy across "
            "cardinalities (error bars: 90% bootstrap CI of the mean). Larger C at fixed complexity "
            "means narrower groups.",
            tradeoff,
        ),
        _section(
            "edf",
            "Design-space EDFs",
            "Share of models with error below x, per sub-space (Radosavovic et al., 2019), weighted so the "
            "sub-spaces' complexity distributions match: a curve further left/up is a better sub-space.",
            edfs,
        ),
        _section(
            "importance",
            "Parameter importance",
            "How much of each objective's variance each axis explains.",
            importance,
        ),
        _section(
            "curves",
            "Learning curves",
            "Validation accuracy per epoch; orange curves were stopped early.",
            curves,
        ),
        _section("table", "All trials", "Pareto-optimal trials (★) first.", trials),
    ]
    data = {
        "keys": [key for key, _, _ in DATA_COLUMNS],
        "columns": [heading for _, heading, _ in DATA_COLUMNS],
        "pareto": _COL["pareto"],
        "rows": trial_rows(info),
        "order": list(info.order),
    }
    figure_json = [
        {"id": name, **json.loads(pio.to_json(fig, validate=False, engine="json"))} for name, fig in figures
    ]
    nav = " ".join(
        f"<a href=#{a}>{t}</a>"
        for a, t in (
            ("run", "Runs"),
            *((("study", "Trade-off study"),) if info.studies else ()),
            ("pareto", "Pareto"),
            ("tradeoff", "C vs width"),
            ("edf", "EDFs"),
            ("importance", "Importance"),
            ("curves", "Curves"),
            ("table", "Trials"),
        )
    )
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{e(title)}</h1><nav>{nav}</nav>{''.join(sections)}"
        f"<script>{get_plotlyjs()}</script>"
        f"<script id=report-data type=application/json>{script_json(data)}</script>"
        f"<script id=report-figures type=application/json>{script_json(figure_json)}</script>"
        f"<script>{_SCRIPT}</script></body></html>"
    )
