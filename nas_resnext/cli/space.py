"""``nas-resnext space``: validate a design-space file and summarise it."""

from __future__ import annotations

import argparse

from nas_resnext.cli.common import HelpFormatter, format_table, print_json
from nas_resnext.complexity import ACTIVATION_CONVENTION, FLOP_CONVENTION, count_analytic
from nas_resnext.errors import ConfigError
from nas_resnext.space import AxisRange, DesignSpace
from nas_resnext.units import gflops_text, human_count

EXAMPLES = """\
examples:
  nas-resnext space search_spaces/digits_demo.yaml
  nas-resnext space search_spaces/resnext_imagenet.yaml --json
  nas-resnext space search_spaces/digits_demo.yaml --sample 10 --seed 3      # what random search draws
  nas-resnext space search_spaces/resnext_cifar.yaml --sample 1000 --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "space",
        help="validate and summarise a design-space YAML file",
        description="Validate a design space and summarise it: its size, the smallest and largest "
        "architecture and their complexity, and the fraction of the space within the budget "
        "(exact up to 50,000 architectures, estimated from 20,000 uniform samples above).",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("file", metavar="FILE.yaml", help="design-space file")
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="print N architectures drawn as the search's random sampler draws them (uniform over the "
        "in-budget architectures)",
    )
    parser.add_argument("--seed", type=int, metavar="S", help="seed of --sample (default: the space's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (a list with --sample)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def _axis_text(axis_range: AxisRange) -> str:
    values = axis_range.values
    if axis_range.is_range:
        how = (
            ", log-uniform"
            if axis_range.log
            else (f", step {axis_range.step}" if axis_range.step > 1 else "")
        )
        return f"{values[0]}..{values[-1]} ({len(values)} values{how})"
    return ", ".join(map(str, values))


def run(args: argparse.Namespace) -> int:
    if args.sample is not None and args.sample < 1:
        raise ConfigError("--sample", args.sample, "an integer >= 1")
    if args.seed is not None and args.sample is None:
        raise ConfigError("--seed", args.seed, "nothing without --sample")
    space = DesignSpace.from_file(args.file)
    if args.sample is not None:
        return _print_sample(
            space, args.sample, space.search.seed if args.seed is None else args.seed, args.json
        )
    summary = space.summary(seed=space.search.seed)
    if args.json:
        print_json(
            {
                "name": space.name,
                "file": args.file,
                "size": summary.size,
                "smallest": {
                    "name": summary.smallest.name,
                    "flops": summary.smallest_complexity.flops,
                    "params": summary.smallest_complexity.params,
                    "activations": summary.smallest_complexity.activations,
                },
                "largest": {
                    "name": summary.largest.name,
                    "flops": summary.largest_complexity.flops,
                    "params": summary.largest_complexity.params,
                    "activations": summary.largest_complexity.activations,
                },
                "budget": space.budget.to_dict(),
                "within_budget": summary.within_budget,
                "within_budget_exact": summary.exact,
                "evaluated": summary.evaluated,
                "training_from_dataset": list(space.training_from_dataset),
                "space": space.to_dict(),
            }
        )
        return 0
    fixed = space.smallest()
    print(f"{space.name}  ({args.file})")
    if space.description:
        print(f"  {space.description}")
    print(
        f"  template          {space.template}, {fixed.resolution} px, {fixed.num_classes} classes, "
        f"{fixed.in_channels} input channel{'s' if fixed.in_channels != 1 else ''}, stem {space.stem_width}"
    )
    print(f"  data set          {space.dataset}" + (f" ({space.data_dir})" if space.data_dir else ""))
    if space.shared_depth:
        print(f"  depth             {_axis_text(space.depths[0])}  (blocks in every stage)")
    else:
        for i, depth in enumerate(space.depths):
            print(f"  depth[{i}]          {_axis_text(depth)}")
    for axis, axis_range in space.axis_ranges.items():
        print(f"  {axis:<17} {_axis_text(axis_range)}")
    print(f"  size              {summary.size:,} architectures")
    for label, arch, cx in (
        ("smallest", summary.smallest, summary.smallest_complexity),
        ("largest", summary.largest, summary.largest_complexity),
    ):
        print(
            f"  {label:<17} {arch.name}: {cx.gflops:.4g} GFLOPs, {human_count(cx.params)} params, "
            f"{human_count(cx.activations)} activations"
        )
    how = "exact" if summary.exact else f"estimated from {summary.evaluated:,} samples"
    print(f"  budget            {space.budget.describe()}")
    print(f"  in budget         {summary.within_budget:.1%} of the space ({how})")
    print(f"  objectives        {', '.join(space.objectives)}")
    print(
        f"  search            {space.search.trials} trials, sampler {space.search.sampler}, "
        f"scheduler {space.search.scheduler}, seed {space.search.seed}"
    )
    t = space.training
    print(f"  training          {t.epochs} epochs, batch {t.batch_size}, lr {t.lr:g}, {t.schedule} schedule")
    if space.training_from_dataset:
        values = {name: getattr(t, name) for name in space.training_from_dataset}
        recommended = ", ".join(
            f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
            for name, value in values.items()
        )
        print(f"                    (from the {space.dataset} data set's recommendations: {recommended})")
    print(f"  (GFLOPs: {FLOP_CONVENTION})")
    print(f"  (activations: {ACTIVATION_CONVENTION})")
    if summary.within_budget == 0:
        checked = "architecture of this space" if summary.exact else "sampled architecture"
        print(f"  warning: no {checked} is within the budget")
    return 0


def _print_sample(space: DesignSpace, count: int, seed: int, as_json: bool) -> int:
    """Architectures drawn through the search's own sampling code, one row each."""
    from nas_resnext.search.sampling import FeasibleSampler, sample_architectures

    drawn = sample_architectures(space, count, seed)
    rows = []
    for arch in drawn:
        complexity = count_analytic(arch)
        rows.append(
            {
                "name": arch.name,
                **arch.axis_values(),
                "flops": complexity.flops,
                "params": complexity.params,
                "activations": complexity.activations,
            }
        )
    if as_json:
        print_json(rows)
        return 0
    feasible = FeasibleSampler(space).feasible_count()
    of = f"{feasible:,} in-budget architectures" if feasible is not None else "the in-budget architectures"
    print(f"{count} draws of {space.name} (seed {seed}), uniform over {of}:")
    table = [
        [
            r["name"],
            ",".join(map(str, r["depths"])),
            r["width"],
            r["cardinality"],
            r["bottleneck_width"],
            gflops_text(r["flops"]),
            human_count(r["params"]),
        ]
        for r in rows
    ]
    print(format_table(["name", "depths", "width", "C", "d", "GFLOPs", "params"], table))
    print(f"(GFLOPs: {FLOP_CONVENTION})")
    return 0
