"""The run cards: what each run searched, how, where, and what became of its trials."""

from __future__ import annotations

from typing import NamedTuple

from nas_resnext.complexity import FLOP_CONVENTION
from nas_resnext.report.data import ReportData, RunMeta, is_copy
from nas_resnext.rundir import RunDirectory
from nas_resnext.search.study import INTERRUPTED, RETRIED
from nas_resnext.tradeoff.plan import TradeoffPlan
from nas_resnext.units import format_duration


class HeaderInfo(NamedTuple):
    run: str
    space_file: str
    description: str
    dataset: str
    budget: str
    objectives: tuple[str, ...]
    sampler: str
    scheduler: str
    seed: str
    hardware: str
    versions: tuple[tuple[str, str], ...]
    wall_time: str
    created: str
    counts: tuple[tuple[str, int], ...]  # trials by state, COMPLETE/PRUNED/FAIL first
    flop_convention: str
    study: str = ""  # a trade-off study: what it compares, and its seeds; "" for a search
    copies: int = 0  # trials (counted in ``counts``) that copy another's outcome rather than train


def header_info(data: ReportData, run: RunMeta) -> HeaderInfo:
    """The card of one run: its space, options, versions and trial counts."""
    options = run.options
    mine = data.table[data.table["run"] == run.name]
    # An interrupted or retried attempt failed through no fault of the candidate and was run again.
    error = mine["error"].fillna("").astype(str)
    state = mine["state"].mask(error.str.startswith(INTERRUPTED.split(":")[0] + ":"), "INTERRUPTED")
    state = state.mask(error.str.startswith(f"{RETRIED}:"), "RETRIED")
    states = state.value_counts()
    order = ["COMPLETE", "PRUNED", "FAIL", *sorted(set(states.index) - {"COMPLETE", "PRUNED", "FAIL"})]
    return HeaderInfo(
        run=run.name,
        space_file=str(options.space_file or RunDirectory(run.path).space_file),
        description=run.space.description,
        dataset=run.space.dataset,
        budget=run.space.budget.describe(),
        objectives=tuple(run.space.objectives),
        sampler=str(options.sampler),
        scheduler=str(options.scheduler),
        seed=str(options.seed),
        hardware=str(options.hardware or "not recorded"),
        versions=tuple((str(k), str(v)) for k, v in (options.versions or {}).items()),
        wall_time=format_duration(options.wall_seconds) if options.wall_seconds else "not recorded",
        created=str(options.created or options.updated or ""),
        counts=tuple((state, int(states.get(state, 0))) for state in order),
        flop_convention=f"GFLOPs: {FLOP_CONVENTION}",
        study=_study_text(run.plan) if run.plan is not None else "",
        copies=int(is_copy(mine).sum()),
    )


def _study_text(plan: TradeoffPlan) -> str:
    return f"{plan.describe()}; {plan.seeds_text()}"
