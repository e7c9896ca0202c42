"""Search throughput: how much of a search's slot time trains models, and where the rest goes.

Runs one real search (local Ray) and prints, from one run:

- slot use: the trials' summed epoch seconds (training and validation) / (wall seconds x slots), where
  slots = the trials that can run at once (``--max-concurrent``, default: CPUs / ``--cpus-per-trial``, or
  GPUs / ``--gpus-per-trial`` with ``--device cuda``);
- trials per hour;
- where a trial's other time goes, per trained trial (mean and total): the worker's start-up and imports
  (first trial of a worker process), imports and counting in the trial, the latency measurement (with any
  wait for the device), reading the data set, building the model and moving it and the data to the device,
  the first epoch's extra time over the median later epoch (cuDNN autotuning, compilation, warm caches),
  writing checkpoints and reports; and the slot time spent outside any trial (Ray's start, scheduling, idle
  slots).

Spaces: ``digits`` (search_spaces/digits_demo.yaml, the README's demo) and ``cifar`` (a CIFAR-shaped space
on synthetic 32x32 RGB images: the cifar template at the widths of resnext_cifar.yaml scaled down so that a
trial takes seconds). Goals: slot use >= 90% for the digits demo on this CPU; >= 80% on one
GPU with 4 digits trials per GPU.

Besides the slot use of the whole search it prints the slot use from the first trial's start (what a longer
search tends to once Ray and the first workers are up), how long Ray's start took (``connect_ray``) and splits
the slot time into what a search pays once (Ray's start, each worker's first trial) and what every trial pays.
``--repeats N`` runs N searches, each as its own process, and prints the median; ``--compare-with SRC`` runs
the same searches with the ``nas_resnext`` of another source tree (e.g. ``git worktree add /tmp/old HEAD~3``),
alternating with this tree's in the same rounds so that a busy moment of the machine falls on both, and prints
the ratios. ``--ray-address`` searches on a Ray cluster that is already running (its start is then not the
search's).

    .venv/bin/python benchmarks/search_throughput.py [--space digits|cifar] [--trials 20] [--epochs E]
        [--device cpu|cuda] [--gpus-per-trial 0.25] [--max-concurrent N] [--ray-address ADDRESS]
        [--repeats N] [--compare-with SRC] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from nas_resnext.rundir import RunDirectory, RunOptions
from nas_resnext.search.runner import run_search
from nas_resnext.space import DesignSpace

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "search_spaces" / "digits_demo.yaml"
CIFAR_SHAPED = {
    "name": "cifar_shaped",
    "template": "cifar",
    "resolution": 32,
    "in_channels": 3,
    "num_classes": 10,
    "stem_width": 16,
    "dataset": "synthetic",
    "axes": {"depth": [1, 2], "width": [8, 16], "cardinality": [1, 2, 4, 8], "bottleneck_width": [2, 4, 8]},
    "budget": {"max_gflops": 0.05},
    "training": {"epochs": 4, "batch_size": 128, "lr": 0.1},
    "search": {"trials": 12, "sampler": "random", "seed": 0},
}
PHASES = [
    ("time_worker_start", "worker start-up and imports (a new worker process)"),
    ("time_setup", "imports and counting in the trial"),
    ("time_latency", "latency measurement (and waiting for the device)"),
    ("time_data", "reading the data set"),
    ("time_resume", "reading a checkpoint to continue from"),
    ("time_build", "building the model, moving it and the data to the device"),
    ("first_epoch_extra", "first epoch over the median later epoch (autotuning, compilation)"),
    ("time_report", "writing checkpoints and reports"),
]


def load_space(name: str, args: argparse.Namespace) -> DesignSpace:
    data = DesignSpace.from_file(DIGITS).to_dict() if name == "digits" else dict(CIFAR_SHAPED)
    data = {**data, "training": dict(data["training"]), "search": dict(data.get("search") or {})}
    if args.epochs:
        data["training"]["epochs"] = args.epochs
    data["training"]["device"] = args.device
    if args.autotune:
        data["training"]["autotune"] = args.autotune
    if args.trials:
        data["search"]["trials"] = args.trials
    data["search"]["scheduler"] = "fifo"  # every trial trains every epoch: the slot time is all training
    return DesignSpace.from_dict(data, source=f"benchmark {name}")


def slots(args: argparse.Namespace) -> int:
    if args.max_concurrent:
        return args.max_concurrent
    if args.device == "cuda":
        import torch

        return int(torch.cuda.device_count() / args.gpus_per_trial)
    return int((os.cpu_count() or 1) / args.cpus_per_trial)


def epoch_seconds(trial: FrozenTrial) -> list[float]:
    return [h.get("epoch_seconds", 0.0) for h in trial.user_attrs.get("history") or []]


@contextlib.contextmanager
def _timed_ray_start() -> Iterator[list[float]]:
    """The seconds the search spends in ``connect_ray`` (starting or joining Ray) while the block runs."""
    from nas_resnext.search import environment

    spent: list[float] = []
    original = environment.connect_ray

    def timed(address: str | None) -> None:
        began = time.perf_counter()
        try:
            original(address)
        finally:
            spent.append(time.perf_counter() - began)

    environment.connect_ray = timed  # check_cluster, which connects first, looks it up when it runs
    try:
        yield spent
    finally:
        environment.connect_ray = original


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run one search as ``args`` say and return its figures (see the module's docstring)."""
    space = load_space(args.space, args)
    n_slots = slots(args)
    options = RunOptions(
        trials=space.search.trials,
        sampler=space.search.sampler,
        scheduler="fifo",
        seed=args.seed,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial if args.device == "cuda" else 0.0,
        max_concurrent=n_slots,
        keep_weights="front",
        ray_address=args.ray_address,
    )
    with tempfile.TemporaryDirectory() as folder:
        run = RunDirectory.create(Path(folder) / "run", space, options)
        print(
            f"searching {space.name}: {options.trials} trials of {space.training.epochs} epochs on "
            f"{args.device}, {n_slots} slots ...",
            file=sys.stderr,
            flush=True,
        )
        began = dt.datetime.now()
        started = time.perf_counter()
        with _timed_ray_start() as ray_start:
            outcome = run_search(run, space, options, stream=None)
        wall = time.perf_counter() - started
    trained = [t for t in outcome.trials if "reused_from" not in t.user_attrs and t.user_attrs.get("history")]
    timings = [t.user_attrs.get("timings", {}) for t in trained]
    training = sum(sum(epoch_seconds(t)) for t in trained)
    in_trials = sum(t.get("time_in_trial", 0.0) for t in timings)
    worker_start = sum(t.get("time_worker_start", 0.0) for t in timings)
    first_asked = min((t.datetime_start for t in outcome.trials if t.datetime_start), default=None)
    # Each trained trial's time in its worker, from when it ended and how long it ran there.
    intervals = [
        (
            t.datetime_complete.timestamp() - t.user_attrs["timings"]["time_in_trial"],
            t.datetime_complete.timestamp(),
        )
        for t in trained
        if t.datetime_complete and "time_in_trial" in t.user_attrs.get("timings", {})
    ]
    edges = sorted(
        [(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda e: (e[0], e[1])
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    first_start = min((a for a, _ in intervals), default=began.timestamp()) - began.timestamp()
    # A worker's first trial is the one that paid for its start (time_worker_start > 0 only there).
    besides = [  # (paid for a worker's start, seconds in the worker that no epoch took)
        (
            t.user_attrs["timings"].get("time_worker_start", 0.0) > 0,
            t.user_attrs["timings"]["time_in_trial"] - sum(epoch_seconds(t)),
        )
        for t in trained
        if "time_in_trial" in t.user_attrs.get("timings", {})
    ]
    firsts = [seconds for first, seconds in besides if first]
    later = [seconds for first, seconds in besides if not first]
    phases: dict[str, list[float]] = {}
    for key, _ in PHASES:
        if key == "first_epoch_extra":
            values = []
            for trial in trained:
                seconds = epoch_seconds(trial)
                if len(seconds) > 1:
                    values.append(max(0.0, seconds[0] - statistics.median(seconds[1:])))
        else:
            values = [t.get(key, 0.0) for t in timings]
        phases[key] = values
    return {
        "space": space.name,
        "device": args.device,
        "trials": len(outcome.trials),
        "trained": len(trained),
        "wall": wall,
        "slots": n_slots,
        "training": training,
        "slot_use": training / (wall * n_slots),
        # What the search spent besides training, whatever the epochs took (they vary from run to run).
        "not_training": wall * n_slots - training,
        "slot_use_from_first_start": training / ((wall - first_start) * n_slots),
        "trials_per_hour": len(outcome.trials) / wall * 3600,
        "trials_per_hour_from_first_start": len(outcome.trials) / (wall - first_start) * 3600,
        "before_first_asked": (first_asked - began).total_seconds() if first_asked else float("nan"),
        "ray_start": sum(ray_start),
        "before_first_start": first_start,
        "first_trial_other": statistics.fmean(firsts) if firsts else 0.0,
        "later_trial_other": statistics.fmean(later) if later else 0.0,
        "workers": len(firsts),
        # Slot time in no trial after the first one began: between trials, and idle slots at the end.
        "between_trials": (wall - first_start) * n_slots - in_trials,
        "phases": phases,
        "peak_in_flight": peak,
        "outside": wall * n_slots - in_trials - worker_start,
        "per_trial": [
            {
                "number": trial.number,
                "epochs": sum(epoch_seconds(trial)),
                **{key: trial.user_attrs.get("timings", {}).get(key, 0.0) for key, _ in PHASES},
                "time_in_trial": trial.user_attrs.get("timings", {}).get("time_in_trial", 0.0),
            }
            for trial in trained
        ],
    }


def print_figures(figures: dict[str, Any], per_trial: bool) -> None:
    counts = f"{figures['trials']} trials ({figures['trained']} trained)"
    wall, n_slots = figures["wall"], figures["slots"]
    print(f"\n{figures['space']} on {figures['device']}: {counts} in {wall:.1f} s")
    print(f"slots: {n_slots}; slot seconds: {wall * n_slots:.1f}")
    print(f"training (epochs, validation included): {figures['training']:.1f} s")
    print(f"slot use: {figures['slot_use']:.1%}")
    print(f"slot time not training: {figures['not_training']:.1f} s")
    print(f"slot use from the first trial's start: {figures['slot_use_from_first_start']:.1%}")
    print(f"trials per hour: {figures['trials_per_hour']:.0f}")
    print(f"trials per hour from the first trial's start: {figures['trials_per_hour_from_first_start']:.0f}")
    print(f"before the first trial was asked for (study, Ray's start): {figures['before_first_asked']:.1f} s")
    print(f"  of which Ray's start (connect_ray): {figures.get('ray_start', float('nan')):.1f} s")
    print(f"before the first trial began in its worker: {figures['before_first_start']:.1f} s")
    print(
        f"a worker's first trial, besides its epochs: {figures['first_trial_other']:.2f} s "
        f"({figures['workers']} workers); every later trial: {figures['later_trial_other']:.2f} s"
    )
    print(
        f"slot time between trials and idle at the end (after the first start): "
        f"{figures['between_trials']:.1f} s"
    )
    print("\nwhere a trained trial's other time goes (mean per trial, total):")
    for key, label in PHASES:
        values = figures["phases"][key]
        print(f"  {label:<70} {statistics.fmean(values) if values else 0:7.3f} s  {sum(values):7.1f} s")
    print(f"trials in flight at once: at most {figures['peak_in_flight']} of {n_slots} slots")
    label = "slot time outside any trial (Ray start, scheduling, idle slots)"
    print(f"  {label:<70} {'':>7}    {figures['outside']:7.1f} s")
    if per_trial:
        keys = [key for key, _ in PHASES if key != "first_epoch_extra"]
        print("\ntrial  epochs s  " + "  ".join(k.removeprefix("time_") for k in keys) + "  in_trial")
        for row in figures["per_trial"]:
            values = "  ".join(f"{row[k]:.2f}" for k in [*keys, "time_in_trial"])
            print(f"{row['number']:5d}  {row['epochs']:8.2f}  {values}")


def child_arguments(args: argparse.Namespace) -> list[str]:
    """This run's options for a child process that runs one search and prints its figures as JSON."""
    argv = ["--space", args.space, "--device", args.device, "--seed", str(args.seed), "--json"]
    argv += ["--cpus-per-trial", str(args.cpus_per_trial), "--gpus-per-trial", str(args.gpus_per_trial)]
    for flag, value in (
        ("--trials", args.trials),
        ("--epochs", args.epochs),
        ("--max-concurrent", args.max_concurrent),
        ("--ray-address", args.ray_address),
        ("--autotune", args.autotune),
    ):
        if value:
            argv += [flag, str(value)]
    return argv


def run_child(args: argparse.Namespace, source: Path) -> dict[str, Any]:
    """One search in its own process with the ``nas_resnext`` of ``source``; its figures."""
    env = {**os.environ, "PYTHONPATH": str(source)}  # Ray's workers inherit it from the driver
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *child_arguments(args)],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"a search with {source} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def compare(args: argparse.Namespace) -> None:
    """``--repeats`` rounds, each one search per source tree; medians and ratios."""
    trees = {"this tree": ROOT}
    if args.compare_with is not None:
        trees[str(args.compare_with)] = args.compare_with.resolve()
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
    print(
        "| round | tree | wall | training | slot time not training | slot use | from the first start "
        "| before the first start | first / later trial besides epochs |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for round_number in range(1, args.repeats + 1):
        for label, source in trees.items():
            figures = run_child(args, source)
            results[label].append(figures)
            print(
                f"| {round_number} | {label} | {figures['wall']:.1f} s | {figures['training']:.1f} s | "
                f"{figures['not_training']:.1f} s | {figures['slot_use']:.1%} | "
                f"{figures['slot_use_from_first_start']:.1%} | {figures['before_first_start']:.1f} s | "
                f"{figures['first_trial_other']:.2f} / {figures['later_trial_other']:.2f} s |",
                flush=True,
            )
    medians = {
        label: {key: statistics.median(r[key] for r in runs) for key in MEDIANS}
        for label, runs in results.items()
    }
    print(f"\nmedians of {args.repeats} rounds:")
    for label, figures in medians.items():
        print(
            f"  {label}: wall {figures['wall']:.1f} s, slot use {figures['slot_use']:.1%}, from the first "
            f"start {figures['slot_use_from_first_start']:.1%}, before the first start "
            f"{figures['before_first_start']:.1f} s, training {figures['training']:.1f} s, slot time not "
            f"training {figures['not_training']:.1f} s"
        )
    if args.compare_with is not None:
        new, old = medians["this tree"], medians[str(args.compare_with)]
        print(
            f"this tree / {args.compare_with}: wall {new['wall'] / old['wall']:.3f}x, slot time not training "
            f"{new['not_training'] / old['not_training']:.3f}x, slot use "
            f"{new['slot_use'] / old['slot_use']:.3f}x, "
            f"before the first start {new['before_first_start'] / old['before_first_start']:.3f}x"
        )


MEDIANS = ("wall", "slot_use", "slot_use_from_first_start", "before_first_start", "training", "not_training")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--space", choices=("digits", "cifar"), default="digits")
    parser.add_argument("--trials", type=int, help="default: the space's")
    parser.add_argument("--epochs", type=int, help="default: the space's")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--cpus-per-trial", type=float, default=1.0)
    parser.add_argument("--gpus-per-trial", type=float, default=0.25)
    parser.add_argument("--max-concurrent", type=int)
    parser.add_argument(
        "--autotune",
        choices=("auto", "on", "off"),
        help="cuDNN autotuning of the trials (default: the space's)",
    )
    parser.add_argument("--ray-address", help="a running Ray cluster to search on (default: a new local Ray)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-trial", action="store_true", help="also print every trial's figures")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    parser.add_argument("--repeats", type=int, default=1, help="searches, each in its own process")
    parser.add_argument("--compare-with", type=Path, metavar="SRC", help="another source tree to run too")
    args = parser.parse_args()
    if args.repeats > 1 or args.compare_with is not None:
        compare(args)
        return 0
    figures = measure(args)
    if args.json:
        print(json.dumps(figures))
    else:
        print_figures(figures, args.per_trial)
    return 0


if __name__ == "__main__":
    sys.exit(main())
