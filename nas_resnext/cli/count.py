"""``nas-resnext count``: FLOPs, parameters and activations of one architecture."""

from __future__ import annotations

import argparse

from nas_resnext.cli.common import (
    HelpFormatter,
    add_architecture_arguments,
    architecture_from_args,
    architecture_summary,
    print_json,
)
from nas_resnext.complexity import ACTIVATION_CONVENTION, FLOP_CONVENTION, METHODS, count
from nas_resnext.shapes import stage_widths
from nas_resnext.units import human_count

EXAMPLES = """\
examples:
  nas-resnext count --preset resnext50_32x4d
  nas-resnext count --template imagenet --depths 3,4,6,3 --cardinality 32 --bottleneck-width 4
  nas-resnext count --template cifar --depths 3,3,3 -C 8 -d 64 --method fvcore
  nas-resnext count --preset resnext29_8x64d --num-classes 100 --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "count",
        help="FLOPs, params and activations of one architecture",
        description="Count FLOPs (multiply-adds, fvcore convention, batch 1), trainable parameters and "
        "activations (output elements of every conv and the classifier, as pycls counts them, batch 1) of "
        "one ResNeXt. The analytic counter is exact (equal to fvcore) and takes microseconds.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    add_architecture_arguments(parser)
    parser.add_argument("--method", choices=METHODS, default="analytic", help="how to count")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def run(args: argparse.Namespace) -> int:
    arch = architecture_from_args(args)
    outputs = [str(stage_widths(arch, stage)[1]) for stage in range(len(arch.depths))]
    complexity = count(arch, args.method)
    if args.json:
        summary = architecture_summary(arch, complexity)
        print_json({**summary, "activation_convention": ACTIVATION_CONVENTION, "method": args.method})
        return 0
    rows = [
        (
            "template",
            f"{arch.template} ({arch.resolution} px, {arch.num_classes} classes, "
            f"{arch.in_channels} input channels)",
        ),
        ("depths", ",".join(map(str, arch.depths)) + f"  ({arch.layers} layers)"),
        (
            "width",
            f"{arch.width}  (block outputs {', '.join(outputs)})",
        ),
        ("cardinality C", str(arch.cardinality)),
        ("bottleneck d", f"{arch.bottleneck_width}  (group width C*d = {arch.group_width})"),
        ("stem width", str(arch.stem_width)),
        ("params", f"{complexity.params:,}  ({human_count(complexity.params)})"),
        ("FLOPs", f"{complexity.flops:,}  ({complexity.gflops:.3f} GFLOPs, {FLOP_CONVENTION})"),
        (
            "activations",
            f"{complexity.activations:,}  ({human_count(complexity.activations)}, {ACTIVATION_CONVENTION})",
        ),
        ("counted by", args.method),
    ]
    print(arch.name)
    for label, value in rows:
        print(f"  {label:<14} {value}")
    return 0
