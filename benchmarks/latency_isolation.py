"""Latency recorded during a search against the same latency on an idle machine, with and without the
device lock, in one run.

Real trials (``train_trial``, what every search trial runs) on the embedded digits data through Ray Tune,
two at once on this machine's processors, over the same architectures, twice: as a search runs them now
(the run's ``coordination`` in the trial config: latency measured while no other trial computes, training
holding the device shared) and as before (no coordination: each latency measured while the other trial
trains, or measures). Then, in this process with nothing else of ours running, every architecture is
measured again the same way (one thread, as a one-CPU trial's worker has; the median of ``--idle-repeats``
measurements). Printed: per architecture, search-recorded latency / idle latency for both. Goal: the
locked search within 10% of idle.

    .venv/bin/python benchmarks/latency_isolation.py [--rounds 1] [--epochs 3] [--idle-repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Architectures of search_spaces/digits_demo.yaml (16 px, one channel), 1 to 3 ms each at batch 1 on one
# thread here: short enough for a quick run, long enough for the timer.
ARCHITECTURES = [
    "X-20-8x16d-w32-s16-r16-i1",
    "X-20-16x4d-w32-s16-r16-i1",
    "X-20-8x8d-w24-s16-r16-i1",
    "X-20-2x16d-w32-s16-r16-i1",
    "X-20-4x8d-w32-s16-r16-i1",
    "X-11-4x16d-w32-s16-r16-i1",
]
CPUS_PER_TRIAL = 1
GOAL = 0.10


def run_trials(
    architectures: list[str], epochs: int, coordination: str | None, storage: Path, label: str
) -> dict[str, dict[str, Any]]:
    """One Ray Tune run of ``train_trial`` over ``architectures``, two at once; the last result of each."""
    from ray import tune

    from nas_resnext.architecture import Architecture
    from nas_resnext.search.trial import train_trial
    from nas_resnext.settings import TrainSettings

    training = TrainSettings(epochs=epochs, batch_size=64, lr=0.1, device="cpu").to_dict()
    config: dict[str, Any] = {
        "arch": tune.grid_search([Architecture.from_name(name).to_dict() for name in architectures]),
        "training": training,
        "dataset": "digits",
        "data_dir": None,
    }
    if coordination is not None:
        config["coordination"] = coordination
    tuner = tune.Tuner(
        tune.with_resources(train_trial, {"cpu": CPUS_PER_TRIAL}),
        param_space=config,
        tune_config=tune.TuneConfig(max_concurrent_trials=2, reuse_actors=True),
        run_config=tune.RunConfig(name=label, storage_path=str(storage), verbose=0),
    )
    results = tuner.fit()
    last = {r.metrics["name"]: r.metrics for r in results if r.metrics}
    failed = [name for name, m in last.items() if m.get("state") != "complete"]
    if failed or len(last) != len(architectures):
        raise SystemExit(
            f"{label}: trials did not complete: {failed or sorted(set(architectures) - set(last))}"
        )
    return last


def idle_latency(name: str, repeats: int) -> tuple[float, float, str]:
    """Medians over ``repeats`` of the latencies a trial measures (batch 1, batch 32), taken here."""
    from nas_resnext.architecture import Architecture
    from nas_resnext.latency import architecture_latency

    arch = Architecture.from_name(name)
    measured = [architecture_latency(arch, "cpu", max_seconds=2.0) for _ in range(repeats)]
    single = statistics.median(m.single_ms for m in measured)
    return single, statistics.median(m.batch_ms for m in measured), measured[0].device


def summary(ratios: list[float]) -> str:
    within = sum(abs(r - 1.0) <= GOAL for r in ratios)
    worst = max(ratios, key=lambda r: abs(r - 1.0))
    return (
        f"median ratio {statistics.median(ratios):.2f}, worst {worst:.2f}, "
        f"{within}/{len(ratios)} within {GOAL:.0%} of idle"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="runs of each mode, alternating (default 1)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial (default 3)")
    parser.add_argument("--idle-repeats", type=int, default=3, help="idle measurements per architecture")
    args = parser.parse_args()

    import ray
    import torch

    from nas_resnext.search.device_lock import coordinator_stats
    from nas_resnext.search.environment import connect_ray, search_environment

    # mode -> architecture -> [(batch-1 ms, batch-32 ms) per round]
    recorded: dict[str, dict[str, list[tuple[float, float]]]] = {"locked": {}, "unlocked": {}}
    sources: dict[str, set[str]] = {"locked": set(), "unlocked": set()}
    trial_device = "?"
    started = time.perf_counter()
    with search_environment(None), tempfile.TemporaryDirectory(prefix="latency-isolation-") as tmp:
        connect_ray(None)
        for round_number in range(args.rounds):
            for mode in ("locked", "unlocked"):
                coordination = f"latency-isolation {os.getpid()} {round_number}" if mode == "locked" else None
                print(f"  round {round_number + 1}: {mode} ...", file=sys.stderr, flush=True)
                last = run_trials(
                    ARCHITECTURES, args.epochs, coordination, Path(tmp), f"{mode}-{round_number}"
                )
                for name, metrics in last.items():
                    latencies = (float(metrics["latency_ms"]), float(metrics["latency_batch_ms"]))
                    recorded[mode].setdefault(name, []).append(latencies)
                    sources[mode].add(str(metrics.get("latency_source")))
                if coordination is not None:
                    stats = coordinator_stats(coordination)
                    trial_device = stats[0]["latencies"][0]["device"]
                    measured = sum(entry["measured"] for s in stats for entry in s["latencies"])
                    print(f"  coordinator: {measured} measurements on {trial_device}", file=sys.stderr)
        search_seconds = time.perf_counter() - started
        ray.shutdown()  # nothing of ours runs while the idle latencies are taken

    torch.set_num_threads(CPUS_PER_TRIAL)  # as in a trial's worker (Ray sets OMP_NUM_THREADS to its CPUs)
    idle: dict[str, tuple[float, float]] = {}
    idle_device = "?"
    for name in ARCHITECTURES:
        *idle[name], idle_device = idle_latency(name, args.idle_repeats)

    print(
        f"{len(ARCHITECTURES)} architectures, 2 trials at once, {args.epochs} epochs, {args.rounds} round(s)"
    )
    print(f"trials measured on {trial_device}; idle on {idle_device}; searches took {search_seconds:.0f} s")
    print(f"latency_source: locked {sorted(sources['locked'])}, unlocked {sorted(sources['unlocked'])}\n")
    print("batch 1 (latency_ms):\n")
    print(
        "| architecture | idle ms | locked search ms | locked / idle | unlocked search ms | unlocked / idle |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    # (mode, batch index) -> ratios over architectures and rounds
    ratios: dict[tuple[str, int], list[float]] = {}
    for name in ARCHITECTURES:
        cells = [name, f"{idle[name][0]:.3f}"]
        for mode in ("locked", "unlocked"):
            for batch in (0, 1):
                ratios.setdefault((mode, batch), []).extend(
                    values[batch] / idle[name][batch] for values in recorded[mode][name]
                )
            cells.append(", ".join(f"{values[0]:.3f}" for values in recorded[mode][name]))
            cells.append(", ".join(f"{values[0] / idle[name][0]:.2f}" for values in recorded[mode][name]))
        print("| " + " | ".join(cells) + " |")
    print()
    for batch, label in ((0, "batch 1"), (1, "batch 32")):
        for mode in ("locked", "unlocked"):
            print(f"{label:>8} {mode:>8}: {summary(ratios[mode, batch])}")
    locked_ok = all(abs(r - 1.0) <= GOAL for r in ratios["locked", 0])
    verdict = "met" if locked_ok else "NOT met"
    print(f"\ngoal (batch-1 latency of the locked search within {GOAL:.0%} of idle): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
