"""``nas-resnext export``: a run's kept weights as model directories (weights, card, TorchScript, ONNX)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from nas_resnext.cli.common import HelpFormatter
from nas_resnext.export.bundle import FORMATS  # a light module: torch loads only when a model is exported

if TYPE_CHECKING:
    from nas_resnext.export.bundle import ExportResult

EXAMPLES = """\
examples:
  nas-resnext export runs/digits_demo-20261127-063154 --trial 7 -o models/trial7
  nas-resnext export runs/digits_demo-20261127-063154 --front -o models/front
  nas-resnext export runs/digits_demo-20261127-063154 --trial 7 -o models/t7 --format pt,onnx

then, in Python:
  model = nas_resnext.load_model("models/trial7")   # eval mode; see models/trial7/README.md
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a run's trained weights as model directories (weights, card, TorchScript, ONNX)",
        description="Write the weights a search kept (--keep-weights) as a self-describing model "
        "directory: architecture.json, weights.pt, preprocessing.json (resolution, mean, std), a model card "
        "(README.md: architecture, data set, metrics, FLOPs, params, latency, training, origin) and, on "
        "request, TorchScript and ONNX files, each checked against the torch model on random inputs. "
        "nas_resnext.load_model(DIR) loads one. Nothing is written unless every file is written and "
        "checked.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="a run directory of nas-resnext search")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, metavar="N", help="export trial N")
    which.add_argument(
        "--front",
        action="store_true",
        help="export every trial on the run's Pareto front, one sub-directory trial_NNNNN_<name> each",
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="DIR", help="a new or empty directory to write"
    )
    parser.add_argument(
        "--format",
        default=",".join(FORMATS),
        metavar="LIST",
        help="comma list of " + ", ".join(FORMATS) + " (pt, the weights with their JSON files and card, is "
        "always written)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def _print_result(result: ExportResult) -> None:
    trial = f" (trial {result.trial})" if result.trial is not None else ""
    print(f"{result.name}{trial} -> {result.directory}")
    print("  files: " + ", ".join(path.name for path in result.files))
    if result.torchscript_max_abs_diff is not None:
        print(
            f"  TorchScript check: max abs difference {result.torchscript_max_abs_diff:.3g} "
            f"on {result.check_inputs} random inputs"
        )
    if result.onnx_max_abs_diff is not None:
        print(
            f"  ONNX Runtime check: max abs difference {result.onnx_max_abs_diff:.3g} "
            f"on {result.check_inputs} random inputs"
        )


def run(args: argparse.Namespace) -> int:
    from nas_resnext.export.bundle import check_formats, check_output_directory
    from nas_resnext.rundir import RunDirectory

    # Bad input first, before anything is read or written.
    formats = check_formats(args.format, "--format")
    check_output_directory(args.output, "--output")
    run_dir = RunDirectory.open(args.run_dir, flag="RUN")

    from nas_resnext.export.from_run import export_front, export_trial

    if args.front:
        results = export_front(run_dir, args.output, formats)
    else:
        results = [export_trial(run_dir, args.trial, args.output, formats)]
    for result in results:
        _print_result(result)
    if args.front:
        print(f"{len(results)} model(s) of the Pareto front in {args.output}")
    return 0
