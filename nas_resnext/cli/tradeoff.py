"""``nas-resnext tradeoff``: iso-complexity families (the paper's Tables 2 to 4), planned or trained."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas_resnext.architecture import AXES, Architecture
from nas_resnext.cli.common import (
    ARCHITECTURE_FIELDS,
    EXECUTION_FIELDS,
    HelpFormatter,
    add_architecture_arguments,
    add_execution_arguments,
    add_storage_argument,
    add_training_arguments,
    architecture_flag_error,
    architecture_flags,
    architecture_from_args,
    check_execution,
    dataset_architecture,
    execution_flags,
    flag_error,
    flag_name,
    format_table,
    int_list,
    options_for_this_start,
    print_json,
    storage_on_resume,
    storage_options,
    template_resolution,
    training_flags_given,
    training_settings,
    write_run_report,
)
from nas_resnext.complexity import FLOP_CONVENTION, count_analytic
from nas_resnext.data.catalog import DATASETS
from nas_resnext.errors import ConfigError
from nas_resnext.isocomplexity import (
    DEFAULT_TOLERANCE,
    MATCHES,
    iso_complexity_family,
    normalize_axis,
    spending_plan,
    value_text,
)
from nas_resnext.settings import TrainSettings
from nas_resnext.units import gflops_text, human_count

if TYPE_CHECKING:
    from nas_resnext.rundir import RunDirectory, RunOptions
    from nas_resnext.space import DesignSpace
    from nas_resnext.tradeoff import MemberResult, TradeoffPlan

EXAMPLES = """\
examples:
  # train a 5-member family (C=1..16, d solved at matched FLOPs) on the embedded digits, 2 seeds each
  nas-resnext tradeoff --depths 1,1,1 --width 16 --stem-width 16 -C 1 -d 16 \\
      --cardinalities 1,2,4,8,16 --match flops --seeds 2 --epochs 3 --batch-size 32 --lr 0.05
  # the paper's Table 4: spend 2x the FLOPs on depth, width, C or d (and train the reference too)
  nas-resnext tradeoff --depths 1,1,1 --width 16 --stem-width 16 -C 2 -d 8 --target 2x --match flops \\
      --seeds 2 --epochs 3 --batch-size 32 --lr 0.05
  # a space file gives the template, data set and training settings; flags choose the reference
  nas-resnext tradeoff search_spaces/digits_demo.yaml --width 16 -C 1 -d 8 --cardinalities 1,2,4,8
  nas-resnext tradeoff --resume runs/tradeoff-X-11-1x16d-w16      # continue after a kill or Ctrl-C
  nas-resnext tradeoff --resume runs/tradeoff-X-11-1x16d-w16 --seeds 4   # ... or add seeds
  # add seeds only where the answer is not decided yet: 3 each, then one more per round for the contenders
  nas-resnext tradeoff --depths 1,1,1 --width 16 --stem-width 16 -C 1 -d 16 --cardinalities 1,4,16 \
      --match flops --seeds auto --min-seeds 3 --max-seeds 8 --epochs 3 --batch-size 32 --lr 0.05
  nas-resnext tradeoff --resume runs/tradeoff-X-11-1x16d-w16 --retries 4  # more tries after transient faults
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

# results.DEFAULT_CONFIDENCE and plan.DEFAULT_MIN_SEEDS/MAX_SEEDS, restated so that parsing the command line
# does not import scipy and pandas
DEFAULT_CONFIDENCE = 0.95
DEFAULT_MIN_SEEDS = 3
DEFAULT_MAX_SEEDS = 8
AUTO = "auto"

