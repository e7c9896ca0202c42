"""``nas-resnext train``: train one architecture on a data set and report accuracy, cost and latency."""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from nas_resnext.architecture import Architecture
from nas_resnext.cli.common import (
    HelpFormatter,
    add_architecture_arguments,
    add_training_arguments,
    dataset_architecture,
    dataset_training_settings,
    flag_error,
    print_json,
    template_resolution,
)
from nas_resnext.complexity import ACTIVATION_CONVENTION, FLOP_CONVENTION, count_analytic
from nas_resnext.data.catalog import DATASETS, get_dataset
from nas_resnext.errors import ConfigError
from nas_resnext.settings import TrainSettings
from nas_resnext.units import human_count

if TYPE_CHECKING:
    from nas_resnext.data.datasets import TrainingData
    from nas_resnext.training import EpochMetrics, TrainResult

EXAMPLES = """\
examples:
  nas-resnext train --template cifar --depths 1,1,1 --width 16 -C 4 -d 4 --stem-width 16
  nas-resnext train --preset resnext29_8x64d --dataset cifar10 --data-dir ~/data --device cuda
  nas-resnext train --template cifar --depths 1,1,1 --width 16 --dataset synthetic --epochs 1 --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one architecture and report accuracy, cost and latency",
        description="Train one ResNeXt on a data set, score it on a validation split held out of the "
        "training data (stratified, seeded), and measure its inference latency on the training device. "
        "The data set fixes input channels, classes and (unless --resolution is given) the resolution; "
        "the template defaults to cifar. Unset training flags take the data set's recommended settings where "
        "it has them, else the trainer's defaults.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    add_architecture_arguments(parser)
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=list(DATASETS), default="digits", help="data set to train on")
    data.add_argument("--data-dir", metavar="DIR", help="where cifar10/cifar100/imagefolder files are")
    training = add_training_arguments(
        parser, "training (defaults: the data set's recommendations, else the trainer's)", per_dataset=True
    )
    training.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's)")
    training.add_argument(
        "--latency-batch", type=int, default=32, metavar="B", help="larger batch of the latency measurement"
    )
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print one JSON object (no progress bar)")
    output.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    output.add_argument("--debug", action="store_true", help="show tracebacks for errors")


class EpochProgress:
    """Progress on ``stream`` after every epoch: a live bar on a terminal (tqdm), one plain line per epoch
    in a pipe or log, where a rewritten line would run every epoch together."""

    def __init__(self, epochs: int, stream: TextIO) -> None:
        from tqdm import tqdm

        self.epochs = epochs
        self.stream = stream
        self.started = time.perf_counter()
        # disable=None: tqdm draws only when the stream is a terminal. The epoch's figures go in the
        # description, placed after the count: tqdm's postfix would add a comma the plain lines lack.
        self.bar = tqdm(
            total=epochs,
            file=stream,
            disable=None,
            ascii=".#",
            bar_format="[{bar:20}] epoch {n_fmt}/{total_fmt}{desc}  {elapsed_s:.0f} s",
        )

    def __call__(self, metrics: EpochMetrics) -> None:
        scored = (
            ""
            if math.isnan(metrics.val_accuracy)
            # a final training scores no split
            else (f"  val loss {metrics.val_loss:.3f}  val acc {metrics.val_accuracy:.2%}")
        )
        text = f"train loss {metrics.train_loss:.3f}{scored}  {metrics.images_per_second:,.0f} img/s"
        if self.bar.disable:
            elapsed = time.perf_counter() - self.started
            print(
                f"epoch {metrics.epoch}/{self.epochs}  {text}  {elapsed:.0f} s", file=self.stream, flush=True
            )
            return
        self.bar.set_description_str("  " + text, refresh=False)
        self.bar.update(metrics.epoch - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    settings, sources = dataset_training_settings(args)
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError("--threads", args.threads, "an integer >= 1")
        import torch

        torch.set_num_threads(args.threads)
    if args.latency_batch < 1:
        raise ConfigError("--latency-batch", args.latency_batch, "an integer >= 1")
    from nas_resnext.data.registry import load_dataset
    from nas_resnext.device import resolve_device
    from nas_resnext.training import train_candidate

    try:
        resolve_device(settings.device)
    except ConfigError as error:
        raise flag_error(error) from None

    info = get_dataset(args.dataset)
    if info.needs_data_dir and args.data_dir is None:
        raise ConfigError("--data-dir", None, f"a path for the {args.dataset} data set: {info.layout}")
    resolution = args.resolution or info.default_resolution or template_resolution(args)
    # Check the architecture flags before reading any data: a typo should not wait for CIFAR to load.
    known = {"in_channels": info.in_channels, "num_classes": info.num_classes, "resolution": resolution}
    arch = dataset_architecture(args, args.dataset, known)
    if settings.init:  # a file that does not fit is bad input, found before any data is read
        from nas_resnext.weights import check_initialization

        check_initialization(arch, settings.init)
    try:
        data = load_dataset(
            args.dataset,
            args.data_dir,
            resolution,
            settings,
            in_channels=arch.in_channels,
            num_classes=arch.num_classes,
        )
    except ConfigError as error:
        raise flag_error(error) from None
    if data.num_classes != arch.num_classes:
        if args.num_classes is not None and info.num_classes is None and args.num_classes != data.num_classes:
            raise ConfigError(
                "--num-classes", args.num_classes, f"{data.num_classes} (classes found in --data-dir)"
            )
        arch = arch.replace(num_classes=data.num_classes)
    complexity = count_analytic(arch)

    if not args.json:
        print(
            f"{arch.name}  on {data.name} ({len(data.train):,} train / {len(data.val):,} val images, "
            f"{data.resolution} px)",
            flush=True,
        )
    progress = None if (args.json or args.quiet) else EpochProgress(settings.epochs, sys.stderr)
    try:
        result = train_candidate(arch, data, settings, progress, latency_batch_size=args.latency_batch)
    finally:
        if progress is not None:
            progress.close()
    total_seconds = time.perf_counter() - started
    if args.json:
        print_json(_json(arch, data, settings, sources, complexity, result, total_seconds))
    else:
        _print_text(data, complexity, result, total_seconds)
    if not result.ok:
        print(f"nas-resnext train: {result.state}: {result.error}", file=sys.stderr)
        return 1
    return 0


def _json(
    arch: Architecture,
    data: TrainingData,
    settings: TrainSettings,
    sources: dict[str, str],
    complexity: Any,
    result: TrainResult,
    total_seconds: float,
) -> dict[str, Any]:
    latency = result.latency
    return {
        "name": arch.name,
        "architecture": arch.to_dict(),
        "dataset": data.name,
        "train_images": len(data.train),
        "val_images": len(data.val),
        "state": result.state,
        "error": result.error,
        "val_accuracy": result.val_accuracy,
        "val_loss": result.val_loss,
        "params": complexity.params,
        "flops": complexity.flops,
        "flop_convention": FLOP_CONVENTION,
        "activations": complexity.activations,
        "activation_convention": ACTIVATION_CONVENTION,
        "latency_ms": latency.single_ms if latency else None,
        "latency_batch_ms": latency.batch_ms if latency else None,
        "latency_batch_size": latency.batch_size if latency else None,
        "latency": latency.to_dict() if latency else None,
        "epochs": result.epochs,
        "train_seconds": result.train_seconds,
        "train_images_per_second": result.train_images_per_second,
        "total_seconds": total_seconds,
        "device": result.device,
        "settings": settings.to_dict(),
        "settings_source": sources,
        "history": result.to_dict()["history"],
    }


def _print_text(data: TrainingData, complexity: Any, result: TrainResult, total_seconds: float) -> None:
    rows: list[tuple[str, str]] = [("state", result.state)]
    if result.val_accuracy is not None:
        rows.append(("val accuracy", f"{result.val_accuracy:.2%}  (val loss {result.val_loss:.4f})"))
    rows += [
        ("epochs", str(result.epochs)),
        ("params", f"{complexity.params:,}  ({human_count(complexity.params)})"),
        ("FLOPs", f"{complexity.flops:,}  ({human_count(complexity.flops)}, {FLOP_CONVENTION})"),
        ("activations", f"{complexity.activations:,}  ({human_count(complexity.activations)})"),
    ]
    if result.latency is not None:
        latency = result.latency
        rows.append(
            (
                "latency",
                f"{latency.single_ms:.2f} ms at batch 1, "
                f"{latency.batch_ms:.2f} ms at batch {latency.batch_size} "
                f"({latency.images_per_second:,.0f} images/s); {latency.device}, {latency.precision}",
            )
        )
    throughput = f", {result.train_images_per_second:,.0f} images/s" if result.train_images_per_second else ""
    rows += [
        ("training", f"{result.train_seconds:.1f} s on {result.device}{throughput}"),
        ("total time", f"{total_seconds:.1f} s"),
    ]
    for label, value in rows:
        print(f"  {label:<14} {value}")
