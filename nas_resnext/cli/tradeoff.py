"""``nas-resnext tradeoff``: iso-complexity families (the paper's Tables 2 and 4)."""

from __future__ import annotations

import argparse
from typing import Any

from nas_resnext.architecture import AXES
from nas_resnext.cli.common import (
    HelpFormatter,
    add_architecture_arguments,
    architecture_from_args,
    format_table,
    human_count,
    int_list,
    print_json,
)
from nas_resnext.complexity import FLOP_CONVENTION, count_analytic
from nas_resnext.errors import ConfigError
from nas_resnext.isocomplexity import MATCHES, iso_complexity_family, normalize_axis, spending_plan

EXAMPLES = """\
examples:
  # the paper's Table 2: vary C on ResNet-50, solve d to keep params equal
  nas-resnext tradeoff --plan --preset resnet50 --cardinalities 1,2,4,8,32
  # the same at matched FLOPs, as JSON
  nas-resnext tradeoff --plan --preset resnet50 --cardinalities 1,2,4,8,32 --match flops --json
  # vary width, solve cardinality; vary depth, solve width
  nas-resnext tradeoff --plan --preset resnext50_32x4d --widths 32,64,96 --solve cardinality
  nas-resnext tradeoff --plan --preset resnext50_32x4d --depth-list 2,2,2,2/3,4,6,3/3,4,23,3 --solve width
  # the paper's Table 4: where do 2x the FLOPs go? (each axis grown alone)
  nas-resnext tradeoff --plan --preset resnet50 --target 2x --match flops
"""

_VALUE_FLAGS = {
    "cardinality": "cardinalities",
    "width": "widths",
    "bottleneck_width": "bottleneck_widths",
    "depth": "depth_list",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tradeoff",
        help="plan an iso-complexity family (vary one axis, solve another)",
        description="For each value of a varied axis, choose the solved axis so the complexity stays "
        "nearest the reference's (or a --target multiple of it). Without a varied axis and with --target, "
        "grow each of the four axes alone to the target (the paper's Table 4 question). Depth is solved as "
        "a total block count split in the reference's stage proportions.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    add_architecture_arguments(parser)
    family = parser.add_argument_group("family")
    family.add_argument("--cardinalities", metavar="C1,C2,..", help="vary cardinality over these values")
    family.add_argument("--widths", metavar="W1,W2,..", help="vary width over these values")
    family.add_argument("--bottleneck-widths", metavar="D1,D2,..", help="vary bottleneck width")
    family.add_argument(
        "--depth-list", metavar="3,4,6,3/3,4,23,3", help="vary depth over these depth lists ('/'-separated)"
    )
    family.add_argument("--solve", default="bottleneck_width", help="axis to solve: " + " | ".join(AXES))
    family.add_argument("--match", choices=MATCHES, default="params", help="complexity to keep equal")
    family.add_argument(
        "--target",
        metavar="T",
        help="complexity to reach: a multiple of the reference (2x) or an absolute number of "
        "Mparams (--match params) or GFLOPs (--match flops); default: the reference's own",
    )
    parser.add_argument("--plan", action="store_true", help="print the family without training it")
    parser.add_argument("--json", action="store_true", help="print {'rows': [...]} as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def _varied(args: argparse.Namespace) -> tuple[str, list[Any]] | None:
    given = [(axis, flag) for axis, flag in _VALUE_FLAGS.items() if getattr(args, flag)]
    if len(given) > 1:
        flags = ", ".join("--" + flag.replace("_", "-") for _, flag in given)
        raise ConfigError(
            "--cardinalities/--widths/--bottleneck-widths/--depth-list", flags, "only one of them"
        )
    if not given:
        return None
    axis, flag = given[0]
    text = getattr(args, flag)
    option = "--" + flag.replace("_", "-")
    if axis == "depth":
        return axis, [tuple(int_list(option, part)) for part in text.split("/")]
    return axis, int_list(option, text)


def run(args: argparse.Namespace) -> int:
    if not args.plan:
        raise ConfigError(
            "--plan",
            None,
            "--plan",
            note="required: training an iso-complexity family is not available yet; "
            "add --plan to print the family without training it",
        )
    reference = architecture_from_args(args)
    varied = _varied(args)
    solve = normalize_axis(args.solve, "--solve")
    if varied is None:
        if args.target is None:
            raise ConfigError(
                "--cardinalities/--widths/--bottleneck-widths/--depth-list",
                None,
                "one of them",
                note="give one of them to vary an axis (or --target alone, to grow each axis to the target)",
            )
        members = spending_plan(reference, args.target, args.match)
        title = f"Growing {reference.name} to {args.target} of its {args.match}, one axis at a time"
    else:
        axis, values = varied
        if axis == solve:
            raise ConfigError("--solve", args.solve, f"an axis other than the varied one ({axis})")
        members = iso_complexity_family(reference, axis, values, solve, args.match, args.target)
        title = f"Iso-complexity family of {reference.name}: vary {axis}, solve {solve}, match {args.match}"
    if args.json:
        print_json({"rows": [m.to_row() for m in members]})
        return 0
    reference_cx = count_analytic(reference)
    target = members[0].target
    shown = f"{target:,} params" if args.match == "params" else f"{target / 1e9:.4g} GFLOPs"
    print(title)
    print(
        f"  reference {reference.name}: {human_count(reference_cx.params)} params, "
        f"{reference_cx.gflops:.4g} GFLOPs; target {shown}"
    )
    rows = [
        [
            m.arch.name,
            m.axis,
            m.arch.cardinality,
            m.arch.bottleneck_width,
            m.arch.group_width,
            m.arch.width,
            ",".join(map(str, m.arch.depths)),
            human_count(m.complexity.params),
            f"{m.complexity.gflops:.3f}",
            f"{m.rel_diff:+.2%}",
        ]
        for m in members
    ]
    headers = ["name", "axis", "C", "d", "C*d", "width", "depths", "params", "GFLOPs", "diff"]
    print(format_table(headers, rows))
    print(f"(diff: {args.match} relative to the target; GFLOPs: {FLOP_CONVENTION})")
    return 0
