"""MO-ASHA's ranking rules replayed on the learning curves of finished fifo searches.

A fifo search trains every candidate for every epoch and keeps each epoch's validation accuracy. Training
is deterministic for a seed, so a candidate that MO-ASHA lets run for k epochs gets exactly the first k
epochs of that curve. This script replays MO-ASHA over those curves with the real scheduler
(``MOASHAScheduler``) for each rule: trials start in the order they were drawn, two at a time by default,
and each epoch takes as long as it took under fifo. For every rule it prints the hypervolume of the
completed trials (as ``search_efficiency.py`` computes it) and the epochs trained, as shares of fifo's,
per run and as the mean and the worst over runs.

It compares rules in seconds; the figures a change is judged by come from ``search_efficiency.py``, which
runs the searches. Asynchrony differs a little from a live search (worker start-up and reporting are not
replayed), so a rule's replayed share can differ from its live one by a few points.

    .venv/bin/python benchmarks/rung_rules.py RUNS_DIR [--slots 2]

RUNS_DIR holds fifo run directories (``search_efficiency.py --runs RUNS_DIR`` keeps them, named
``b-fifo-random-*``); every run with 9-epoch trials of the random sampler found there is replayed.
"""

from __future__ import annotations

import argparse
import heapq
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from optuna.trial import FrozenTrial, TrialState
from ray.tune.schedulers import TrialScheduler

from nas_resnext.pareto import hypervolume, losses
from nas_resnext.rundir import RunDirectory
from nas_resnext.search.schedulers import MOASHAScheduler


@dataclass(frozen=True)
class Rule:
    label: str
    selection: str = "crowding"
    grace_period: int = 1
    reduction_factor: float = 3
    front_grace: str = "none"
    # ASHA's promotion form (Li et al. 2020): a trial pauses at every rung, and a free worker first resumes
    # a paused trial that is now among the top 1/eta of its rung, else starts a new one: a rung ranks only
    # once it holds eta results, and late arrivals can still promote an earlier trial.
    promotion: bool = False


RULES = [
    Rule("crowding (the rule before front grace)"),
    Rule("hypervolume", selection="hypervolume"),
    Rule("epsnet", selection="epsnet"),
    Rule("crowding + front grace at every rung", front_grace="all"),
    Rule("epsnet + front grace at every rung", selection="epsnet", front_grace="all"),
    Rule("crowding + front grace above the first rung while filling (default)", front_grace="filling"),
    Rule("crowding + front grace above the first rung", front_grace="upper"),
    Rule("epsnet + front grace above the first rung", selection="epsnet", front_grace="upper"),
    Rule("hypervolume + front grace above the first rung", selection="hypervolume", front_grace="upper"),
    Rule("crowding, grace 2", grace_period=2),
    Rule("crowding, grace 3", grace_period=3),
    Rule("epsnet, grace 2", selection="epsnet", grace_period=2),
    Rule("crowding, promotion (waits for eta)", promotion=True),
    Rule("epsnet, promotion (waits for eta)", selection="epsnet", promotion=True),
]


@dataclass
class _Stub:
    """What the scheduler reads of a Ray trial: its id."""

    trial_id: str


def curves(trials: list[FrozenTrial]) -> list[tuple[str, float, list[float], list[float]]]:
    """(name, flops, accuracy per epoch, seconds per epoch) of each trained trial, in drawing order."""
    found = []
    for trial in sorted(trials, key=lambda t: t.number):
        if trial.state != TrialState.COMPLETE or "reused_from" in trial.user_attrs:
            continue
        history = trial.user_attrs["history"]
        found.append(
            (
                trial.user_attrs["name"],
                float(trial.user_attrs["flops"]),
                [float(h["val_accuracy"]) for h in history],
                [float(h.get("epoch_seconds", 1.0)) for h in history],
            )
        )
    return found


def replay(
    candidates: list[tuple[str, float, list[float], list[float]]], rule: Rule, max_t: int, slots: int
) -> tuple[list[tuple[float, float]], int]:
    """MO-ASHA over ``candidates``: the (accuracy, flops) of the trials it completed and the epochs run."""
    scheduler = MOASHAScheduler(
        ["val_accuracy", "flops"],
        grace_period=rule.grace_period,
        reduction_factor=rule.reduction_factor,
        max_t=max_t,
        selection=rule.selection,
        front_grace=rule.front_grace,
    )
    events: list[tuple[float, int, int]] = []  # (time the epoch ends, candidate, epoch)
    waiting = list(range(len(candidates)))
    completed, epochs_run = [], 0

    def start(index: int, now: float) -> None:
        heapq.heappush(events, (now + candidates[index][3][0], index, 1))

    for _ in range(min(slots, len(waiting))):
        start(waiting.pop(0), 0.0)
    while events:
        now, index, epoch = heapq.heappop(events)
        name, flops, accuracy, seconds = candidates[index]
        epochs_run += 1
        result = {"epoch": epoch, "val_accuracy": accuracy[epoch - 1], "flops": flops}
        decision = scheduler.on_trial_result(None, _Stub(name), result)
        if epoch >= max_t:
            completed.append((accuracy[epoch - 1], flops))
        elif decision == TrialScheduler.CONTINUE:
            heapq.heappush(events, (now + seconds[epoch], index, epoch + 1))
            continue
        if waiting:
            start(waiting.pop(0), now)
    return completed, epochs_run


