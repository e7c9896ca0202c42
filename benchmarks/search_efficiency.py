"""Search efficiency on digits_demo.yaml, measured side by side in one run.

(a) tpe vs random sampling at equal trial counts: hypervolume of the final front (accuracy vs FLOPs).
(b) moasha vs fifo over seeds (0-4 by default): hypervolume of the final front and total epochs trained,
    per seed and as the mean and the worst over seeds, for each sampler and moasha ordering.
    Goals: with random, mean >= 97% and worst >= 92% of fifo's hypervolume at <= 1/3 of its epochs; with
    rung-tpe (the model-based sampler that learns from rungs), >= 95% of tpe-with-fifo's hypervolume at
    <= 40% of its epochs. The random sampler draws the same candidates under both schedulers for a seed,
    so the comparison measures the scheduler alone; a sampler that learns is measured against its own
    fifo run (rung-tpe against tpe, whose fifo run it equals). With several samplers, moasha's front under
    each is also set against the first's. ``--diagnose`` lists the members of fifo's front that moasha
    stopped, at which epoch, and what went on instead.
(c) Ray Tune overhead: trials per hour through the Ray path vs an in-process sequential loop over the same
    architectures with the same trainer.

Hypervolume: losses (1 - accuracy, FLOPs / the budget's max_gflops), reference point (1, 1); COMPLETE
trials only (an early-stopped trial never counts as trained). Each trained model counts once: a copy (a
redrawn architecture whose outcome the search copied, ``reused_from``) adds no point, no epochs, and is
not trained again by the in-process loop of (c).

``--runs DIR`` keeps the run directories and reuses finished ones, so fifo's reference runs are trained
once for any number of moasha variants (``benchmarks/rung_rules.py`` replays rules on them in seconds).

    .venv/bin/python benchmarks/search_efficiency.py [--trials N] [--seeds 0,1,2,3,4] [--parts a,b,c]
        [--samplers random,rung-tpe] [--selections crowding] [--front-grace filling] [--runs DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from nas_resnext.pareto import hypervolume, losses, pareto_mask
from nas_resnext.rundir import RunDirectory, RunOptions
from nas_resnext.search.runner import run_search
from nas_resnext.space import DesignSpace

SPACE = Path(__file__).resolve().parents[1] / "search_spaces" / "digits_demo.yaml"


def search(space: DesignSpace, root: Path, label: str, **options: object) -> tuple[list[FrozenTrial], float]:
    """The trials of a finished search labelled ``label`` under ``root``, and its wall seconds.

    A run directory already there with every trial finished is read, not run again (``--runs DIR`` keeps
    runs between invocations: a fifo reference is the same for every moasha variant of a seed).
    """
    path = root / label
    if (path / "run.json").is_file():
        run = RunDirectory.open(path)
        trials = run.load_trials()
        recorded = run.load_options()
        if sum(t.state.is_finished() for t in trials) >= recorded.trials:
            print(f"  reusing {label} from {path}", file=sys.stderr, flush=True)
            return trials, recorded.wall_seconds
        shutil.rmtree(path)
    run_options = RunOptions(trials=space.search.trials, sampler="tpe", scheduler="fifo", seed=0)
    for key, value in options.items():
        setattr(run_options, key, value)
    run = RunDirectory.create(path, space, run_options)
    print(f"  running {label} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    outcome = run_search(run, space, run_options, stream=None)
    return outcome.trials, time.perf_counter() - started


def trained_trials(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that trained: every trial but the copies of another's outcome."""
    return [t for t in trials if "reused_from" not in t.user_attrs]


def complete_losses(trials: list[FrozenTrial], space: DesignSpace) -> tuple[list[FrozenTrial], np.ndarray]:
    """The trained COMPLETE trials and their loss rows (1 - accuracy, FLOPs / the budget's max_gflops)."""
    complete = [t for t in trained_trials(trials) if t.state == TrialState.COMPLETE]
    scale = (space.budget.max_gflops or 1.0) * 1e9
    rows = losses([t.values[0] for t in complete], [[t.user_attrs["flops"] for t in complete]], [scale])
    return complete, rows


def front_hypervolume(trials: list[FrozenTrial], space: DesignSpace) -> float:
    return hypervolume(complete_losses(trials, space)[1])


def epochs_trained(trials: list[FrozenTrial]) -> int:
    # A copy carries its source's epochs but trained none; count each training once.
    return sum(t.user_attrs.get("epochs", 0) for t in trained_trials(trials))


def with_epochs(space: DesignSpace, epochs: int) -> DesignSpace:
    data = space.to_dict()
    data["training"]["epochs"] = epochs
    return DesignSpace.from_dict(data)