_VALUE_FLAGS = {
    "cardinality": "cardinalities",
    "width": "widths",
    "bottleneck_width": "bottleneck_widths",
    "depth": "depth_list",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tradeoff",
        help="plan or train an iso-complexity family (vary one axis, solve another)",
        description="For each value of a varied axis, choose the solved axis so the complexity stays "
        "nearest the reference's (or a --target multiple of it). Without a varied axis and with --target, "
        "grow each of the four axes alone to the target (the paper's Table 4 question). Depth is solved as "
        "a total block count split in the reference's stage proportions. With --plan, print the family; "
        "without it, train every member for every seed under identical settings through Ray Tune (local "
        "Ray by default), keep a run directory like a search's (report and --resume work on it), and print "
        "validation error per member as mean +- std over seeds (the paper's Table 3).",
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
        "Mparams (--match params), GFLOPs (--match flops) or Mactivations (--match activations); "
        "default: the reference's own",
    )
    family.add_argument(
        "--tolerance",
        metavar="F",
        help="how far (a fraction of the target) a member may miss it when its solved axis is at the end of "
        "its range; members missing by more are marked with --plan and refused for training "
        f"(default {DEFAULT_TOLERANCE:g})",
    )
    family.add_argument(
        "--seeds",
        metavar="N|auto",
        help="train every member with N seeds: --seed, --seed+1, .. (default 2); auto: --min-seeds each, "
        "then, round by round, one more seed for each member not yet separated from the best, until the "
        "best is separated from every rival or the contenders reach --max-seeds (alpha spent evenly over "
        "the max - min + 1 planned looks)",
    )
    family.add_argument(
        "--min-seeds",
        metavar="N",
        help=f"with --seeds auto: seeds every member gets first (default {DEFAULT_MIN_SEEDS}, at least 2)",
    )
    family.add_argument(
        "--max-seeds",
        metavar="N",
        help=f"with --seeds auto: most seeds any member gets (default {DEFAULT_MAX_SEEDS}, >= --min-seeds)",
    )
    family.add_argument(
        "--confidence",
        metavar="P",
        help="confidence of the reading's intervals, for the whole family of comparisons (default "
        f"{DEFAULT_CONFIDENCE:g}); a member wins only when its interval against every rival excludes 0",
    )
    parser.add_argument(
        "space", nargs="?", metavar="SPACE.yaml", help="take template, data set and training from this space"
    )
    parser.add_argument("--plan", action="store_true", help="print the family without training it")
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue (or add --seeds to) the study in RUN_DIR"
    )
    parser.add_argument(
        "--run-dir", metavar="DIR", help="where to keep the study (default runs/tradeoff-<reference>-<time>)"
    )
    data = parser.add_argument_group("data (default: the space file's, else digits)")
    data.add_argument("--dataset", choices=list(DATASETS), help="data set to train on")
    data.add_argument("--data-dir", metavar="DIR", help="where cifar10/cifar100/imagefolder files are")
    add_training_arguments(parser, "training (defaults: the space file's, else the trainer's)")
    add_storage_argument(add_execution_arguments(parser))
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--json", action="store_true", help="print {'rows': [...]} as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def _varied(args: argparse.Namespace) -> tuple[str, list[Any]] | None:
    given = [(axis, flag) for axis, flag in _VALUE_FLAGS.items() if getattr(args, flag)]
    if len(given) > 1:
        flags = ", ".join(flag_name(flag) for _, flag in given)
        raise ConfigError(
            "--cardinalities/--widths/--bottleneck-widths/--depth-list", flags, "only one of them"
        )
    if not given:
        return None
    axis, flag = given[0]
    text = getattr(args, flag)
    option = flag_name(flag)
    if axis == "depth":
        return axis, [tuple(int_list(option, part)) for part in text.split("/")]
    return axis, int_list(option, text)


def _solve_and_vary(args: argparse.Namespace) -> tuple[tuple[str, list[Any]] | None, str]:
    varied = _varied(args)
    solve = normalize_axis(args.solve, "--solve")
    if varied is None and args.target is None:
        raise ConfigError(
            "--cardinalities/--widths/--bottleneck-widths/--depth-list",
            None,
            "one of them",
            note="give one of them to vary an axis (or --target alone, to grow each axis to the target)",
        )
    if varied is not None and varied[0] == solve:
        raise ConfigError("--solve", args.solve, f"an axis other than the varied one ({varied[0]})")
    return varied, solve


def run(args: argparse.Namespace) -> int:
    if args.resume:
        return _resume(args)
    if args.plan:
        return _print_plan(args)
    return _train(args)


# -- planning --------------------------------------------------------------------------------------------