def replay_promotion(
    candidates: list[tuple[str, float, list[float], list[float]]], rule: Rule, max_t: int, slots: int
) -> tuple[list[tuple[float, float]], int]:
    """ASHA in its promotion form over ``candidates``; returns what :func:`replay` returns."""
    from nas_resnext.search.ranking import selection_order
    from nas_resnext.search.schedulers import rung_levels

    levels = [int(level) for level in rung_levels(rule.grace_period, rule.reduction_factor, max_t)]
    recorded: dict[int, list[int]] = {level: [] for level in levels}  # rung -> candidates, arrival order
    promoted: dict[int, set[int]] = {level: set() for level in levels}
    events: list[tuple[float, int, int, int]] = []  # (time, candidate, first epoch, last epoch)
    waiting = list(range(len(candidates)))
    completed, epochs_run = [], 0

    def next_job(now: float) -> None:
        for level in reversed(levels):
            members = recorded[level]
            quota = int(len(members) // rule.reduction_factor)
            losses_at = [[-candidates[i][2][level - 1], candidates[i][1]] for i in members]
            for row in selection_order(losses_at, rule.selection)[:quota]:
                index = members[row]
                if index not in promoted[level]:
                    promoted[level].add(index)
                    run_to(index, level + 1, now)
                    return
        if waiting:
            run_to(waiting.pop(0), 1, now)

    def run_to(index: int, first: int, now: float) -> None:
        last = next((level for level in levels if level >= first), max_t)
        seconds = sum(candidates[index][3][first - 1 : last])
        heapq.heappush(events, (now + seconds, index, first, last))

    for _ in range(slots):
        next_job(0.0)
    while events:
        now, index, first, last = heapq.heappop(events)
        epochs_run += last - first + 1
        if last >= max_t:
            completed.append((candidates[index][2][max_t - 1], candidates[index][1]))
        else:
            recorded[last].append(index)
        next_job(now)
    return completed, epochs_run


def front_hypervolume(points: list[tuple[float, float]], scale: float) -> float:
    if not points:
        return 0.0
    return hypervolume(losses([p[0] for p in points], [[p[1] for p in points]], [scale]))


def _finished(path: Path) -> bool:
    """Whether ``path`` is a run directory whose search finished (a run still going is left out)."""
    if not (path / "run.json").is_file():
        return False
    run = RunDirectory.open(path)
    return sum(t.state.is_finished() for t in run.load_trials()) >= run.load_options().trials


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, help="a directory of fifo runs (search_efficiency.py --runs)")
    parser.add_argument("--slots", type=int, default=2, help="trials in flight at once")
    parser.add_argument("--pattern", default="b-fifo-random-*x9-*", help="which run directories to replay")
    args = parser.parse_args()
    runs = sorted(p for p in args.runs.glob(args.pattern) if _finished(p))
    if not runs:
        print(f"error: no run directory matching {args.pattern!r} in {args.runs}", file=sys.stderr)
        return 2
    print(f"Replaying MO-ASHA (eta 3 unless named) over {len(runs)} fifo runs, {args.slots} slots\n")
    print(
        "| rule | " + " | ".join(p.name.rsplit("-", 1)[-1] for p in runs) + " | mean HV | worst HV "
        "| mean epochs | worst epochs |"
    )
    print("| --- | " + " | ".join("---:" for _ in runs) + " | ---: | ---: | ---: | ---: |")
    loaded = []
    for path in runs:
        run = RunDirectory.open(path)
        space = run.load_space()
        candidates = curves(run.load_trials())
        scale = (space.budget.max_gflops or 1.0) * 1e9
        full = [(c[2][-1], c[1]) for c in candidates]
        loaded.append((candidates, scale, front_hypervolume(full, scale), sum(len(c[2]) for c in candidates)))
    for rule in RULES:
        hv_ratios, epoch_ratios, cells = [], [], []
        for candidates, scale, hv_fifo, epochs_fifo in loaded:
            max_t = len(candidates[0][2])
            play = replay_promotion if rule.promotion else replay
            completed, epochs = play(candidates, rule, max_t, args.slots)
            hv_ratios.append(front_hypervolume(completed, scale) / hv_fifo)
            epoch_ratios.append(epochs / epochs_fifo)
            cells.append(f"{hv_ratios[-1]:.3f} / {epoch_ratios[-1]:.3f}")
        print(
            f"| {rule.label} | " + " | ".join(cells) + f" | {statistics.mean(hv_ratios):.1%} "
            f"| {min(hv_ratios):.1%} | {statistics.mean(epoch_ratios):.1%} | {max(epoch_ratios):.1%} |"
        )
    print("\nCells: HV / fifo's and epochs / fifo's for each seed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
