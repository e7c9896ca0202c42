"""Start-up of the light commands (count, space, tradeoff --plan, --help), each run as a whole process.

Every command runs ``--repeats`` times, round-robin with the others so that a busy moment of the machine
falls on all of them alike; the table shows the median wall time and the largest peak resident memory
(the child's own ``ru_maxrss``, from ``os.wait4``). ``python -c "import torch"`` runs in the same rounds as
the yardstick: the ratio says what share of a torch import a command costs. ``--compare-with SRC`` runs the
same commands from another source tree too (e.g. ``git archive`` of an older commit unpacked in SRC), in
the same rounds. Goal: every light command under 0.5 s on this machine.

    python benchmarks/startup.py [--repeats 5] [--compare-with SRC]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 0.5
LIGHT_COMMANDS = [
    ["count", "--preset", "resnext50_32x4d"],
    ["space", str(ROOT / "search_spaces" / "digits_demo.yaml")],
    ["tradeoff", "--plan", "--preset", "resnet50", "--cardinalities", "1,2,4,8,32"],
    ["--help"],
    ["train", "--help"],
    ["search", "--help"],
]
TORCH = 'python -c "import torch"'


def run_once(argv: list[str], source: Path) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of one run of ``argv`` as its own process, importing
    ``nas_resnext`` from ``source`` (``python -m`` puts the working directory first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=source, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, unlike RUSAGE_CHILDREN's maximum
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {process.returncode}")
    return seconds, usage.ru_maxrss / 1024  # Linux reports kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (default 5)")
    parser.add_argument("--compare-with", type=Path, metavar="SRC", help="another source tree to time too")
    args = parser.parse_args()

    nas = [sys.executable, "-m", "nas_resnext.cli"]
    trees = {"": ROOT}
    if args.compare_with is not None:
        trees[f"[{args.compare_with}] "] = args.compare_with.resolve()
    commands: dict[str, tuple[list[str], Path]] = {
        f"{tag}nas-resnext {' '.join(argv).replace(f'{ROOT}/', '')}": ([*nas, *argv], source)
        for tag, source in trees.items()
        for argv in LIGHT_COMMANDS
    }
    commands['python -c "pass"'] = ([sys.executable, "-c", "pass"], ROOT)
    commands[TORCH] = ([sys.executable, "-c", "import torch"], ROOT)
    times: dict[str, list[float]] = {label: [] for label in commands}
    memory: dict[str, list[float]] = {label: [] for label in commands}
    for argv, source in commands.values():  # a warm-up run each: file caches, .pyc files
        run_once(argv, source)
    for _ in range(args.repeats):
        for label, (argv, source) in commands.items():
            seconds, mib = run_once(argv, source)
            times[label].append(seconds)
            memory[label].append(mib)

    def median(label: str) -> float:
        return statistics.median(times[label])

    def peak(label: str) -> float:
        return max(memory[label])

    print(
        f"{args.repeats} runs each, round-robin; median wall time, largest peak RSS; {sys.platform}, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    print()
    print(
        f"| command | median | peak RSS | time / import torch | memory / import torch | < {GOAL_SECONDS} s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for label in commands:
        ours = label.startswith("nas-resnext")  # a light command of this tree: held to the goal
        goal = ("met" if median(label) < GOAL_SECONDS else "missed") if ours else ""
        time_ratio, memory_ratio = median(label) / median(TORCH), peak(label) / peak(TORCH)
        print(
            f"| `{label}` | {median(label):.3f} s | {peak(label):.0f} MiB | {time_ratio:.2f}x "
            f"| {memory_ratio:.2f}x | {goal} |"
        )
    light = [label for label in commands if label.startswith("nas-resnext")]
    slowest = max(light, key=median)
    print()
    print(
        f"slowest light command: {median(slowest):.3f} s, {peak(slowest):.0f} MiB (goal {GOAL_SECONDS} s: "
        f"{'met' if median(slowest) < GOAL_SECONDS else 'missed'}); "
        f"import torch alone: {median(TORCH):.3f} s, {peak(TORCH):.0f} MiB"
    )
    for tag in list(trees)[1:]:
        for label in light:
            other = tag + label
            print(
                f"{other}: {median(other) / median(label):.1f}x the time, "
                f"{peak(other) / peak(label):.1f}x the memory of this tree"
            )


if __name__ == "__main__":
    main()
