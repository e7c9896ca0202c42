"""How well do FLOPs, parameters and activations rank measured latency? One run, one device.

Two sets of architectures are timed at batch 1 and at batch B: (a) the paper's Table 2 family (ResNet-50
1x64d and ResNeXt-50 2x40d, 4x24d, 8x14d, 32x4d: the imagenet template at matched complexity) and (b) a
uniform random sample of N distinct architectures of a shipped design space (the search's own sampler,
fixed seed). Each architecture is built once and measured ``--rounds`` times, the rounds interleaved (every
architecture of both sets, in a fresh shuffled order, per round), so that a busy machine disturbs all
architectures alike; an architecture's latency is the median over rounds of ``measure_latency``'s median of
timed passes (what a search trial records: eval mode, inference mode, channels_last, bf16 autocast on CUDA
with cuDNN autotuning as a training trial leaves it, float32 on CPU).

Per set and batch size it prints Spearman's rank correlation of each predictor with latency, a 95% interval
(Fisher's z with the Bonett-Wright standard error sqrt((1 + r^2/2)/(n-3))) and n, and for each pair of
predictors a paired bootstrap over architectures of the difference of their correlations (95% percentile
interval). A predictor is said to rank latency better only where that interval excludes 0; otherwise the
answer is "not decided". Counts are the analytic ones at batch 1 and the measured resolution (they scale with
the batch, so their ranks are the same at batch B).

Default space: search_spaces/resnext_cifar.yaml (ResNeXt-11/20/29 at 32 px, 0.04 to 11 GFLOPs): real
compute-bound ResNeXts that run in milliseconds to a few hundred milliseconds at batch 1 on a 2-core CPU.
digits_demo's (16 px, at most 0.01 GFLOPs) run in about a millisecond, where per-layer overhead rather than
arithmetic sets the time; resnext_imagenet's (4 to 16.5 GFLOPs at 224 px) take seconds per batch on a CPU.

On CPU, ``--threads`` (default: every core) is set once with ``torch.set_num_threads`` for the whole run. A
forward pass on every core is easily disturbed by other processes, so before each measurement the script
waits (up to ``--max-wait`` seconds in all) until other work leaves it the cores it uses, and it reports how
much CPU other processes took while it measured and how much each architecture's rounds disagree.

    .venv/bin/python benchmarks/latency_predictors.py                  # CPU: Table 2 at 112 px, batch 8
    .venv/bin/python benchmarks/latency_predictors.py --device cuda    # GPU: Table 2 at 224 px, batch 32
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
from scipy import stats

from nas_resnext.architecture import Architecture
from nas_resnext.complexity import Complexity, count_analytic
from nas_resnext.errors import ConfigError
from nas_resnext.presets import get_preset
from nas_resnext.space import DesignSpace

ROOT = Path(__file__).resolve().parents[1]
TABLE2 = ["resnet50", "resnext50_2x40d", "resnext50_4x24d", "resnext50_8x14d", "resnext50_32x4d"]
PREDICTORS = ("flops", "params", "activations")
CONFIDENCE = 0.95
Z = stats.norm.ppf(0.5 + CONFIDENCE / 2)
CORES = len(os.sched_getaffinity(0))
UNSTABLE_SPREAD = 0.2  # median round-to-round spread above which a set's timings are not to be trusted
CI_METHOD = "Fisher z, Bonett-Wright SE sqrt((1 + r^2/2)/(n-3))"


@dataclass
class Entry:
    label: str  # what the table calls it: the preset's name, or the canonical architecture name
    arch: Architecture
    complexity: Complexity
    single_ms: list[float] = field(default_factory=list)  # one median per round
    batch_ms: list[float] = field(default_factory=list)
    other_cores: list[float] = field(default_factory=list)  # CPU other processes used, per measurement

    def predictor(self, name: str) -> int:
        return getattr(self.complexity, name)

    def latency(self, batch: str) -> float:
        return statistics.median(self.single_ms if batch == "1" else self.batch_ms)


def distinct_sample(space: DesignSpace, count: int, seed: int) -> tuple[list[Architecture], int]:
    """The first ``count`` distinct architectures of the search's uniform draws (a uniform sample without
    replacement; each architecture counts once), and how many draws that took."""
    from nas_resnext.search.sampling import FeasibleSampler, sample_architectures

    available = FeasibleSampler(space).feasible_count()
    if available is not None and available < count:
        raise ConfigError("--sample", count, f"at most {available}, the architectures the space holds")
    draws = count
    while True:
        drawn = sample_architectures(space, draws, seed)  # the same seed gives the same sequence, extended
        seen: dict[Architecture, None] = {}
        for used, arch in enumerate(drawn, 1):
            seen.setdefault(arch)
            if len(seen) == count:
                return list(seen), used
        draws *= 2


def fisher_interval(r: float, n: int) -> tuple[float, float] | None:
    """95% interval of Spearman's r by Fisher's z with Bonett and Wright's (2000) standard error."""
    if n <= 3 or not math.isfinite(r) or abs(r) >= 1.0:
        return None  # undefined: too few architectures, or a perfect rank agreement (z is infinite)
    se = math.sqrt((1 + r * r / 2) / (n - 3))
    z = math.atanh(r)
    return math.tanh(z - Z * se), math.tanh(z + Z * se)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    if np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan  # a constant column has no ranks to correlate
    return float(stats.spearmanr(x, y).statistic)


