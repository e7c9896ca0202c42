"""Train a trade-off plan through Ray Tune: every member for every seed, in a search-shaped run directory."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from nas_resnext.search.rundir import RunDirectory, RunOptions, trials_table
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
    """The run directory of a new study: the search layout plus ``tradeoff.json`` (call after validation)."""
    run = RunDirectory.create(path, space, options)
    plan.save(run.path)
    return run


def run_tradeoff(
    run: RunDirectory,
    plan: TradeoffPlan,
    space: DesignSpace,
    options: RunOptions,
    stream: TextIO | None = sys.stderr,
) -> TradeoffOutcome:
    """Train (or finish training) every member of ``plan`` for every seed; identical settings but the seed.

    Members run round by round (every member at the first seed, then the second, ...). A killed or
    interrupted study continues with ``--resume``: finished trials are kept, interrupted ones re-run.
    """
    import optuna

    started = time.monotonic()
    options.trials = plan.trials
    candidates = PlanSampler(plan)
    # Every trial is queued up front; the sampler is only a fallback and never decides a member.
    sampler = optuna.samplers.RandomSampler(seed=options.seed)
    study = open_study(run.study_file, space.name, space.objectives, sampler)
    outcome = run_study(
        run, space, options, study, candidates, stream, queue=candidates.queue, started=started
    )
    table = trials_table(outcome.trials)
    results = member_results(plan, table)
    return TradeoffOutcome(outcome, plan, results, reading(plan, results))
