"""The least slot time a search pays before its first training step, and the slot use that leaves at most.

A search trains in Ray Tune trials, each in a worker process that Ray starts and that must import torch
before it can train. This script measures what that costs at the least, with two real Ray Tune searches,
each in a fresh process as ``nas-resnext search`` is, started the way a search starts (its own local Ray
from ``connect_ray`` inside ``search_environment``, ``reuse_actors``, one trial per slot at once):

- ``ray``: trials that only note when they began: from the search's start (before Ray's) until each slot's
  first trial begins in its worker (Ray's start, Tune's, the worker process's start);
- ``torch``: trials that also do what any trainer must before its first step, and nothing else: import
  torch and the model code, build the space's smallest candidate, put it on the device, take one SGD step
  on one batch (the first step of a torch optimiser imports ``torch._dynamo``) and wait for it to finish.

The floor is the sum over slots of the ``torch`` search's time until each slot's first step (the least of
``--rounds`` rounds: a busy moment of the machine only adds to it): slot time no search of this design can
train in. Then one real search of the same space (``search_throughput.py``, in
its own process) gives its training seconds T and slot use, and the bounds that follow:

    slot use <= T / (T + floor)
    trials per hour <= trials x 3600 / (earliest first step + T / slots)

and the training seconds per trial at which the slot-use bound reaches the goal (``--goal``, 90% as for the
digits demo on this CPU): with T = trained trials x t, t >= goal / (1 - goal) x floor / trained trials.
``--floor-only`` measures the floor alone (where the real search is measured elsewhere).

    .venv/bin/python benchmarks/slot_floor.py [--space digits|cifar] [--rounds 3] [--device cpu|cuda]
        [--gpus-per-trial 0.25] [--trials 20] [--epochs E] [--goal 0.9] [--floor-only] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search_throughput  # the benchmark beside this one

ROOT = Path(__file__).resolve().parents[1]


def _trial(config: dict[str, Any]) -> None:
    """The trainable of both floor searches: when it began and (``torch``) when its first step ended."""
    began = time.time()
    stepped = began
    if config["mode"] == "torch":
        import torch

        from nas_resnext.architecture import Architecture
        from nas_resnext.model import build_model

        arch = Architecture.from_dict(config["arch"])
        device = torch.device(config["device"])
        model = build_model(arch).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        images = torch.randn(config["batch_size"], arch.in_channels, arch.resolution, arch.resolution)
        labels = torch.randint(0, arch.num_classes, (config["batch_size"],))
        loss = torch.nn.functional.cross_entropy(model(images.to(device)), labels.to(device))
        loss.backward()
        optimizer.step()
        float(loss)  # waits for the device
        stepped = time.time()
    from ray import tune

    tune.report({"began": began, "stepped": stepped, "pid": os.getpid()})


def floor_search(args: argparse.Namespace) -> dict[str, Any]:
    """One floor search (``args.child`` is its mode) in this process: per slot, the seconds from the
    search's start until its first trial began and until that trial's first step ended."""
    from ray import tune

    from nas_resnext.search.environment import connect_ray, search_environment

    space = search_throughput.load_space(args.space, args)
    n_slots = search_throughput.slots(args)
    arch = space.smallest()
    resources = {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial if args.device == "cuda" else 0.0}
    started = time.time()
    with search_environment(None):
        connect_ray(None)
        tuner = tune.Tuner(
            tune.with_resources(_trial, resources),
            param_space={
                "mode": args.child,
                "arch": arch.to_dict(),
                "device": args.device,
                "batch_size": space.training.batch_size,
            },
            tune_config=tune.TuneConfig(
                num_samples=n_slots, max_concurrent_trials=n_slots, reuse_actors=True
            ),
            run_config=tune.RunConfig(storage_path=args.storage, verbose=0),
        )
        results = tuner.fit()
    rows = [result.metrics for result in results]
    if len(rows) != n_slots or any("began" not in row for row in rows):
        raise SystemExit(f"the {args.child} search did not report from all {n_slots} slots: {rows}")
    return {
        "slots": n_slots,
        "began": sorted(row["began"] - started for row in rows),
        "stepped": sorted(row["stepped"] - started for row in rows),
        "workers": len({row["pid"] for row in rows}),
    }


def child(args: argparse.Namespace, mode: str, storage: Path) -> dict[str, Any]:
    """A floor search of ``mode`` in a fresh process; its figures."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--storage", str(storage)]
    argv += ["--space", args.space, "--device", args.device, "--cpus-per-trial", str(args.cpus_per_trial)]
    argv += ["--gpus-per-trial", str(args.gpus_per_trial)]
    if args.max_concurrent:
        argv += ["--max-concurrent", str(args.max_concurrent)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {mode} floor search failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """``args.rounds`` rounds of the two floor searches, then (unless ``args.floor_only``) one real search;
    the floor and the bounds."""
    import tempfile

    rounds = []
    with tempfile.TemporaryDirectory(prefix="slot-floor-") as folder:
        for number in range(1, args.rounds + 1):
            ray_only = child(args, "ray", Path(folder) / f"ray-{number}")
            with_torch = child(args, "torch", Path(folder) / f"torch-{number}")
            rounds.append({"ray": ray_only, "torch": with_torch})
            print(
                f"round {number}: a slot's first trial began after "
                f"{' / '.join(f'{s:.2f}' for s in ray_only['began'])} s (Ray and Tune only); its first "
                f"step ended after {' / '.join(f'{s:.2f}' for s in with_torch['stepped'])} s (with torch)",
                file=sys.stderr,
                flush=True,
            )
    # The least of the rounds: a busy moment of the machine only adds, so the bounds stay upper bounds.
    floor = min(sum(r["torch"]["stepped"]) for r in rounds)
    ray_part = min(sum(r["ray"]["began"]) for r in rounds)
    earliest = min(min(r["torch"]["stepped"]) for r in rounds)
    figures: dict[str, Any] = {
        "space": args.space,
        "device": args.device,
        "slots": rounds[0]["torch"]["slots"],
        "rounds": rounds,
        "floor": floor,
        "floor_ray": ray_part,
        "earliest_step": earliest,
        "goal": args.goal,
    }
    if args.floor_only:
        return figures
    search_args = argparse.Namespace(
        space=args.space,
        device=args.device,
        seed=0,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        trials=args.trials,
        epochs=args.epochs,
        max_concurrent=args.max_concurrent,
        ray_address=None,
        autotune=None,
    )
    print("the real search ...", file=sys.stderr, flush=True)
    search = search_throughput.run_child(search_args, ROOT)
    training, n_slots, trials = search["training"], search["slots"], search["trials"]
    return {
        **figures,
        "space": search["space"],
        "search": {key: search[key] for key in ("wall", "training", "slot_use", "trials", "trained")},
        "trials_per_hour": search["trials_per_hour"],
        "bound_slot_use": training / (training + floor),
        "bound_trials_per_hour": trials * 3600 / (earliest + training / n_slots),
        "seconds_per_trial_for_goal": args.goal / (1 - args.goal) * floor / max(search["trained"], 1),
        "training_per_trial": training / max(search["trained"], 1),
    }


def print_figures(figures: dict[str, Any]) -> None:
    n_slots = figures["slots"]
    print(
        f"\n{figures['space']} on {figures['device']}, {n_slots} slots; "
        f"the least of {len(figures['rounds'])} rounds"
    )
    print(
        f"slot time before any training step (the floor): {figures['floor']:.1f} s, of which Ray and Tune "
        f"until each slot's first trial began: {figures['floor_ray']:.1f} s"
    )
    print(f"the earliest first step: {figures['earliest_step']:.1f} s after the search's start")
    if "search" not in figures:
        return
    search = figures["search"]
    print(
        f"the search: {search['trials']} trials ({search['trained']} trained) in {search['wall']:.1f} s, "
        f"training {search['training']:.1f} s ({figures['training_per_trial']:.2f} s a trained trial), "
        f"slot use {search['slot_use']:.1%}, {figures['trials_per_hour']:.0f} trials per hour"
    )
    verdict = "reachable" if figures["bound_slot_use"] >= figures["goal"] else "not reachable"
    print(
        f"slot use at most {figures['bound_slot_use']:.1%} = {search['training']:.1f} / "
        f"({search['training']:.1f} + {figures['floor']:.1f}); goal {figures['goal']:.0%}: {verdict} "
        f"at this trial length"
    )
    print(f"trials per hour at most {figures['bound_trials_per_hour']:.0f}")
    print(
        f"the bound reaches {figures['goal']:.0%} with at least "
        f"{figures['seconds_per_trial_for_goal']:.2f} s of training per trial "
        f"({search['trained']} trained trials)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--space", choices=("digits", "cifar"), default="digits")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the two floor searches")
    parser.add_argument("--trials", type=int, help="trials of the real search (default: the space's)")
    parser.add_argument(
        "--epochs", type=int, help="epochs of the real search's trials (default: the space's)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--cpus-per-trial", type=float, default=1.0)
    parser.add_argument("--gpus-per-trial", type=float, default=0.25)
    parser.add_argument("--max-concurrent", type=int)
    parser.add_argument("--goal", type=float, default=0.9, help="the slot use to reach (default: 0.9)")
    parser.add_argument(
        "--floor-only", action="store_true", help="measure the floor only, without the real search and bounds"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    parser.add_argument("--child", choices=("ray", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.trials = args.epochs = args.autotune = None
        print(json.dumps(floor_search(args)))
        return 0
    if not 0 < args.goal < 1:
        parser.error(f"--goal: {args.goal} is not a fraction between 0 and 1")
    figures = measure(args)
    if args.json:
        print(json.dumps(figures))
    else:
        print_figures(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
