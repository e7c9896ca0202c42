"""The report page: every view's info and figure -> one self-contained HTML page.

The page (``templates/report.html.j2``) holds plotly.js once, the trials once (``report-data``: one array
per trial) and the figures as JSON (``report-figures``); ``static/report.js`` draws them and the trials
table. User strings reach the page only through the template's autoescape (HTML) or ``tojson`` (JSON
inside a script element, with ``<``, ``>``, ``&`` and ``'`` escaped), and figures escape theirs for Plotly
with ``text()``, so a name like ``<img onerror=...>`` is shown as text, never run.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from nas_resnext.report.views import ReportInfo
from nas_resnext.report.views.cardinality import tradeoff_figure
from nas_resnext.report.views.curves import curves_figure
from nas_resnext.report.views.edf import EdfInfo, edf_figure
from nas_resnext.report.views.importance import importance_figure
from nas_resnext.report.views.pareto import pareto_figure
from nas_resnext.report.views.plotting import FLOPS_LABEL, percent
from nas_resnext.report.views.study import (
    comparison_row,
    error_interval,
    error_percent,
    seeds_text,
    study_curves_figure,
    study_figure,
)
from nas_resnext.rundir import TRIALS_FILE
from nas_resnext.units import gflops_text

if TYPE_CHECKING:
    from jinja2 import Environment

# Package data of ``nas_resnext.report``.
TEMPLATE = "templates/report.html.j2"
SCRIPT = "static/report.js"
STYLE = "static/report.css"


def asset(name: str) -> str:
    """One of the page's files shipped with the package (``TEMPLATE``, ``SCRIPT``, ``STYLE``)."""
    return resources.files("nas_resnext.report").joinpath(name).read_text(encoding="utf-8")


def environment() -> Environment:
    """The Jinja2 environment of the page: autoescaped, and ``tojson`` writing compact, strict JSON."""
    from jinja2 import Environment, StrictUndefined

    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    # Compact (the trials of a large run are megabytes), in the order written, and no NaN: JSON.parse
    # refuses it.
    env.policies["json.dumps_kwargs"] = {"separators": (",", ":"), "allow_nan": False}
    env.globals.update(
        gflops_text=gflops_text,
        error_percent=error_percent,
        error_interval=error_interval,
        comparison_row=comparison_row,
        percent=percent,
        seeds_text=seeds_text,
    )
    return env


class _Plots:
    """The page's figures in page order, each under the id of the element it is drawn in."""

    def __init__(self) -> None:
        self.figures: list[tuple[str, Any]] = []

    def add(self, name: str, fig: Any | None) -> str | None:
        """``name`` once ``fig`` is kept for the page; None for a view with nothing to draw."""
        if fig is None:
            return None
        self.figures.append((name, fig))
        return name

    def to_json(self) -> list[dict[str, Any]]:
        import plotly.io as pio

        return [
            {"id": name, **json.loads(pio.to_json(fig, validate=False, engine="json"))}
            for name, fig in self.figures
        ]


def render_html(info: ReportInfo) -> str:
    """The whole report page for ``info``."""
    from markupsafe import Markup
    from plotly.offline import get_plotlyjs

    plots = _Plots()
    studies = [
        {
            "info": study,
            "plot": plots.add(f"plot-study-{k}", study_figure(study)),
            "curves_plot": plots.add(f"plot-study-curves-{k}", study_curves_figure(study)),
        }
        for k, study in enumerate(info.studies)
    ]
    pareto_plots = [plots.add(f"plot-pareto-{p.cost}", pareto_figure(p)) for p in info.pareto]
    names = [header.run for header in info.headers]
    tradeoffs = [
        (tradeoff, plots.add(f"plot-tradeoff-{names.index(tradeoff.run)}", tradeoff_figure(tradeoff)))
        for tradeoff in info.tradeoff
    ]
    edfs = [(edf, plots.add(_edf_id(edf, names), edf_figure(edf))) for edf in info.edfs]
    importance_plot = plots.add("plot-importance", importance_figure(info.importance))
    curves_plot = plots.add("plot-curves", curves_figure(info.curves))

    studies_only = bool(info.studies) and len(info.studies) == len(names)
    title = ("Trade-off study report: " if studies_only else "Search report: ") + ", ".join(names)
    nav = [
        ("run", "Runs"),
        *((("study", "Trade-off study"),) if info.studies else ()),
        ("pareto", "Pareto"),
        ("tradeoff", "C vs width"),
        ("edf", "EDFs"),
        ("importance", "Importance"),
        ("curves", "Curves"),
        ("table", "Trials"),
    ]
    trials = info.trials
    data = {
        "keys": trials.keys,
        "columns": trials.headings,
        "pareto": trials.pareto,
        "copy": trials.copy,
        "rows": trials.rows,
        "order": trials.order,
    }
    template = environment().from_string(asset(TEMPLATE))
    return template.render(
        title=title,
        nav=nav,
        headers=info.headers,
        studies=studies,
        pareto_plots=pareto_plots,
        several=len(names) > 1,
        tradeoffs=tradeoffs,
        edfs=edfs,
        importance=info.importance,
        importance_plot=importance_plot,
        curves_plot=curves_plot,
        flops_label=FLOPS_LABEL,
        csv_file=TRIALS_FILE,  # the table downloads under the name a run directory gives it
        data=data,
        figures=plots.to_json(),
        # The page's own code, trusted as it is: Markup keeps autoescape off it.
        css=Markup(asset(STYLE)),
        script=Markup(asset(SCRIPT)),
        plotly_js=Markup(get_plotlyjs()),
    )


def _edf_id(edf: EdfInfo, names: list[str]) -> str:
    """``plot-edf-run`` for the runs compared, ``plot-edf-<grouping>-<k>`` within the k-th run."""
    return (
        f"plot-edf-{edf.grouping}" if edf.run is None else f"plot-edf-{edf.grouping}-{names.index(edf.run)}"
    )