def _print_plan(args: argparse.Namespace) -> int:
    """The family without training it. The architecture is taken as given unless a data set (or a space
    file) is named: then it is the family as it would be trained on that data."""
    _reject_training_only(args)
    tolerance = _tolerance(args)
    if args.space or args.dataset:
        reference, *_ = _reference_and_data(args)
    else:
        reference = architecture_from_args(args)
    varied, solve = _solve_and_vary(args)
    if varied is None:
        members = spending_plan(reference, args.target, args.match)
        title = f"Growing {reference.name} to {args.target} of its {args.match}, one axis at a time"
    else:
        axis, values = varied
        members = iso_complexity_family(reference, axis, values, solve, args.match, args.target)
        title = f"Iso-complexity family of {reference.name}: vary {axis}, solve {solve}, match {args.match}"
    if args.json:
        print_json({"rows": [m.to_row(tolerance) for m in members]})
        return 0
    reference_cx = count_analytic(reference)
    target = members[0].target
    shown = f"{target / 1e9:.4g} GFLOPs" if args.match == "flops" else f"{target:,} {args.match}"
    print(title)
    print(
        f"  reference {reference.name}: {human_count(reference_cx.params)} params, "
        f"{reference_cx.gflops:.4g} GFLOPs, {human_count(reference_cx.activations)} activations; "
        f"target {shown}"
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
            human_count(m.complexity.activations),
            f"{m.rel_diff:+.2%}",
        ]
        for m in members
    ]
    headers = ["name", "axis", "C", "d", "C*d", "width", "depths", "params", "GFLOPs", "activations", "diff"]
    lines = format_table(headers, rows).splitlines()
    unreachable = [i for i, m in enumerate(members) if not m.reachable(tolerance)]
    # The mark goes after the table's last column (diff) rather than into it, which keeps the column
    # numeric, right-aligned and as wide as without marks.
    for i in unreachable:
        lines[2 + i] += "!"  # below the header and its rule
    print("\n".join(lines))
    print(f"(diff: {args.match} relative to the target; GFLOPs: {FLOP_CONVENTION})")
    for i in unreachable:
        member = members[i]
        label = member.axis if varied is None else value_text(member.axis, member.value)
        print(f"! {label} cannot reach the target: {member.limit_reason()} (tolerance {tolerance * 100:g}%)")
    return 0


def _number(
    flag: str, text: str | None, default: float, allowed: str, accept: Callable[[float], bool]
) -> float:
    """``text`` as a float that ``accept`` takes (``default`` when not given); a ConfigError naming ``flag``
    otherwise (nan is never taken)."""
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(flag, text, allowed) from None
    if math.isnan(value) or not accept(value):
        raise ConfigError(flag, text, allowed)
    return value


def _tolerance(args: argparse.Namespace) -> float:
    """``--tolerance`` as a fraction of the target."""
    allowed = "a number >= 0 (a fraction of the target: 0.1 for 10%)"
    return _number("--tolerance", args.tolerance, DEFAULT_TOLERANCE, allowed, lambda v: 0 <= v < math.inf)


