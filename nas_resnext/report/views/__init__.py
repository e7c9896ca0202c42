"""The report's views, one module each: ``<view>_info(data)`` computes a typed info (pure, no plotting) and
``<view>_figure(info)`` maps that info, and nothing else, to a Plotly figure.

``analyse`` computes every view's info from one ``ReportData``. Views that compare sub-spaces (C against
width, EDFs by cardinality and by depths) get one info per run; several runs are compared (the EDF by run,
the Pareto overlays), never pooled.
"""

from __future__ import annotations

from typing import NamedTuple

from nas_resnext.report.data import ReportData
from nas_resnext.report.views.cardinality import TradeoffInfo, tradeoff_infos
from nas_resnext.report.views.curves import CurvesInfo, curves_info
from nas_resnext.report.views.edf import EdfInfo, edf_info
from nas_resnext.report.views.header import HeaderInfo, header_info
from nas_resnext.report.views.importance import ImportanceInfo, importance_infos
from nas_resnext.report.views.pareto import ParetoInfo, pareto_infos
from nas_resnext.report.views.study import StudyInfo, study_infos
from nas_resnext.report.views.trials import TrialsInfo, trials_info

__all__ = ["ReportInfo", "analyse"]


class ReportInfo(NamedTuple):
    data: ReportData  # what every info below was computed from
    headers: tuple[HeaderInfo, ...]
    studies: tuple[StudyInfo, ...]  # one per trade-off run; empty for searches
    pareto: tuple[ParetoInfo, ...]
    tradeoff: tuple[TradeoffInfo, ...]  # one per run
    edfs: tuple[EdfInfo, ...]  # by run (several runs), then each run's by cardinality and by depths
    importance: tuple[ImportanceInfo, ...]
    curves: CurvesInfo
    trials: TrialsInfo


def analyse(data: ReportData) -> ReportInfo:
    """Every view's info from one ``ReportData``."""
    by_run = [edf_info(data, "run")] if len(data.runs) > 1 else []
    within_runs = [edf_info(data, g, run=run.name) for run in data.runs for g in ("cardinality", "depths")]
    return ReportInfo(
        data=data,
        headers=tuple(header_info(data, run) for run in data.runs),
        studies=study_infos(data),
        pareto=tuple(pareto_infos(data)),
        tradeoff=tuple(tradeoff_infos(data)),
        edfs=(*by_run, *within_runs),
        importance=tuple(importance_infos(data)),
        curves=curves_info(data),
        trials=trials_info(data),
    )
