"""Train a trade-off plan through Ray Tune: every member for every planned seed, in a search-shaped run
directory; an adaptive plan (``--seeds auto``) round by round, adding seeds only where the verdict needs
them."""

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
from nas_resnext.space import DesignSpace
from nas_resnext.tradeoff.plan import PlanSampler, TradeoffPlan
from nas_resnext.tradeoff.results import (
    DEFAULT_CONFIDENCE,
    MemberResult,
    Verdict,
    member_results,
    next_round,
    verdict,
)


@dataclass
class TradeoffOutcome:
    search: SearchOutcome  # the last round's, with ``seconds`` over every round of this start
    plan: TradeoffPlan  # as it stands at the end (an adaptive plan, grown)
    results: list[MemberResult]
    verdict: Verdict  # read at the confidence asked for (alpha spent over an adaptive plan's looks)

    @property
    def reading(self) -> str:
        return self.verdict.reading


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

    A run that is not a trade-off study, fewer seeds than the study has (seeds are only added), or seeds for
    an adaptive study (its schedule adds them) is a ConfigError (naming ``run.flag``, or ``seeds``).
    """
    run = RunDirectory.open(run.path, run.flag, tradeoff=True)
    plan = TradeoffPlan.load(run)
    if seeds is not None and plan.adaptive:
        raise ConfigError(
            "seeds", seeds, "nothing for a study started with --seeds auto (its schedule adds the seeds)"
        )
    if seeds is not None and seeds < plan.seeds:
        raise ConfigError("seeds", seeds, f"at least the study's {plan.seeds} seeds (seeds are only added)")
    space, options = run.load_space(check_init=True), run.load_options()
    if seeds is not None and seeds != plan.seeds:
        plan = plan.with_seeds(seeds)
    return plan, space, options


def resume_tradeoff(
    run: RunDirectory, seeds: int | None = None
) -> tuple[TradeoffPlan, DesignSpace, RunOptions]:
    """:func:`open_tradeoff`, and a plan grown by ``seeds`` saved (once everything has been read)."""
    plan, space, options = open_tradeoff(run, seeds)
    if plan != TradeoffPlan.load(run):
        plan.save(run)
    return plan, space, options


def round_line(plan: TradeoffPlan, judged: Verdict, grown: TradeoffPlan | None) -> str:
    """One progress line after a round: who gets the next seed, or why the study stops."""
    best = f"best {judged.best.label}" if judged.best is not None else "no member completed a seed"
    lead = f"round {plan.rounds}: {best}"
    if judged.decided:
        return f"{lead}, separated from every rival; stopping"
    if grown is None:
        return (
            f"{lead}, not decided after {plan.rounds} of {plan.looks} planned rounds "
            f"(--max-seeds {plan.max_seeds}); stopping"
        )
    more = [i for i, (a, b) in enumerate(zip(plan.member_seeds, grown.member_seeds, strict=True)) if b > a]
    labels = ", ".join(plan.label(i) for i in more)
    seeds = "/".join(map(str, sorted({grown.member_seeds[i] for i in more})))
    if len(more) == 1:
        return f"{lead}, not decided yet; 1 contender ({labels}) gets seed {seeds}"
    return f"{lead}, not decided yet; {len(more)} contenders ({labels}) get seed {seeds}"


def run_tradeoff(
    run: RunDirectory,
    plan: TradeoffPlan,
    space: DesignSpace,
    options: RunOptions,
    stream: TextIO | None = sys.stderr,
    confidence: float = DEFAULT_CONFIDENCE,
) -> TradeoffOutcome:
    """Train (or finish training) every member of ``plan`` for each of its planned seeds; identical settings
    but the seed.

    Members run round by round (every member at the first seed, then the second, ...). An adaptive plan
    then reads the verdict (at its own confidence, alpha spent over its looks), gives each contender one
    more seed, saves the grown plan and trains again, until :func:`next_round` says stop. A killed or
    interrupted study (an interrupted round stops the schedule) continues with ``--resume``: finished trials
    are kept, interrupted ones re-run, and the schedule goes on from the saved plan. The run is held while
    it trains (:meth:`RunDirectory.hold`). The outcome's verdict is read at ``confidence``; an adaptive
    schedule decides at the confidence it was started with.
    """
    if not plan.adaptive:
        outcome = _train_round(run, plan, space, options, stream)
        results = member_results(plan, trials_table(outcome.trials))
        return TradeoffOutcome(outcome, plan, results, verdict(plan, results, confidence))
    # Held across rounds, so no other start can take the study between one round and the next.
    with run.hold():
        outcome = _train_round(run, plan, space, options, stream)
        seconds = outcome.seconds
        results = member_results(plan, trials_table(outcome.trials))
        while True:
            judged = verdict(plan, results, plan.confidence or DEFAULT_CONFIDENCE, plan.looks)
            grown = None if outcome.interrupted else next_round(plan, results, judged)
            if stream is not None and not outcome.interrupted:
                stream.write(round_line(plan, judged, grown) + "\n")
                stream.flush()
            if grown is None:
                break
            plan = grown
            plan.save(run)
            # The options saved by the last round carry its wall time into the next.
            outcome = _train_round(run, plan, space, outcome.options, stream)
            seconds += outcome.seconds
            results = member_results(plan, trials_table(outcome.trials))
    search = dataclasses.replace(outcome, seconds=seconds)
    final = judged if judged.confidence == confidence else verdict(plan, results, confidence, plan.looks)
    return TradeoffOutcome(search, plan, results, final)


def _train_round(
    run: RunDirectory, plan: TradeoffPlan, space: DesignSpace, options: RunOptions, stream: TextIO | None
) -> SearchOutcome:
    """Every planned (member, seed) of ``plan`` not finished yet, through one ``run_study``."""
    import optuna

    started = time.monotonic()
    options = dataclasses.replace(options, trials=plan.trials)
    candidates = PlanSampler(plan)
    # Every trial is queued up front; the sampler is only a fallback and never decides a member.
    sampler = optuna.samplers.RandomSampler(seed=options.seed)
    study = run.open_study(sampler)
    return run_study(run, space, options, study, candidates, stream, queue=candidates.queue, started=started)
