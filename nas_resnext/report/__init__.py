"""The interactive HTML report of one or more search or trade-off runs: ``write_report(run_dirs) -> path``.

Loading (``data``) reads the run directories into one ``ReportData``; each view (``views/<view>.py``)
computes a typed info from it and maps that info to a figure; ``page`` assembles the page from a template
and the page's own script and style, shipped as package data. A trade-off run leads with its study: the
reading, error per member, the members' table and their learning curves.
"""

from __future__ import annotations

from pathlib import Path

from nas_resnext.atomic import write_text_atomic
from nas_resnext.report.data import ReportData, load_report_data
from nas_resnext.report.views import ReportInfo, analyse

__all__ = [
    "ReportData",
    "ReportInfo",
    "analyse",
    "default_output",
    "load_report_data",
    "render_report",
    "write_report",
]


def default_output(run_dirs: list[Path]) -> Path:
    """``reports/<run-name>.html``; several runs get their names joined with ``+``."""
    names = [Path(p).resolve().name for p in run_dirs]
    return Path("reports") / ("+".join(names)[:150] + ".html")


def write_report(run_dirs: list[Path], output: Path | None = None) -> Path:
    """Analyse the run directories and write one self-contained HTML report; returns its path.

    A path that is not a run directory raises ``ConfigError`` before anything is written.
    """
    run_dirs = [Path(p) for p in run_dirs]
    data = load_report_data(run_dirs)
    return render_report(data, Path(output) if output is not None else default_output(run_dirs))


def render_report(data: ReportData, output: Path) -> Path:
    """Write the report of already loaded trials (e.g. a table built in memory) to ``output``."""
    from nas_resnext.report.page import render_html

    page = render_html(analyse(data))
    output.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output, page)
    return output
