"""cuDNN autotuning and torch.compile against trial length, and what a trial of each shipped space costs on
one device. One process, one device, one run.

Architectures are the first ``--archs`` distinct ones of the search's uniform draw (seed 0) from each shipped
space: ``digits_demo`` on the digits data, ``resnext_cifar`` on synthetic 32x32 RGB images of CIFAR-10's
shape (``--cifar-images``, default 5,000), ``resnext_imagenet`` on synthetic 224x224 images of 1000 classes
(``--imagenet-images``, default 2,560). Each trains with the real trainer (``train_candidate``: channels_last,
bf16 autocast on CUDA, on-device batches) at its space's batch size for ``--epochs`` epochs, the way a
reused trial worker meets a new architecture: in a process that has already trained another one, first with
cuDNN autotuning off, then on. Off first, so that loading the new architecture's kernels is paid by the off
run; the on run's first epoch over its later ones is then the tuning itself. Per architecture:

- tuning cost: the on run's first epoch over the median of its later epochs (seconds, paid once per
  architecture and worker);
- saving per step: (median later epoch off - on) / training steps per epoch;
- break-even: tuning cost / saving per step, the training steps after which tuning has paid for itself
  (``never`` where tuning saves nothing). The trainer's default (``autotune: off``) rests on these;
- steady images/s with tuning on, and the peak GPU memory of the run: with the space's data set size and
  epochs, the compute time of one trial at one trial per GPU (data loading from disk excluded) and the
  trials per hour that gives.

With ``--compile-archs K`` the first K architectures of each set of ``--compile-sets`` also train under
``torch.compile`` (tuning on): compile's one-off cost (first epoch over the median later one) and its
steady speed-up over eager, and the steps after which compiling pays.

    python benchmarks/trial_length.py [--device cuda] [--archs 4] [--epochs 4] [--compile-archs 1]
        [--compile-sets digits,cifar] [--sets digits,cifar,imagenet] [--json PATH]

On a CPU the script runs (to check it) but tuning is a CUDA matter: the on and off runs then differ by noise.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from latency_predictors import distinct_sample

from nas_resnext.architecture import Architecture
from nas_resnext.data.datasets import TrainingData
from nas_resnext.data.registry import load_dataset
from nas_resnext.device import device_description
from nas_resnext.settings import TrainSettings
from nas_resnext.space import DesignSpace
from nas_resnext.training import train_candidate

ROOT = Path(__file__).resolve().parents[1]
SETS = {  # set -> (space file, data set the search would read, its training images per epoch, val images)
    "digits": ("digits_demo.yaml", "digits", None, None),
    "cifar": ("resnext_cifar.yaml", "synthetic", 45_000, 5_000),
    "imagenet": ("resnext_imagenet.yaml", "synthetic", 1_281_167, 50_000),
}


@dataclass
class Run:
    epochs: list[float]  # seconds per epoch, validation included
    images_per_second: float  # median over the epochs after the first
    peak_mib: float | None

    @property
    def first_extra(self) -> float:
        return max(0.0, self.epochs[0] - self.steady)

    @property
    def steady(self) -> float:
        return statistics.median(self.epochs[1:])


@dataclass
class Row:
    set: str
    arch: str
    gflops: float
    steps_per_epoch: int
    off: Run
    on: Run
    compiled: Run | None = None

    @property
    def tune_cost(self) -> float:
        return self.on.first_extra

    @property
    def saving_per_step(self) -> float:
        return (self.off.steady - self.on.steady) / self.steps_per_epoch

    @property
    def break_even(self) -> float:
        return self.tune_cost / self.saving_per_step if self.saving_per_step > 0 else math.inf


def train_once(arch: Architecture, data: TrainingData, settings: TrainSettings, device: torch.device) -> Run:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    result = train_candidate(arch, data, settings, measure=False)
    if not result.ok:
        raise RuntimeError(f"{arch.name}: {result.state}: {result.error}")
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    seconds = [m.epoch_seconds for m in result.history]
    return Run(seconds, result.train_images_per_second or float("nan"), peak)


def set_data(name: str, space: DesignSpace, args: argparse.Namespace) -> TrainingData:
    dataset = SETS[name][1]
    if dataset != "synthetic":
        return load_dataset(dataset, resolution=space.resolution, settings=space.training)
    count = args.cifar_images if name == "cifar" else args.imagenet_images
    return load_dataset(
        "synthetic",
        resolution=space.resolution,
        settings=space.training,
        num_samples=count,
        in_channels=3,
        num_classes=space.num_classes,
    )


def measure_set(name: str, args: argparse.Namespace, device: torch.device) -> list[Row]:
    from nas_resnext.complexity import count_analytic

    space = DesignSpace.from_file(ROOT / "search_spaces" / SETS[name][0])
    archs, _ = distinct_sample(space, args.archs, seed=0)
    data = set_data(name, space, args)
    base = space.training.replace(epochs=args.epochs, device=device.type, warmup_epochs=0)
    steps = len(data.train) // min(base.batch_size, len(data.train))  # whole batches, as DeviceBatches
    print(f"\n{name}: {len(archs)} architectures of {space.name}, {len(data.train)} training images, "
          f"batch {base.batch_size} ({steps} steps per epoch), {args.epochs} epochs", flush=True)  # fmt: skip
    rows = []
    for index, arch in enumerate(archs):
        off = train_once(arch, data, base.replace(autotune="off"), device)
        on = train_once(arch, data, base.replace(autotune="on"), device)
        compiled = None
        if index < args.compile_archs and name in args.compile_sets.split(","):
            compiled = train_once(arch, data, base.replace(autotune="on", compile=True), device)
        row = Row(name, arch.name, count_analytic(arch).gflops, steps, off, on, compiled)
        rows.append(row)
        print(f"  {arch.name}: off {fmt_run(off)}; on {fmt_run(on)}"
              + (f"; compiled {fmt_run(compiled)}" if compiled else ""), flush=True)  # fmt: skip
    return rows


def fmt_run(run: Run) -> str:
    epochs = ", ".join(f"{s:.2f}" for s in run.epochs)
    memory = f", peak {run.peak_mib:,.0f} MiB" if run.peak_mib is not None else ""
    return f"epochs [{epochs}] s, {run.images_per_second:,.0f} img/s{memory}"


def steps_text(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:,.0f}"


def print_summary(rows: list[Row]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    print(
        "\ncuDNN autotuning (tuning cost: the on run's first epoch over its later ones; saving: later epochs"
    )
    print("off - on, per training step; break-even: cost / saving)")
    print("| set | architecture | GFLOPs | steps/epoch | later epoch off / on (s) | tuning cost (s) | "
          "saving per step (ms) | break-even steps |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r.set} | {r.arch} | {r.gflops:.3f} | {r.steps_per_epoch} | {r.off.steady:.3f} / "
              f"{r.on.steady:.3f} | {r.tune_cost:.3f} | {r.saving_per_step * 1000:+.2f} | "
              f"{steps_text(r.break_even)} |")  # fmt: skip
    for name in dict.fromkeys(r.set for r in rows):
        own = [r for r in rows if r.set == name]
        summary[name] = {
            "median_break_even_steps": statistics.median(r.break_even for r in own),
            "median_tune_cost": statistics.median(r.tune_cost for r in own),
            "median_steady_ratio_off_on": statistics.median(r.off.steady / r.on.steady for r in own),
        }
        s = summary[name]
        print(f"{name}: median tuning cost {s['median_tune_cost']:.2f} s, later epochs off/on "
              f"{s['median_steady_ratio_off_on']:.3f}x, median break-even "
              f"{steps_text(s['median_break_even_steps'])} steps")  # fmt: skip
    compiled = [r for r in rows if r.compiled]
    if compiled:
        print("\ntorch.compile (tuning on): one-off cost and steady speed-up over eager")
        print("| set | architecture | compile cost (s) | later epoch eager / compiled (s) | speed-up | "
              "pays after steps |")  # fmt: skip
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for r in compiled:
            assert r.compiled is not None
            saving = (r.on.steady - r.compiled.steady) / r.steps_per_epoch
            cost = r.compiled.first_extra - r.on.first_extra
            pays = cost / saving if saving > 0 else math.inf
            print(f"| {r.set} | {r.arch} | {cost:.1f} | {r.on.steady:.3f} / {r.compiled.steady:.3f} | "
                  f"{r.on.steady / r.compiled.steady:.2f}x | {steps_text(pays)} |")  # fmt: skip
    print("\nOne trial at one trial per device, compute only (steady images/s with tuning on; the first")
    print("epoch's extra and reading the data set excluded), with the space's epochs and data set size:")
    print("| set | architecture | peak memory (MiB) | images/s | epoch (s) | trial (min) | trials/hour |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    spaces = {
        name: DesignSpace.from_file(ROOT / "search_spaces" / SETS[name][0]) for name in {r.set for r in rows}
    }
    for r in rows:
        space = spaces[r.set]
        train_images, val_images = SETS[r.set][2], SETS[r.set][3]
        # Digits: the data set measured is the space's own. Others: validation at the training rate, an
        # upper bound (inference is faster).
        rate = r.on.images_per_second
        epoch = r.on.steady if train_images is None else (train_images + val_images) / rate
        trial = epoch * space.training.epochs
        peak = f"{r.on.peak_mib:,.0f}" if r.on.peak_mib is not None else "n/a"
        print(f"| {r.set} | {r.arch} | {peak} | {r.on.images_per_second:,.0f} | {epoch:.1f} | "
              f"{trial / 60:.2f} | {3600 / trial:,.1f} |")  # fmt: skip
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    parser.add_argument("--archs", type=int, default=4, help="architectures per set")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--compile-archs", type=int, default=1, help="per set of --compile-sets")
    parser.add_argument("--compile-sets", default="digits,cifar")
    parser.add_argument("--sets", default="digits,cifar,imagenet")
    parser.add_argument("--cifar-images", type=int, default=5000)
    parser.add_argument("--imagenet-images", type=int, default=2560)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in sets if s not in SETS]
    if unknown or not sets:
        print(f"error: --sets: {args.sets!r}; allowed: a comma-separated subset of {', '.join(SETS)}")
        return 2
    if args.epochs < 2 or args.archs < 1 or args.compile_archs < 0:
        print("error: need --epochs >= 2, --archs >= 1 and --compile-archs >= 0")
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device: 'cuda'; allowed: cpu (no CUDA device is available here)")
        return 2
    device = torch.device(args.device)
    print(f"device: {device_description(device)}; torch {torch.__version__}", flush=True)
    started = time.perf_counter()
    # A worker that meets a new architecture has trained before: pay the CUDA context, cuBLAS/cuDNN loading
    # and the trainer's first use here, on an architecture measured in no set.
    warm = DesignSpace.from_file(ROOT / "search_spaces" / "digits_demo.yaml")
    warm_arch = distinct_sample(warm, 8, seed=1)[0][-1]
    warm_data = load_dataset("digits", resolution=warm.resolution, settings=warm.training)
    train_once(warm_arch, warm_data, warm.training.replace(epochs=1, device=device.type), device)
    print(f"warmed up on {warm_arch.name} in {time.perf_counter() - started:.1f} s", flush=True)
    rows: list[Row] = []
    for name in sets:
        rows += measure_set(name, args, device)
    summary = print_summary(rows)
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    if args.json:
        document = {
            "device": device_description(device),
            "torch": torch.__version__,
            "rows": [
                {
                    **asdict(r),
                    "tune_cost": r.tune_cost,
                    "saving_per_step": r.saving_per_step,
                    "break_even": None if math.isinf(r.break_even) else r.break_even,
                }
                for r in rows
            ],
            "summary": {
                k: {kk: (None if isinstance(v, float) and math.isinf(v) else v) for kk, v in s.items()}
                for k, s in summary.items()
            },
        }
        args.json.write_text(json.dumps(document, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
