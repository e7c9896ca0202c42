"""Search efficiency on digits_demo.yaml, measured side by side in one run.

(a) tpe vs random sampling at equal trial counts: hypervolume of the final front (accuracy vs FLOPs).
(b) moasha vs fifo: hypervolume of the final front and total epochs trained, for each of moasha's orderings
    within a front (crowding distance, the default, and hypervolume contribution).
    Goal: moasha reaches >= 95% of fifo's hypervolume with <= 1/3 of its epochs.
    The sampler is random by default: with the same seed both runs then draw the same candidates, so the
    comparison measures the scheduler alone. A sampler that learns reacts to the schedule (Optuna's
    multi-objective TPE learns only from completed trials, few under moasha, and revisits more under fifo,
    whose repeats are reused rather than retrained); ``--sampler tpe`` shows that case.
(c) Ray Tune overhead: trials per hour through the Ray path vs an in-process sequential loop over the same
    architectures with the same trainer.

Hypervolume: losses (1 - accuracy, FLOPs / the budget's max_gflops), reference point (1, 1); COMPLETE
trials only (an early-stopped trial never counts as trained). Each trained model counts once: a copy (a
redrawn architecture whose outcome the search copied, ``reused_from``) adds no point, no epochs, and is
not trained again by the in-process loop of (c).

    .venv/bin/python benchmarks/search_efficiency.py [--trials 20] [--seeds 0,1] [--parts a,b,c]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from optuna.trial import FrozenTrial, TrialState

from nas_resnext.pareto import hypervolume, losses
from nas_resnext.rundir import RunDirectory, RunOptions
from nas_resnext.search.runner import SearchOutcome, run_search
from nas_resnext.space import DesignSpace

SPACE = Path(__file__).resolve().parents[1] / "search_spaces" / "digits_demo.yaml"


def search(space: DesignSpace, root: Path, label: str, **options: object) -> tuple[SearchOutcome, float]:
    run_options = RunOptions(trials=space.search.trials, sampler="tpe", scheduler="fifo", seed=0)
    for key, value in options.items():
        setattr(run_options, key, value)
    run = RunDirectory.create(root / label, space, run_options)
    print(f"  running {label} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    outcome = run_search(run, space, run_options, stream=None)
    return outcome, time.perf_counter() - started


def trained_trials(outcome: SearchOutcome) -> list[FrozenTrial]:
    """The trials that trained: every trial but the copies of another's outcome."""
    return [t for t in outcome.trials if "reused_from" not in t.user_attrs]


def front_hypervolume(outcome: SearchOutcome, space: DesignSpace) -> float:
    complete = [t for t in trained_trials(outcome) if t.state == TrialState.COMPLETE]
    scale = (space.budget.max_gflops or 1.0) * 1e9
    rows = losses([t.values[0] for t in complete], [[t.user_attrs["flops"] for t in complete]], [scale])
    return hypervolume(rows)


def epochs_trained(outcome: SearchOutcome) -> int:
    # A copy carries its source's epochs but trained none; count each training once.
    return sum(t.user_attrs.get("epochs", 0) for t in trained_trials(outcome))


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
        tpe, _ = search(space, root, f"tpe-{seed}", sampler="tpe", seed=seed, trials=trials)
        rnd, _ = search(space, root, f"random-{seed}", sampler="random", seed=seed, trials=trials)
        hv_tpe, hv_rnd = front_hypervolume(tpe, space), front_hypervolume(rnd, space)
        ratios.append(hv_tpe / hv_rnd if hv_rnd else float("nan"))
        print(f"| {seed} | {trials} | {hv_tpe:.4f} | {hv_rnd:.4f} | {ratios[-1]:.3f} |")
    print(f"\nmean tpe / random hypervolume: {statistics.mean(ratios):.3f}")


def part_b(
    space: DesignSpace,
    root: Path,
    seeds: list[int],
    trials: int,
    epochs: int,
    selections: list[str],
    sampler: str = "random",
) -> None:
    print(
        f"\n(b) moasha vs fifo, {trials} trials of up to {epochs} epochs (grace 1, eta 3), "
        f"sampler {sampler}\n"
    )
    print("| seed | scheduler | HV | HV / fifo | epochs | epochs / fifo | distinct trained |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    long_space = with_epochs(space, epochs)
    ratios: dict[str, list[tuple[float, float]]] = {s: [] for s in selections}
    for seed in seeds:
        fifo, _ = search(
            long_space, root, f"fifo-{seed}", scheduler="fifo", sampler=sampler, seed=seed, trials=trials
        )
        hv_f, ep_f = front_hypervolume(fifo, long_space), epochs_trained(fifo)
        print(f"| {seed} | fifo | {hv_f:.4f} | 1 | {ep_f} | 1 | {distinct_trained(fifo)} |", flush=True)
        for selection in selections:
            moasha, _ = search(
                long_space,
                root,
                f"moasha-{selection}-{seed}",
                scheduler="moasha",
                sampler=sampler,
                selection=selection,
                seed=seed,
                trials=trials,
            )
            hv_m, ep_m = front_hypervolume(moasha, long_space), epochs_trained(moasha)
            ratios[selection].append((hv_m / hv_f, ep_m / ep_f))
            print(
                f"| {seed} | moasha ({selection}) | {hv_m:.4f} | {hv_m / hv_f:.3f} | {ep_m} "
                f"| {ep_m / ep_f:.3f} | {distinct_trained(moasha)} |",
                flush=True,
            )
    print()
    for selection, pairs in ratios.items():
        hv = statistics.mean(p[0] for p in pairs)
        ep = statistics.mean(p[1] for p in pairs)
        verdict = "met" if hv >= 0.95 and ep <= 1 / 3 else "NOT met"
        print(
            f"moasha ({selection}), mean over seeds: {hv:.1%} of fifo's hypervolume with {ep:.1%} of its "
            f"epochs (goal >= 95% at <= 33.3%: {verdict})"
        )


def distinct_trained(outcome: SearchOutcome) -> int:
    return len({t.user_attrs["name"] for t in trained_trials(outcome)})


def part_c(space: DesignSpace, root: Path, trials: int) -> None:
    import json

    from nas_resnext.architecture import Architecture
    from nas_resnext.data import load_dataset
    from nas_resnext.latency import architecture_latency
    from nas_resnext.training import train_candidate

    outcome, ray_seconds = search(space, root, "ray-overhead", sampler="random", seed=0, trials=trials)
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
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--moasha-epochs", type=int, default=9, help="epochs per trial in part (b)")
    parser.add_argument("--overhead-trials", type=int, default=10, help="trials in part (c)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds for parts (a) and (b)")
    parser.add_argument("--parts", default="a,b,c")
    parser.add_argument(
        "--sampler",
        default="random",
        help="the sampler of part (b): random gives both schedulers the same candidates",
    )
    parser.add_argument(
        "--selections", default="crowding,hypervolume", help="moasha's orderings within a front, part (b)"
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    parts = set(args.parts.split(","))
    space = DesignSpace.from_file(SPACE)
    with tempfile.TemporaryDirectory(prefix="search-efficiency-") as tmp:
        root = Path(tmp)
        if "a" in parts:
            part_a(space, root, seeds, args.trials)
        if "b" in parts:
            part_b(
                space, root, seeds, args.trials, args.moasha_epochs, args.selections.split(","), args.sampler
            )
        if "c" in parts:
            part_c(space, root, args.overhead_trials)
    return 0


if __name__ == "__main__":
    sys.exit(main())
