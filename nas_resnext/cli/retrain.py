"""``nas-resnext retrain``: the final training of a run's trial, scored once on the official test split."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas_resnext.cli.common import (
    HelpFormatter,
    add_training_arguments,
    flag_error,
    print_json,
    training_settings,
)
from nas_resnext.errors import ConfigError
from nas_resnext.export.bundle import FORMATS  # a light module: torch loads only when a model is exported

if TYPE_CHECKING:
    from nas_resnext.retrain import RetrainOutcome

EXAMPLES = """\
examples:
  nas-resnext retrain runs/digits_demo-20261127-063154 --trial 7
  nas-resnext retrain runs/digits_demo-20261127-063154 --trial 7 --epochs 30 -o models/final7
  nas-resnext retrain runs/cifar --trial 12 --epochs 200 --device cuda --format pt,onnx

then, in Python:
  model = nas_resnext.load_model("models/final7")   # eval mode; see models/final7/README.md
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retrain",
        help="train a trial's architecture on the whole training split and score it once on the test split",
        description="The final training of a chosen architecture: trial N's architecture and training "
        "settings (its seed included; training flags override them), trained on the whole training split, "
        "the validation part included, then scored once on the data set's official test split, with a "
        "Wilson interval. This is the only command that reads the test split. Writes a model directory as "
        "nas-resnext export does (weights, card, TorchScript, ONNX), by default RUN/retrained/"
        "trial_NNNNN_<name>.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="a run directory of nas-resnext search")
    parser.add_argument("--trial", type=int, required=True, metavar="N", help="the trial to train again")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="DIR", help="a new or empty directory for the model directory"
    )
    parser.add_argument(
        "--format",
        default=",".join(FORMATS),
        metavar="LIST",
        help="comma list of " + ", ".join(FORMATS) + " (pt is always written)",
    )
    parser.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        metavar="P",
        help="confidence of the test accuracy's Wilson interval",
    )
    add_training_arguments(parser)
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print one JSON object (no progress bar)")
    output.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    output.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def run(args: argparse.Namespace) -> int:
    from nas_resnext.retrain import plan_retrain, retrain, trial_settings
    from nas_resnext.rundir import RunDirectory

    if not 0 < args.confidence < 1:
        raise ConfigError("--confidence", args.confidence, "a number in (0, 1), e.g. 0.95")
    run_dir = RunDirectory.open(args.run_dir, flag="RUN")
    settings = training_settings(args, trial_settings(run_dir, args.trial))
    if settings.device != "auto":
        from nas_resnext.device import resolve_device

        try:
            resolve_device(settings.device)
        except ConfigError as error:
            raise flag_error(error) from None
    plan = plan_retrain(run_dir, args.trial, settings, args.output, args.format)
    if not args.json:
        print(
            f"{plan.arch.name} (trial {plan.trial} of {run_dir.path}): final training on the whole "
            f"{plan.dataset} training split, validation part included; {settings.epochs} epochs, seed "
            f"{settings.seed}. The test split is read once, after training (no other command reads it).",
            flush=True,
        )
    from nas_resnext.cli.train import EpochProgress

    progress = None if (args.json or args.quiet) else EpochProgress(settings.epochs, sys.stderr)
    try:
        outcome = retrain(plan, progress, confidence=args.confidence)
    finally:
        if progress is not None:
            progress.close()
    if args.json:
        print_json(_json(outcome))
    else:
        _print_text(outcome)
    if outcome.export is None:
        print(f"nas-resnext retrain: {outcome.result.state}: {outcome.result.error}", file=sys.stderr)
        return 1
    return 0


def _json(outcome: RetrainOutcome) -> dict[str, Any]:
    result = outcome.result
    return {
        "run_dir": str(outcome.plan.run.path),
        "trial": outcome.plan.trial,
        "name": outcome.plan.arch.name,
        "architecture": outcome.plan.arch.to_dict(),
        "dataset": outcome.plan.dataset,
        "state": result.state,
        "error": result.error,
        "epochs": result.epochs,
        "settings": outcome.plan.settings.to_dict(),
        "train_images": outcome.train_images,
        "test_images": outcome.test_images,
        "test_accuracy": outcome.test_accuracy,
        "test_interval": list(outcome.interval) if outcome.interval else None,
        "confidence": outcome.confidence,
        "interval_method": "Wilson score interval for a binomial proportion",
        "train_seconds": result.train_seconds,
        "device": result.device,
        "latency_ms": result.latency.single_ms if result.latency else None,
        "model_dir": str(outcome.export.directory) if outcome.export else None,
        "files": [str(p) for p in outcome.export.files] if outcome.export else [],
        "onnx_max_abs_diff": outcome.export.onnx_max_abs_diff if outcome.export else None,
    }


def _print_text(outcome: RetrainOutcome) -> None:
    result = outcome.result
    if outcome.export is None:
        return
    if outcome.test_accuracy is not None and outcome.interval is not None:
        low, high = outcome.interval
        print(
            f"test accuracy {outcome.test_accuracy:.2%} on the {outcome.plan.dataset} test split "
            f"({outcome.test_images:,} images); {outcome.confidence:.0%} Wilson interval "
            f"[{low:.2%}, {high:.2%}]"
        )
    else:
        print(f"test accuracy: not measured (the {outcome.plan.dataset} data set has no test split)")
    print(
        f"trained {result.epochs} epochs on {outcome.train_images:,} images in {result.train_seconds:.1f} s "
        f"on {result.device}"
    )
    export = outcome.export
    print(f"model directory: {export.directory} ({', '.join(p.name for p in export.files)})")
    if export.onnx_max_abs_diff is not None:
        print(
            f"  ONNX Runtime check: max abs difference {export.onnx_max_abs_diff:.3g} "
            f"on {export.check_inputs} random inputs"
        )