def _integer(flag: str, text: str, allowed: str, least: int) -> int:
    """``text`` as an integer >= ``least``; a ConfigError naming ``flag`` otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(flag, text, allowed) from None
    if value < least:
        raise ConfigError(flag, value, allowed)
    return value


def _seeds(args: argparse.Namespace) -> tuple[int, int | None, int | None]:
    """(seeds, min_seeds, max_seeds) of a new study: min and max are None unless ``--seeds auto``."""
    if args.seeds is None or args.seeds.strip().lower() != AUTO:
        for flag in ("min_seeds", "max_seeds"):
            if getattr(args, flag) is not None:
                raise ConfigError(flag_name(flag), getattr(args, flag), "only with --seeds auto")
        if args.seeds is None:
            return 2, None, None
        return _integer("--seeds", args.seeds, "an integer >= 1, or auto", 1), None, None
    low, high = DEFAULT_MIN_SEEDS, DEFAULT_MAX_SEEDS
    if args.min_seeds is not None:
        allowed = "an integer >= 2 (two seeds give the first interval)"
        low = _integer("--min-seeds", args.min_seeds, allowed, 2)
    if args.max_seeds is not None:
        high = _integer("--max-seeds", args.max_seeds, f"an integer >= --min-seeds ({low})", low)
    # A --min-seeds above the default maximum, alone, asks for that many seeds and no more.
    high = max(high, low)
    return low, low, high


def _confidence(args: argparse.Namespace) -> float:
    """``--confidence`` as a probability strictly between 0 and 1."""
    allowed = "a number strictly between 0 and 1 (0.95 for 95%)"
    return _number("--confidence", args.confidence, DEFAULT_CONFIDENCE, allowed, lambda v: 0 < v < 1)


def _refuse_unreachable(
    args: argparse.Namespace, plan: TradeoffPlan, varied: tuple[str, list[Any]] | None, tolerance: float
) -> None:
    """Bad input: a member that misses the target beyond the tolerance would not answer the study's
    question (which axis to spend a fixed complexity on), so none is trained."""
    unreachable = plan.unreachable(tolerance)
    if not unreachable:
        return
    reasons = "; ".join(f"{plan.label(i)}: {plan.members[i].limit_reason()}" for i in unreachable)
    worst = max(abs(plan.members[i].rel_diff) for i in unreachable)
    needed = math.ceil(worst * 100) / 100
    needed += 0.01 if needed < worst else 0  # a float product can round down below the miss
    within = f"within --tolerance {tolerance:g} ({reasons}), or --tolerance {needed:g} or more"
    if varied is None:
        raise ConfigError("--target", args.target, f"a target every axis can reach {within}")
    axis, _ = varied
    values = [plan.members[i].value for i in unreachable]
    shown = "/".join(",".join(map(str, v)) for v in values) if axis == "depth" else ",".join(map(str, values))
    raise ConfigError(
        flag_name(_VALUE_FLAGS[axis]), shown, f"values whose members can reach the target {within}"
    )


def _reject_training_only(args: argparse.Namespace) -> None:
    given = [
        name
        for name in ("run_dir", "seeds", "min_seeds", "max_seeds", "confidence", "storage", *EXECUTION_FIELDS)
        if getattr(args, name) is not None
    ]
    given += training_flags_given(args)
    if given:
        name = given[0]
        value = getattr(args, name)
        if name in ("seeds", "min_seeds", "max_seeds") and value.strip().isdigit():
            value = int(value)  # shown as the number it is, as an integer flag is
        if name == "storage":
            from nas_resnext.search.study import public_url

            value = public_url(value)
        raise ConfigError(flag_name(name), value, "nothing with --plan (it trains nothing)")


# -- the reference and its data --------------------------------------------------------------------------


def _reference_and_data(args: argparse.Namespace) -> tuple[Architecture, TrainSettings, str, str | None]:
    """The reference architecture, training settings, data set and data directory.

    With a space file: its template, fixed fields, data set and training settings, and the middle value
    of each of its axes, each overridable by flags. Without: like ``train`` (digits, cifar template; the
    data set fixes channels, classes and resolution).
    """
    from nas_resnext.data.catalog import get_dataset
    from nas_resnext.data.check import check_architecture_fits
    from nas_resnext.data.imagefolder import count_classes
    from nas_resnext.space import DesignSpace

    if args.space:
        space = DesignSpace.from_file(args.space)
        if args.preset:
            raise ConfigError(
                "--preset", args.preset, "no preset with a space file (the space sets the template)"
            )
        dataset = args.dataset or space.dataset
        data_dir = args.data_dir if args.data_dir is not None else space.data_dir
        settings = training_settings(args, space.training_for(dataset))
        try:
            reference = space.reference_architecture(**architecture_flags(args))
        except ConfigError as error:
            raise architecture_flag_error(error) from None
        try:
            check_architecture_fits(dataset, reference)
        except ConfigError as error:
            raise flag_error(error) from None
        return reference, settings, dataset, data_dir
    dataset = args.dataset or "digits"
    settings = training_settings(args)
    info = get_dataset(dataset)
    resolution = args.resolution or info.default_resolution or template_resolution(args)
    classes = info.num_classes
    if classes is None and args.num_classes is None and args.data_dir is not None:
        classes = count_classes(args.data_dir)
    known = {"in_channels": info.in_channels, "num_classes": classes, "resolution": resolution}
    return dataset_architecture(args, dataset, known), settings, dataset, args.data_dir


# -- training --------------------------------------------------------------------------------------------


def _train(args: argparse.Namespace) -> int:
    from nas_resnext.data.check import check_data_source
    from nas_resnext.rundir import RunDirectory, RunOptions
    from nas_resnext.search.environment import check_cluster
    from nas_resnext.tradeoff import TradeoffPlan
    from nas_resnext.tradeoff.runner import create_tradeoff_run

    check_execution(args)
    seeds, min_seeds, max_seeds = _seeds(args)
    tolerance = _tolerance(args)
    confidence = _confidence(args)
    reference, settings, dataset, data_dir = _reference_and_data(args)
    varied, solve = _solve_and_vary(args)
    if varied is None:
        plan = TradeoffPlan.spending(reference, args.target, args.match, seeds, settings.seed)
        prefix = "spending"
    else:
        axis, values = varied
        plan = TradeoffPlan.family(
            reference, axis, values, solve, args.match, args.target, seeds, settings.seed
        )
        prefix = "tradeoff"
    _refuse_unreachable(args, plan, varied, tolerance)
    if min_seeds is not None and max_seeds is not None:
        plan = plan.adaptive_seeds(min_seeds, max_seeds, confidence)
    name = f"{prefix}-{reference.name}"
    path = Path(args.run_dir or f"runs/{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    RunDirectory.check_new(path)
    try:
        check_data_source(dataset, data_dir)
    except ConfigError as error:
        raise flag_error(error) from None
    space = plan.design_space(name, dataset, data_dir, settings)
    options = RunOptions(
        trials=plan.trials,
        sampler="grid",
        scheduler="fifo",
        seed=settings.seed,
        space_file=str(args.space) if args.space else None,
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    if args.storage is not None:
        options = dataclasses.replace(options, **storage_options(args.storage, path, space.name))
    options = options_for_this_start(options, execution_flags(args))
    check_cluster(options)  # after every other check: it may start a local Ray
    run_dir = create_tradeoff_run(path, plan, space, options)
    with run_dir.hold():
        return train_and_print(
            run_dir, plan, space, options, as_json=args.json, quiet=args.quiet, confidence=confidence
        )


def _resume(args: argparse.Namespace) -> int:
    from nas_resnext.rundir import RunDirectory

    check_execution(args)
    if args.storage is not None:
        raise storage_on_resume(args.storage)
    # Not given: an adaptive study is read at the confidence its schedule was decided at.
    confidence = _confidence(args) if args.confidence is not None else None
    fixed = [
        n
        for n in (
            "run_dir",
            "preset",
            "target",
            "tolerance",
            "min_seeds",
            "max_seeds",
            "dataset",
            "data_dir",
            *_FLAG_OF_AXES,
        )
        if getattr(args, n)
    ]
    fixed += training_flags_given(args)
    if args.space or args.plan or fixed:
        name = "SPACE.yaml" if args.space else "--plan" if args.plan else flag_name(fixed[0])
        value = args.space if args.space else True if args.plan else getattr(args, fixed[0])
        raise ConfigError(
            name,
            value,
            "only --seeds, --confidence and execution flags with --resume (the study keeps its plan)",
        )
    seeds = None
    if args.seeds is not None:
        allowed = "an integer >= 1 with --resume (--seeds auto is chosen when a study starts)"
        seeds = _integer("--seeds", args.seeds, allowed, 1)
    return resume_and_print(
        RunDirectory(Path(args.resume)),
        seeds,
        execution_flags(args),
        as_json=args.json,
        quiet=args.quiet,
        confidence=confidence,
    )


def resume_and_print(
    run: RunDirectory,
    seeds: int | None,
    execution: dict[str, Any],
    *,
    as_json: bool,
    quiet: bool,
    confidence: float | None = None,
) -> int:
    """Continue the trade-off study in ``run`` (``seeds``: grow it to that many seeds) with the execution
    options given, and print its outcome: ``tradeoff --resume`` and ``search --resume`` on a study. An
    adaptive study goes on with its schedule. ``confidence`` None: the study's own (an adaptive study's), or
    the default. The study is held from the start (one in use is refused); nothing is written before the
    cluster is checked."""
    from nas_resnext.rundir import RunDirectory
    from nas_resnext.search.environment import check_cluster
    from nas_resnext.tradeoff import TradeoffPlan
    from nas_resnext.tradeoff.runner import open_tradeoff

    run = RunDirectory.open(run.path, run.flag, tradeoff=True)
    with run.hold():
        try:
            plan, space, options = open_tradeoff(run, seeds)
        except ConfigError as error:
            if error.field != "seeds":
                raise
            raise flag_error(error) from None
        options = options_for_this_start(options, execution)
        check_cluster(options)
        if plan != TradeoffPlan.load(run):  # grown by --seeds
            plan.save(run)
        if confidence is None:
            confidence = plan.confidence or DEFAULT_CONFIDENCE
        return train_and_print(run, plan, space, options, as_json=as_json, quiet=quiet, confidence=confidence)


_FLAG_OF_AXES = (*ARCHITECTURE_FIELDS, *_VALUE_FLAGS.values())


def train_and_print(
    run: RunDirectory,
    plan: TradeoffPlan,
    space: DesignSpace,
    options: RunOptions,
    *,
    as_json: bool,
    quiet: bool,
    confidence: float = DEFAULT_CONFIDENCE,
) -> int:
    """Train the study (progress on stderr unless ``quiet`` or ``as_json``; an adaptive one round by round),
    write its report and print the outcome, read at ``confidence`` (alpha spent over an adaptive study's
    planned looks); the exit code is 130 when it was interrupted."""
    from nas_resnext.tradeoff.results import mean_interval
    from nas_resnext.tradeoff.runner import run_tradeoff

    stream = None if (quiet or as_json) else sys.stderr
    # The options it ran with are saved by the study loop.
    outcome = run_tradeoff(run, plan, space, options, stream=stream, confidence=confidence)
    plan = outcome.plan  # an adaptive plan as its schedule left it
    report = write_run_report(run.path, "tradeoff")
    search = outcome.search
    judged = outcome.verdict
    rows = [r.to_row() | {"val_error_interval": mean_interval(r, confidence)} for r in outcome.results]
    if as_json:
        print_json(
            {
                "rows": rows,
                "reading": judged.reading,
                "decided": judged.decided,
                "confidence": judged.confidence,
                "method": judged.method,
                "comparisons": [c.to_dict() for c in judged.comparisons],
                "study": plan.describe(),
                "seeds": AUTO if plan.adaptive else plan.seeds,
                "min_seeds": plan.min_seeds,
                "max_seeds": plan.max_seeds,
                "rounds": plan.rounds if plan.adaptive else None,
                "match": plan.match,
                "target": plan.target_count,
                "trials": search.counts(),
                "interrupted": search.interrupted,
                "seconds": search.seconds,
                "run_dir": str(run.path),
                "report": str(report) if report else None,
            }
        )
    else:
        print_results(plan, outcome.results, judged.reading, space, confidence)
        counts = search.counts()
        shown = (state for state, n in counts.items() if n or state not in ("INTERRUPTED", "RETRIED"))
        text = ", ".join(f"{counts[state]} {state.lower()}" for state in shown)
        print(f"{sum(counts.values())} trials ({text}) in {search.seconds:.0f} s")
        print(f"run directory: {run.path}")
        if report:
            print(f"report: {report}")
    if search.interrupted:
        print(
            f"nas-resnext tradeoff: interrupted; continue with: nas-resnext tradeoff --resume {run.path}",
            file=sys.stderr,
        )
        return 130
    return 0


def print_results(
    plan: TradeoffPlan,
    results: list[MemberResult],
    reading: str,
    space: DesignSpace,
    confidence: float = DEFAULT_CONFIDENCE,
) -> None:
    """The paper's Table 3 for a trained study: one row per member, error as the mean over seeds with its
    Student-t interval at ``confidence``, then the reading."""
    from nas_resnext.tradeoff.results import mean_interval

    print(plan.describe())
    seeds = ", ".join(map(str, plan.seed_values))
    if plan.adaptive:
        seeds += (
            f" (--seeds auto: {plan.min_seeds} to {plan.max_seeds} per member, "
            f"{plan.rounds} round{'s' if plan.rounds > 1 else ''})"
        )
    print(f"  on {space.dataset}, {space.training.epochs} epochs each, seeds {seeds}")
    rows = []
    for r in results:
        interval = mean_interval(r, confidence)
        if r.val_error_mean is None:
            error = "failed" if r.failures else "not run"
        elif interval is None:
            error = f"{100 * r.val_error_mean:.2f}"
        else:
            error = f"{100 * r.val_error_mean:.2f} [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"
        rows.append(
            [
                r.label,
                r.name,
                r.cardinality,
                r.bottleneck_width,
                r.width,
                ",".join(map(str, r.depths)),
                human_count(r.params),
                gflops_text(r.flops),
                f"{r.latency_ms:.2f}" if r.latency_ms is not None else "-",
                error,
                f"{r.seeds}/{r.planned}",
                r.epochs,
            ]
        )
    headers = ["member", "name", "C", "d", "width", "depths", "params", "GFLOPs", "latency ms", "val error %"]
    print(format_table([*headers, "seeds", "epochs"], rows))
    for r in results:
        for failure in r.failures:
            print(f"  {r.label} ({r.name}) {failure}")
    shown = f"{100 * confidence:.10g}%"
    print(
        f"(val error: mean over seeds [{shown} Student-t interval of the mean, per member]; "
        f"GFLOPs: {FLOP_CONVENTION}; latency: batch 1)"
    )
    print(reading[0].upper() + reading[1:])
