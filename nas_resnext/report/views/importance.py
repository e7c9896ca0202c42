"""Parameter importance: how much of each objective's variance each architecture axis explains (fANOVA)."""

from __future__ import annotations

from typing import Any, NamedTuple

import pandas as pd

from nas_resnext.pareto import study_direction
from nas_resnext.report.data import ReportData, trained
from nas_resnext.report.views.plotting import color, text


class ImportanceInfo(NamedTuple):
    run: str
    objective: str
    importances: tuple[tuple[str, float], ...]  # (axis, importance), largest first; empty with a message
    message: str


MIN_IMPORTANCE_TRIALS = 5
IMPORTANCE_AXES = ("depths", "width", "cardinality", "bottleneck_width")


def importance_infos(data: ReportData, max_trials: int = 1000) -> list[ImportanceInfo]:
    """fANOVA importance of each axis for each objective of each run, on the axes' natural values.

    The study's own parameters are the sampler's quantiles (positions within each axis); importance is
    asked of the architecture axes themselves, so the trials are re-expressed with natural distributions in
    an in-memory study. Above ``max_trials`` a seeded sample keeps the random forest fast. Each trained
    model is one trial of that study: copies are left out.
    """
    infos = []
    table = trained(data.table)
    for run in data.runs:
        part = table[(table["run"] == run.name) & (table["state"] == "COMPLETE")]
        part = part.dropna(subset=["val_accuracy", *IMPORTANCE_AXES])
        for objective in run.space.objectives:
            usable = part[part[objective].notna()]
            if len(usable) < MIN_IMPORTANCE_TRIALS:
                infos.append(
                    ImportanceInfo(
                        run.name,
                        objective,
                        (),
                        f"Not enough completed trials for importance ({len(usable)}; needs "
                        f"{MIN_IMPORTANCE_TRIALS}).",
                    )
                )
                continue
            if len(usable) > max_trials:
                usable = usable.sample(max_trials, random_state=0)
            infos.append(_importance(run.name, objective, usable))
    return infos


def _importance(run: str, objective: str, usable: pd.DataFrame) -> ImportanceInfo:
    import optuna
    from optuna.distributions import CategoricalDistribution, IntDistribution

    distributions: dict[str, Any] = {}
    for axis in IMPORTANCE_AXES:
        values = usable[axis]
        if values.nunique() < 2:
            continue  # an axis that never varied explains nothing
        if axis == "depths":
            distributions[axis] = CategoricalDistribution(sorted(values.astype(str).unique()))
        else:
            low, high = int(values.min()), int(values.max())
            distributions[axis] = IntDistribution(low, high, log=high >= 4 * low)
    if not distributions:
        return ImportanceInfo(run, objective, (), "No axis varied across the completed trials.")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=study_direction(objective))
    for _, row in usable.iterrows():
        params = {a: (str(row[a]) if a == "depths" else int(row[a])) for a in distributions}
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=distributions, value=float(row[objective]))
        )
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=32, seed=0)
        result = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=True)
    except (RuntimeError, ValueError) as error:
        return ImportanceInfo(run, objective, (), f"Importance could not be computed: {error}")
    return ImportanceInfo(run, objective, tuple((k, float(v)) for k, v in result.items()), "")


def importance_figure(importances: tuple[ImportanceInfo, ...]) -> Any | None:
    """One bar per axis and objective; objectives without an importance are left to the page's notes."""
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
                marker={"color": color(k)},
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
