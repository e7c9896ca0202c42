"""The report's views, one module each: ``<view>_info(data)`` computes a typed info (pure, no plotting) and
``<view>_figure(info)`` maps that info, and nothing else, to a Plotly figure.

``analyse`` computes every view's info from one ``ReportData``.
"""

from __future__ import annotations

from typing import NamedTuple

from nas_resnext.report.data import ReportData
from nas_resnext.report.views.cardinality import TradeoffInfo, tradeoff_info
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
    tradeoff: TradeoffInfo
    edfs: tuple[EdfInfo, ...]
    importance: tuple[ImportanceInfo, ...]
    curves: CurvesInfo
    trials: TrialsInfo


def analyse(data: ReportData) -> ReportInfo:
    """Every view's info from one ``ReportData``."""
    groupings = (["run"] if len(data.runs) > 1 else []) + ["cardinality", "depths"]
    return ReportInfo(
        data=data,
        headers=tuple(header_info(data, run) for run in data.runs),
        studies=study_infos(data),
        pareto=tuple(pareto_infos(data)),
        tradeoff=tradeoff_info(data),
        edfs=tuple(edf_info(data, g) for g in groupings),
        importance=tuple(importance_infos(data)),
        curves=curves_info(data),
        trials=trials_info(data),
    )