def part_a(space: DesignSpace, root: Path, seeds: list[int], trials: int) -> None:
    print("\n(a) tpe vs random, equal trial counts\n")
    print("| seed | trials | tpe hypervolume | random hypervolume | tpe / random |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    ratios = []
    for seed in seeds:
        tpe, _ = search(space, root, f"a-tpe-{trials}-{seed}", sampler="tpe", seed=seed, trials=trials)
        rnd, _ = search(space, root, f"a-random-{trials}-{seed}", sampler="random", seed=seed, trials=trials)
        hv_tpe, hv_rnd = front_hypervolume(tpe, space), front_hypervolume(rnd, space)
        ratios.append(hv_tpe / hv_rnd if hv_rnd else float("nan"))
        print(f"| {seed} | {trials} | {hv_tpe:.4f} | {hv_rnd:.4f} | {ratios[-1]:.3f} |")
    print(f"\nmean tpe / random hypervolume: {statistics.mean(ratios):.3f}")


# The fifo reference of each sampler under early stopping: a sampler that learns from rungs is measured
# against the sampler it extends, run to completion.
REFERENCE_SAMPLER = {"rung-tpe": "tpe"}
GOALS = {  # sampler -> (mean hypervolume ratio, worst ratio, epoch share): the goals
    "random": (0.97, 0.92, 1 / 3),
    "rung-tpe": (0.95, 0.0, 0.40),
    "tpe": (0.95, 0.0, 0.40),  # the model-based sampler's goal, for comparison
}


def part_b(
    space: DesignSpace,
    root: Path,
    seeds: list[int],
    trials: int,
    epochs: int,
    selections: list[str],
    samplers: list[str],
    grace_period: int = 1,
    diagnose: bool = False,
    front_grace: str = "filling",
) -> None:
    print(
        f"\n(b) moasha vs fifo, {trials} trials of up to {epochs} epochs (grace {grace_period}, eta 3, "
        f"front grace {front_grace}), "
        f"samplers {', '.join(samplers)}, seeds {', '.join(map(str, seeds))}\n"
    )
    print("| seed | sampler | scheduler | HV | HV / fifo | epochs | epochs / fifo | distinct trained |")
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    long_space = with_epochs(space, epochs)
    ratios: dict[tuple[str, str], list[tuple[float, float]]] = {}
    absolute: dict[tuple[str, str], dict[int, tuple[float, int]]] = {}
    for sampler in samplers:
        reference = REFERENCE_SAMPLER.get(sampler, sampler)
        for seed in seeds:
            fifo, _ = search(
                long_space,
                root,
                f"b-fifo-{reference}-{trials}x{epochs}-{seed}",
                scheduler="fifo",
                sampler=reference,
                seed=seed,
                trials=trials,
            )
            hv_f, ep_f = front_hypervolume(fifo, long_space), epochs_trained(fifo)
            print(
                f"| {seed} | {reference} | fifo | {hv_f:.4f} | 1 | {ep_f} | 1 | {distinct_trained(fifo)} |",
                flush=True,
            )
            for selection in selections:
                moasha, _ = search(
                    long_space,
                    root,
                    f"b-moasha-{selection}-g{grace_period}-fg{front_grace}-{sampler}-{trials}x{epochs}-{seed}",
                    scheduler="moasha",
                    sampler=sampler,
                    selection=selection,
                    front_grace=front_grace,
                    grace_period=grace_period,
                    seed=seed,
                    trials=trials,
                )
                hv_m, ep_m = front_hypervolume(moasha, long_space), epochs_trained(moasha)
                ratios.setdefault((sampler, selection), []).append((hv_m / hv_f, ep_m / ep_f))
                absolute.setdefault((sampler, selection), {})[seed] = (hv_m, ep_m)
                print(
                    f"| {seed} | {sampler} | moasha ({selection}) | {hv_m:.4f} | {hv_m / hv_f:.3f} | {ep_m} "
                    f"| {ep_m / ep_f:.3f} | {distinct_trained(moasha)} |",
                    flush=True,
                )
                if diagnose:
                    print(lost_front(fifo, moasha, long_space), flush=True)
    print()
    print(
        "| sampler | moasha ordering | seeds | mean HV / fifo | worst HV / fifo | mean epochs / fifo "
        "| worst epochs / fifo | goal |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for (sampler, selection), pairs in ratios.items():
        hv = [p[0] for p in pairs]
        ep = [p[1] for p in pairs]
        mean_goal, worst_goal, share_goal = GOALS.get(sampler, (0.95, 0.0, 1 / 3))
        met = statistics.mean(hv) >= mean_goal and min(hv) >= worst_goal and statistics.mean(ep) <= share_goal
        goal = f"mean >= {mean_goal:.0%}" + (f", worst >= {worst_goal:.0%}" if worst_goal else "")
        goal += f" at <= {share_goal:.1%} of the epochs: {'met' if met else 'NOT met'}"
        print(
            f"| {sampler} | {selection} | {len(pairs)} | {statistics.mean(hv):.1%} | {min(hv):.1%} "
            f"| {statistics.mean(ep):.1%} | {max(ep):.1%} | {goal} |"
        )
    if len(samplers) > 1:
        _across_samplers(absolute, seeds)


def _across_samplers(absolute: dict[tuple[str, str], dict[int, tuple[float, int]]], seeds: list[int]) -> None:
    """moasha's front under each sampler against the first sampler's, seed by seed: the ratios of
    hypervolume and epochs, and whether the seeds decide (95% paired t interval of the mean ratio)."""
    (base_key, base), *others = absolute.items()
    print(f"\nmoasha under each sampler against moasha with {base_key[0]} ({base_key[1]}), the same seeds\n")
    print(
        "| sampler | ordering | mean HV / base [95% CI] | HV | mean epochs / base [95% CI] | epochs "
        "| per seed |"
    )
    print("| --- | --- | ---: | --- | ---: | --- | --- |")
    for (sampler, selection), runs in others:
        hv = [runs[s][0] / base[s][0] for s in seeds]
        ep = [runs[s][1] / base[s][1] for s in seeds]
        cells = ", ".join(f"{s}: {h:.3f} / {e:.2f}" for s, h, e in zip(seeds, hv, ep, strict=True))
        hv_text, hv_verdict = _paired_mean(hv)
        ep_text, ep_verdict = _paired_mean(ep)
        print(f"| {sampler} | {selection} | {hv_text} | {hv_verdict} | {ep_text} | {ep_verdict} | {cells} |")
    print(
        "\n(intervals: Student's t over the per-seed ratios, 95%; 'not decided' where the interval holds 1)"
    )


def _paired_mean(ratios: list[float]) -> tuple[str, str]:
    """``mean [low, high]`` of per-seed ratios (Student's t, 95%) and whether it is above, below or not
    decided against 1."""
    from scipy import stats

    mean = statistics.mean(ratios)
    if len(ratios) < 2:
        return f"{mean:.1%}", "not decided (one seed)"
    half = stats.t.ppf(0.975, len(ratios) - 1) * statistics.stdev(ratios) / len(ratios) ** 0.5
    low, high = mean - half, mean + half
    verdict = "higher" if low > 1 else "lower" if high < 1 else "not decided"
    return f"{mean:.1%} [{low:.1%}, {high:.1%}]", verdict


def lost_front(fifo: list[FrozenTrial], moasha: list[FrozenTrial], space: DesignSpace) -> str:
    """Which members of fifo's front moasha did not finish, where it stopped them and what ranked ahead.

    With the random sampler both runs draw the same candidates and train them identically, so a member's
    curve under moasha is the first epochs of its curve under fifo.
    """
    complete, rows = complete_losses(fifo, space)
    front = [t for t, on_front in zip(complete, pareto_mask(rows), strict=True) if on_front]
    by_name = {t.user_attrs["name"]: t for t in trained_trials(moasha)}
    lines = []
    for member in sorted(front, key=lambda t: t.user_attrs["flops"]):
        name = member.user_attrs["name"]
        other = by_name.get(name)
        if other is None:
            lines.append(f"    {name}: not drawn by moasha")
            continue
        if other.state == TrialState.COMPLETE:
            continue
        stopped = int(other.user_attrs.get("epochs", 0))
        at_rung = _accuracy_at(other, stopped)
        ahead = [
            t
            for t in trained_trials(moasha)
            if t.user_attrs["name"] != name and int(t.user_attrs.get("epochs", 0)) > stopped
        ]

        beaten_by = [
            _described(t, stopped)
            for t in ahead
            if _accuracy_at(t, stopped) >= at_rung and t.user_attrs["flops"] <= member.user_attrs["flops"]
        ]
        reached = sum(int(t.user_attrs.get("epochs", 0)) >= stopped for t in trained_trials(moasha))
        why = (
            f"dominated there by trials that went on: {', '.join(beaten_by)}"
            if beaten_by
            else "no trial that went on dominates it; went on: "
            + ", ".join(_described(t, stopped) for t in ahead)
        )
        lines.append(
            f"    {name} ({member.user_attrs['flops'] / 1e6:.2f} MFLOPs, {member.values[0]:.1%} after "
            f"{int(member.user_attrs['epochs'])} epochs under fifo): stopped at epoch {stopped} with "
            f"{at_rung:.1%}, one of {reached} results there; {why}"
        )
    return "\n".join(lines) or "    every member of fifo's front finished"


def _described(trial: FrozenTrial, epoch: int) -> str:
    """``name (accuracy at epoch, MFLOPs)``."""
    return (
        f"{trial.user_attrs['name']} ({_accuracy_at(trial, epoch):.1%}, "
        f"{trial.user_attrs['flops'] / 1e6:.2f} MFLOPs)"
    )


def _accuracy_at(trial: FrozenTrial, epoch: int) -> float:
    for entry in trial.user_attrs.get("history", []):
        if int(entry.get("epoch", 0)) == epoch:
            return float(entry["val_accuracy"])
    return float("nan")


def distinct_trained(trials: list[FrozenTrial]) -> int:
    return len({t.user_attrs["name"] for t in trained_trials(trials)})


def part_c(space: DesignSpace, root: Path, trials: int) -> None:
    import json

    from nas_resnext.architecture import Architecture
    from nas_resnext.data import load_dataset
    from nas_resnext.latency import architecture_latency
    from nas_resnext.training import train_candidate

    outcome, ray_seconds = search(
        space, root, f"c-ray-overhead-{trials}", sampler="random", seed=0, trials=trials
    )
    # The Ray path trained each architecture once (a redraw was copied), so the loop trains those alone and
    # both rates count trained models.
    archs = [Architecture.from_dict(t.user_attrs["architecture"]) for t in trained_trials(outcome)]
    trials = len(archs)
    print(f"\n(c) Ray Tune path vs in-process sequential loop, the same {trials} architectures\n")
    started = time.perf_counter()
    data = load_dataset(
        space.dataset,
        space.data_dir,
        archs[0].resolution,
        space.training,
        in_channels=archs[0].in_channels,
        num_classes=archs[0].num_classes,
    )
    for arch in archs:
        architecture_latency(arch, space.training.device, max_seconds=2.0)
        train_candidate(arch, data, space.training, measure=False)
    loop_seconds = time.perf_counter() - started
    ray_rate, loop_rate = trials / ray_seconds * 3600, trials / loop_seconds * 3600
    print("| path | trials | seconds | trials per hour |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| Ray Tune (local Ray started in-process, 1 CPU per trial) | {trials} | {ray_seconds:.1f} "
        f"| {ray_rate:.0f} |"
    )
    print(f"| in-process sequential loop | {trials} | {loop_seconds:.1f} | {loop_rate:.0f} |")
    print(f"\nRay path / in-process loop, trials per hour: {ray_rate / loop_rate:.2f}")
    print(json.dumps({"ray_seconds": ray_seconds, "loop_seconds": loop_seconds}))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--trials", type=int, default=None, help="candidates per search: default 20 in part (a), 40 in (b)"
    )
    parser.add_argument("--moasha-epochs", type=int, default=9, help="epochs per trial in part (b)")
    parser.add_argument("--overhead-trials", type=int, default=10, help="trials in part (c)")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds for parts (a) and (b)")
    parser.add_argument("--parts", default="a,b,c")
    parser.add_argument(
        "--samplers",
        "--sampler",
        default="random",
        help="samplers of part (b), comma-separated: random gives fifo and moasha the same candidates; "
        "rung-tpe is compared with tpe under fifo",
    )
    parser.add_argument(
        "--selections", default="crowding", help="moasha's rankings at a rung, comma-separated, part (b)"
    )
    parser.add_argument("--grace-period", type=int, default=1, help="moasha's first rung, part (b)")
    parser.add_argument(
        "--front-grace",
        default="filling",
        help="moasha's front grace (filling | upper | all | none), part (b)",
    )
    parser.add_argument(
        "--diagnose", action="store_true", help="list the members of fifo's front that moasha stopped"
    )
    parser.add_argument(
        "--runs",
        type=Path,
        default=None,
        help="keep the run directories here and reuse finished ones (default: a temporary directory)",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    parts = set(args.parts.split(","))
    space = DesignSpace.from_file(SPACE)
    with tempfile.TemporaryDirectory(prefix="search-efficiency-") as tmp:
        root = args.runs or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if "a" in parts:
            part_a(space, root, seeds, args.trials or 20)
        if "b" in parts:
            part_b(
                space,
                root,
                seeds,
                args.trials or 40,
                args.moasha_epochs,
                args.selections.split(","),
                args.samplers.split(","),
                grace_period=args.grace_period,
                diagnose=args.diagnose,
                front_grace=args.front_grace,
            )
        if "c" in parts:
            part_c(space, root, args.overhead_trials)
    return 0


if __name__ == "__main__":
    sys.exit(main())
