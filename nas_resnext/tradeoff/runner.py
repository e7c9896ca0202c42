"""Train a trade-off plan through Ray Tune: every member for every seed, in a search-shaped run directory."""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from nas_resnext.errors import ConfigError
from nas_resnext.rundir import RunDirectory, RunOptions, trials_table
from nas_resnext.search.runner import SearchOutcome, run_study
from nas_resnext.search.study import open_study
from nas_resnext.space import DesignSpace
from nas_resnext.tradeoff.plan import PlanSampler, TradeoffPlan
from nas_resnext.tradeoff.results import MemberResult, member_results, reading


@dataclass
class TradeoffOutcome:
    search: SearchOutcome
    plan: TradeoffPlan
    results: list[MemberResult]
    reading: str


def create_tradeoff_run(
    path: Path, plan: TradeoffPlan, space: DesignSpace, options: RunOptions
) -> RunDirectory:
    """The run directory of a new study: the search layout plus the plan (call after validation)."""
    return RunDirectory.create(path, space, options, plan=plan.to_dict())


def open_tradeoff(
    run: RunDirectory, seeds: int | None = None
) -> tuple[TradeoffPlan, DesignSpace, RunOptions]:
    """Read a trade-off study to continue it, writing nothing: its plan (grown to ``seeds`` seeds if given,
    not saved), space and options.

    A run that is not a trade-off study, or fewer seeds than the study has (seeds are only added), is a
    ConfigError (naming ``run.flag``, or ``seeds``).
    """
    run = RunDirectory.open(run.path, run.flag, tradeoff=True)
    plan = TradeoffPlan.load(run)
    if seeds is not None and seeds < plan.seeds:
        raise ConfigError("seeds", seeds, f"at least the study's {plan.seeds} seeds (seeds are only added)")
    space, options = run.load_space(), run.load_options()
    if seeds is not None and seeds != plan.seeds:
        plan = plan.with_seeds(seeds)
    return plan, space, options


def resume_tradeoff(
    run: RunDirectory, seeds: int | None = None
) -> tuple[TradeoffPlan, DesignSpace, RunOptions]:
    """:func:`open_tradeoff`, and a plan grown by ``seeds`` saved (once everything has been read)."""
    plan, space, options = open_tradeoff(run, seeds)
    if plan.seeds != TradeoffPlan.load(run).seeds:
        plan.save(run)
    return plan, space, options


def run_tradeoff(
    run: RunDirectory,
    plan: TradeoffPlan,
    space: DesignSpace,
    options: RunOptions,
    stream: TextIO | None = sys.stderr,
) -> TradeoffOutcome:
    """Train (or finish training) every member of ``plan`` for every seed; identical settings but the seed.

    Members run round by round (every member at the first seed, then the second, ...). A killed or
    interrupted study continues with ``--resume``: finished trials are kept, interrupted ones re-run. The
    run is held while it trains (:meth:`RunDirectory.hold`).
    """
    import optuna

    started = time.monotonic()
    options = dataclasses.replace(options, trials=plan.trials)
    candidates = PlanSampler(plan)
    # Every trial is queued up front; the sampler is only a fallback and never decides a member.
    sampler = optuna.samplers.RandomSampler(seed=options.seed)
    study = open_study(run.storage_url, space.name, space.objectives, sampler)
    outcome = run_study(
        run, space, options, study, candidates, stream, queue=candidates.queue, started=started
    )
    table = trials_table(outcome.trials)
    results = member_results(plan, table)
    return TradeoffOutcome(outcome, plan, results, reading(plan, results))