def paired_bootstrap(
    predictors: dict[str, np.ndarray], latency: np.ndarray, resamples: int, rng: np.random.Generator
) -> tuple[dict[tuple[str, str], tuple[float, float]], int]:
    """95% percentile intervals of r(a) - r(b) for each pair of predictors, resampling architectures (the
    same resample for every predictor, so the pairing is kept); resamples where a correlation is undefined
    (all one value) are dropped and counted."""
    n = len(latency)
    rs: dict[str, list[float]] = {name: [] for name in predictors}
    dropped = 0
    for _ in range(resamples):
        index = rng.integers(0, n, n)
        values = {name: spearman(column[index], latency[index]) for name, column in predictors.items()}
        if any(math.isnan(v) for v in values.values()):
            dropped += 1
            continue
        for name, value in values.items():
            rs[name].append(value)
    intervals = {}
    for a, b in combinations(predictors, 2):
        if not rs[a]:
            intervals[a, b] = (math.nan, math.nan)
            continue
        difference = np.asarray(rs[a]) - np.asarray(rs[b])
        low, high = np.percentile(difference, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
        intervals[a, b] = (float(low), float(high))
    return intervals, dropped


class OtherLoad:
    """CPU time that other processes take while this one measures (Linux's /proc; off elsewhere).

    The machine these figures come from is shared, and a multi-threaded forward pass that loses a core to
    another process for a moment waits for it at every barrier: a busy neighbour inflates latencies many
    times over, and unevenly across architectures. So before each measurement we wait (within
    ``max_wait`` seconds for the whole run) until other processes have used less than ``quiet_cores``
    cores over a short probe, and we record how much they used while we measured.
    """

    PROBE_SECONDS = 0.3

    def __init__(self, quiet_cores: float, max_wait: float) -> None:
        self.available = Path("/proc/stat").exists() and Path("/proc/self/stat").exists()
        self.quiet_cores, self.wait_left, self.waited = quiet_cores, max_wait, 0.0
        self.tick = os.sysconf("SC_CLK_TCK") if self.available else 100

    def snapshot(self) -> tuple[float, float, float]:
        """(CPU seconds all processes have used, of which this one's, wall clock)."""
        if not self.available:
            return 0.0, 0.0, time.perf_counter()
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        # user nice system idle iowait irq softirq steal: busy is all but idle and iowait (steal counts:
        # on a virtual machine it is the host's other guests taking our cores).
        busy = sum(int(fields[i]) for i in (0, 1, 2, 5, 6, 7))
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return busy / self.tick, (int(own[11]) + int(own[12])) / self.tick, time.perf_counter()

    @staticmethod
    def cores(before: tuple[float, float, float], after: tuple[float, float, float]) -> float:
        """Cores' worth of CPU the other processes used between two snapshots."""
        wall = after[2] - before[2]
        return max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / wall if wall > 0 else 0.0

    def wait_until_quiet(self) -> None:
        while self.available and self.wait_left > 0:
            before = self.snapshot()
            time.sleep(self.PROBE_SECONDS)
            after = self.snapshot()
            if self.cores(before, after) <= self.quiet_cores:
                return
            self.wait_left -= after[2] - before[2]
            self.waited += after[2] - before[2]


def measure(
    sets: dict[str, list[Entry]], args: argparse.Namespace, device: object, load: OtherLoad
) -> tuple[str, str, float]:
    """``args.rounds`` interleaved rounds over every architecture of every set; fills each entry's lists."""
    import torch

    from nas_resnext.latency import measure_latency
    from nas_resnext.model import build_model

    entries = [entry for group in sets.values() for entry in group]
    models = [build_model(entry.arch) for entry in entries]
    shuffle = random.Random(args.seed)
    description = precision = "?"
    started = time.perf_counter()
    for round_number in range(args.rounds):
        order = list(range(len(entries)))
        shuffle.shuffle(order)
        for done, i in enumerate(order, 1):
            entry, arch = entries[i], entries[i].arch
            load.wait_until_quiet()
            before = load.snapshot()
            latency = measure_latency(
                models[i],
                (arch.in_channels, arch.resolution, arch.resolution),
                device,
                batch_size=args.batch,
                warmup=args.warmup,
                repeats=args.repeats,
                max_seconds=args.max_seconds,
            )
            entry.other_cores.append(load.cores(before, load.snapshot()))
            entry.single_ms.append(latency.single_ms)
            entry.batch_ms.append(latency.batch_ms)
            description, precision = latency.device, latency.precision
            print(
                f"\r  round {round_number + 1}/{args.rounds}: {done}/{len(entries)} "
                f"({time.perf_counter() - started:.0f} s, {load.waited:.0f} s waiting for other work)",
                end="",
                file=sys.stderr,
                flush=True,
            )
    print(file=sys.stderr)
    del models
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return description, precision, time.perf_counter() - started


def spread(values: list[float]) -> float:
    """(slowest - fastest round) / median: how much one architecture's rounds disagree."""
    return (max(values) - min(values)) / statistics.median(values)


def print_table(title: str, entries: list[Entry], batch: int, spare_cores: float | None) -> None:
    """The set's table, how much its rounds disagree, and (CPU) how much other work ran beside it."""
    print(f"\n{title}\n")
    print(f"| architecture | GFLOPs | Mparams | Mactivations | ms at batch 1 | ms at batch {batch} |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for entry in sorted(entries, key=lambda e: e.latency("1")):
        cx = entry.complexity
        print(
            f"| {entry.label} | {cx.gflops:.3f} | {cx.mparams:.2f} | {cx.mactivations:.2f} "
            f"| {entry.latency('1'):.2f} | {entry.latency('B'):.2f} |"
        )
    for batch_key, label in (("1", "1"), ("B", str(batch))):
        spreads = [spread(e.single_ms if batch_key == "1" else e.batch_ms) for e in entries]
        print(
            f"round-to-round spread at batch {label} ((max - min) / median over rounds): "
            f"median {statistics.median(spreads):.1%}, worst {max(spreads):.1%}"
        )
        if len(entries[0].single_ms) > 1 and statistics.median(spreads) > UNSTABLE_SPREAD:
            print(
                f"  warning: the rounds disagree by more than {UNSTABLE_SPREAD:.0%} for most architectures "
                "(other work on the machine, or timer noise at these sizes): latency differences of "
                "that order are noise; more --rounds or --repeats help"
            )
    if spare_cores is None:
        return
    others = [cores for entry in entries for cores in entry.other_cores]
    # Other work up to the cores this run leaves idle does not compete with it; half a core more does.
    shared = spare_cores + 0.5
    busy = sum(cores > shared for cores in others)
    print(
        f"other processes while measuring: median {statistics.median(others):.2f} cores, most "
        f"{max(others):.2f}; {busy} of {len(others)} measurements had over {shared:g} cores of other "
        f"work beside them ({spare_cores:g} of the {CORES} cores left to other work by --threads)"
    )


def print_correlations(
    title: str, entries: list[Entry], batch: int, resamples: int, rng: np.random.Generator
) -> None:
    n = len(entries)
    predictors = {name: np.array([e.predictor(name) for e in entries], dtype=float) for name in PREDICTORS}
    print(f"\n{title}: Spearman's r with measured latency, n = {n} architectures")
    print(f"(interval: {CONFIDENCE:.0%}, {CI_METHOD}; differences: paired bootstrap over architectures,")
    print(f" {resamples} resamples, {CONFIDENCE:.0%} percentile interval)\n")
    print("| batch | predictor | Spearman r | 95% interval |")
    print("| ---: | --- | ---: | --- |")
    verdicts = []
    for batch_key, label in (("1", "1"), ("B", str(batch))):
        latency = np.array([e.latency(batch_key) for e in entries])
        for name, column in predictors.items():
            r = spearman(column, latency)
            interval = fisher_interval(r, n)
            shown = f"[{interval[0]:+.2f}, {interval[1]:+.2f}]" if interval else "undefined"
            print(f"| {label} | {name} | {r:+.3f} | {shown} |")
        intervals, dropped = paired_bootstrap(predictors, latency, resamples, rng)
        for (a, b), (low, high) in intervals.items():
            if math.isnan(low):
                reading = "not decided (no usable resample)"
            elif low > 0:
                reading = f"{a} ranks latency better than {b}"
            elif high < 0:
                reading = f"{b} ranks latency better than {a}"
            else:
                reading = "not decided"
            verdicts.append(f"  batch {label:>3}: r({a}) - r({b}) in [{low:+.3f}, {high:+.3f}] -> {reading}")
        if dropped:
            verdicts.append(
                f"  batch {label:>3}: {dropped} of {resamples} resamples dropped (a constant column)"
            )
    print("\npaired differences (95% bootstrap interval):")
    print("\n".join(verdicts))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--batch", type=int, help="the larger batch (default 8 on CPU, 32 on CUDA)")
    parser.add_argument(
        "--resolution", type=int, help="Table 2 family's input size (default 112 on CPU, 224 on CUDA)"
    )
    parser.add_argument(
        "--space", type=Path, default=ROOT / "search_spaces" / "resnext_cifar.yaml", help="sampled space"
    )
    parser.add_argument("--sample", type=int, default=24, help="distinct architectures drawn (default 24)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw and of the round orders")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved measurements per architecture (default 5)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed passes per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per measurement (median)")
    parser.add_argument(
        "--max-seconds", type=float, default=1.0, help="cap on timed passes per measurement (at least 3)"
    )
    parser.add_argument("--threads", type=int, default=CORES, help="torch threads (default: all cores)")
    parser.add_argument(
        "--quiet-cores",
        type=float,
        help="CPU: before each measurement, wait until other processes use at most this many cores "
        "(default: the cores --threads leaves free, plus 0.25)",
    )
    parser.add_argument(
        "--max-wait", type=float, default=90.0, help="CPU: seconds the whole run may wait (default 90)"
    )
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    args = parser.parse_args()
    on_cuda = args.device == "cuda"
    args.batch = args.batch or (32 if on_cuda else 8)
    args.resolution = args.resolution or (224 if on_cuda else 112)
    if min(args.batch, args.resolution, args.sample, args.rounds, args.repeats, args.threads) < 1:
        parser.error("--batch, --resolution, --sample, --rounds, --repeats and --threads must be >= 1")

    import torch

    from nas_resnext.device import resolve_device

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
        space = DesignSpace.from_file(args.space)
        drawn, draws = distinct_sample(space, args.sample, args.seed)
    except ConfigError as error:
        parser.error(str(error))  # exits 2: bad input
    if on_cuda:
        torch.backends.cudnn.benchmark = True  # as a training trial leaves it before measuring latency

    table2 = [
        Entry(name, arch, count_analytic(arch))
        for name in TABLE2
        for arch in [get_preset(name).architecture(resolution=args.resolution)]
    ]
    sample = [Entry(arch.name, arch, count_analytic(arch)) for arch in drawn]
    sets = {"table2": table2, "sample": sample}

    # Other processes compete with this run only beyond the cores --threads leaves them (CPU only).
    spare_cores = None if on_cuda else max(0, CORES - args.threads)
    if args.quiet_cores is None:
        args.quiet_cores = (spare_cores or 0) + 0.25
    load = OtherLoad(args.quiet_cores, 0.0 if on_cuda else args.max_wait)
    load_before = os.getloadavg()
    description, precision, measured_s = measure(sets, args, device, load)
    load_after = os.getloadavg()

    print(
        f"device: {description}; torch {torch.__version__}; torch.set_num_threads({args.threads}) for the "
        f"whole run (torch reports {torch.get_num_threads()}); precision {precision}; channels_last"
    )
    print(
        f"timing: {args.rounds} interleaved rounds per architecture, each the median of {args.repeats} "
        f"timed passes after {args.warmup} warm-up (at least 3, capped at {args.max_seconds:g} s); "
        f"latency = median over rounds"
    )
    print(
        f"load average (1 min) before / after measuring: {load_before[0]:.2f} / {load_after[0]:.2f} "
        f"on {CORES} cores; measuring took {measured_s:.0f} s, of which {load.waited:.0f} s waiting "
        + (
            f"for other processes to use at most {args.quiet_cores:g} cores (at most {args.max_wait:g} s)"
            if load.available and not on_cuda
            else "(no waiting: off on CUDA and where /proc is missing)"
        )
    )
    print(
        "counts: analytic at batch 1; GFLOPs are multiply-adds (fvcore convention); activations are output "
        "elements of every conv and the classifier (pycls)"
    )
    rng = np.random.default_rng(args.seed)
    titles = {  # set -> (table's title, correlations' title)
        "table2": (f"(a) Table 2 family, imagenet template at {args.resolution} px", "(a) Table 2 family"),
        "sample": (
            f"(b) {space.name}: {len(sample)} distinct architectures of {draws} uniform draws "
            f"(seed {args.seed})",
            f"(b) {space.name}",
        ),
    }
    for key, entries in sets.items():
        table_title, short_title = titles[key]
        print_table(table_title, entries, args.batch, spare_cores)
        print_correlations(short_title, entries, args.batch, args.bootstrap, rng)
    print(f"\ntotal run time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
