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
trial takes seconds). Goals (issue figures): slot use >= 90% for the digits demo on this CPU; >= 80% on one
GPU with 4 digits trials per GPU.

    .venv/bin/python benchmarks/search_throughput.py [--space digits|cifar] [--trials 20] [--epochs E]
        [--device cpu|cuda] [--gpus-per-trial 0.25] [--max-concurrent N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-trial", action="store_true", help="also print every trial's figures")
    args = parser.parse_args()

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
        outcome = run_search(run, space, options, stream=None)
        wall = time.perf_counter() - started
    trained = [t for t in outcome.trials if "reused_from" not in t.user_attrs and t.user_attrs.get("history")]
    training = sum(sum(epoch_seconds(t)) for t in trained)
    in_trials = sum(t.user_attrs.get("timings", {}).get("time_in_trial", 0.0) for t in trained)
    worker_start = sum(t.user_attrs.get("timings", {}).get("time_worker_start", 0.0) for t in trained)
    first_asked = min((t.datetime_start for t in outcome.trials if t.datetime_start), default=None)
    before_first = (first_asked - began).total_seconds() if first_asked else float("nan")

    counts = f"{len(outcome.trials)} trials ({len(trained)} trained)"
    print(f"\n{space.name} on {args.device}: {counts} in {wall:.1f} s")
    print(f"slots: {n_slots}; slot seconds: {wall * n_slots:.1f}")
    print(f"training (epochs, validation included): {training:.1f} s")
    print(f"slot use: {training / (wall * n_slots):.1%}")
    print(f"trials per hour: {len(outcome.trials) / wall * 3600:.0f}")
    print(f"before the first trial was asked for (Ray's start): {before_first:.1f} s")
    print("\nwhere a trained trial's other time goes (mean per trial, total):")
    for key, label in PHASES:
        if key == "first_epoch_extra":
            values = []
            for trial in trained:
                seconds = epoch_seconds(trial)
                if len(seconds) > 1:
                    values.append(max(0.0, seconds[0] - statistics.median(seconds[1:])))
        else:
            values = [t.user_attrs.get("timings", {}).get(key, 0.0) for t in trained]
        print(f"  {label:<70} {statistics.fmean(values) if values else 0:7.3f} s  {sum(values):7.1f} s")
    # Trials in flight over time, from when each ended and how long it ran in its worker.
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
    print(f"trials in flight at once: at most {peak} of {n_slots} slots")
    outside = wall * n_slots - in_trials - worker_start
    label = "slot time outside any trial (Ray start, scheduling, idle slots)"
    print(f"  {label:<70} {'':>7}    {outside:7.1f} s")
    if args.per_trial:
        keys = [key for key, _ in PHASES if key != "first_epoch_extra"]
        print("\ntrial  epochs s  " + "  ".join(k.removeprefix("time_") for k in keys) + "  in_trial")
        for trial in trained:
            timings = trial.user_attrs.get("timings", {})
            figures = "  ".join(f"{timings.get(k, 0.0):.2f}" for k in [*keys, "time_in_trial"])
            print(f"{trial.number:5d}  {sum(epoch_seconds(trial)):8.2f}  {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
