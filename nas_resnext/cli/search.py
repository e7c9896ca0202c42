"""``nas-resnext search``: search a design space under its budget with Optuna and Ray Tune."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas_resnext.architecture import Architecture
from nas_resnext.cli.common import (
    HelpFormatter,
    add_execution_arguments,
    add_storage_argument,
    check_execution,
    execution_flags,
    flag_name,
    format_table,
    options_for_this_start,
    print_json,
    storage_on_resume,
    storage_options,
    write_run_report,
)
from nas_resnext.errors import ConfigError
from nas_resnext.space import FRONT_GRACES, SAMPLERS, SCHEDULERS, SELECTIONS, DesignSpace
from nas_resnext.units import human_count

if TYPE_CHECKING:
    from nas_resnext.rundir import RunDirectory, RunOptions

EXAMPLES = """\
examples:
  nas-resnext search search_spaces/digits_demo.yaml
  nas-resnext search search_spaces/digits_demo.yaml --trials 40 --max-gflops 0.005 --sampler nsga2
  nas-resnext search search_spaces/digits_demo.yaml --scheduler moasha --epochs 9 --run-dir runs/moasha
  nas-resnext search --resume runs/moasha                 # continue after a crash, kill or Ctrl-C
  nas-resnext search --resume runs/moasha --trials 60     # ... or extend a finished run
  nas-resnext search --resume runs/moasha --retries 4     # ... trying candidates hit by transient faults more
  nas-resnext search search_spaces/digits_demo.yaml --keep-weights all  # every trained trial keeps weights
  nas-resnext search search_spaces/resnext_cifar.yaml --data-dir ~/data \\
      --ray-address 10.0.0.1:6379 --storage-path /shared/runs --gpus-per-trial 0.5
  nas-resnext search search_spaces/resnext_cifar.yaml --data-dir ~/data \
      --ray-address 10.0.0.1:6379 --storage-path /shared/runs --gpus-per-trial 1 --autoscaling
  PGPASSWORD=... nas-resnext search search_spaces/digits_demo.yaml \
      --storage postgresql://nas@db.example:5432/studies    # the study in PostgreSQL, for optuna-dashboard
"""

# flag -> (dotted key in the space, how to convert)
_SPACE_FLAGS = {
    "epochs": ("training.epochs", int),
    "max_gflops": ("budget.max_gflops", float),
    "min_gflops": ("budget.min_gflops", float),
    "max_mparams": ("budget.max_mparams", float),
    "max_mactivations": ("budget.max_mactivations", float),
    "min_mactivations": ("budget.min_mactivations", float),
    "sampler": ("search.sampler", str),
    "scheduler": ("search.scheduler", str),
    "seed": ("search.seed", int),
    "trials": ("search.trials", int),
    "dataset": ("dataset", str),
    "data_dir": ("data_dir", str),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "search",
        help="search a design space (Optuna sampling, Ray Tune training)",
        description="Sample in-budget ResNeXts from a design space with Optuna, train each through Ray Tune, "
        "and keep everything in a run directory (space.yaml, run.json, study.db, ray/, trials.csv). Flags "
        "override the space file. No architecture outside the budget is ever trained.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("space", nargs="?", metavar="SPACE.yaml", help="design-space file")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    parser.add_argument(
        "--run-dir", metavar="DIR", help="where to keep the run (default runs/<space>-<time>)"
    )
    group = parser.add_argument_group("overrides of the space file")
    group.add_argument("--trials", type=int, metavar="N", help="finished trials to reach")
    group.add_argument("--epochs", type=int, metavar="E", help="epochs per candidate")
    group.add_argument("--max-gflops", type=float, metavar="X", help="budget: at most X GFLOPs")
    group.add_argument("--min-gflops", type=float, metavar="X", help="budget: at least X GFLOPs")
    group.add_argument("--max-mparams", type=float, metavar="X", help="budget: at most X million params")
    group.add_argument(
        "--max-mactivations",
        type=float,
        metavar="X",
        help="budget: at most X million activations (conv and classifier outputs, batch 1)",
    )
    group.add_argument(
        "--min-mactivations", type=float, metavar="X", help="budget: at least X million activations"
    )
    group.add_argument("--sampler", choices=SAMPLERS, help="Optuna sampler")
    group.add_argument("--scheduler", choices=SCHEDULERS, help="early stopping: none, ASHA, or Pareto-aware")
    group.add_argument("--seed", type=int, metavar="N", help="seed of sampling and training")
    group.add_argument("--dataset", help="data set (digits, cifar10, cifar100, imagefolder, synthetic)")
    group.add_argument("--data-dir", metavar="PATH", help="where the data set lies")
    execution = add_execution_arguments(parser)
    add_storage_argument(execution)
    execution.add_argument(
        "--grace-period", type=int, default=None, metavar="E", help="asha/moasha: first rung"
    )
    execution.add_argument(
        "--reduction-factor", type=int, default=None, metavar="ETA", help="asha/moasha: eta"
    )
    execution.add_argument(
        "--selection",
        choices=SELECTIONS,
        default=None,
        help="moasha: order within a front by crowding distance (default), hypervolume contribution or "
        "epsilon-net",
    )
    execution.add_argument(
        "--front-grace",
        choices=FRONT_GRACES,
        default=None,
        help="moasha: a result on its rung's Pareto front goes on past the quota at every rung but the "
        "first while the rung keeps a single place (filling, default), at every rung but the first "
        "(upper), at every rung (all), or never (none)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def _apply_overrides(space: DesignSpace, args: argparse.Namespace) -> DesignSpace:
    data: dict[str, Any] = space.to_dict()
    if getattr(args, "dataset", None) not in (None, space.dataset):
        # Another data set brings its own recommendations for what the file leaves out.
        data["training"] = space.file_training()
    changed = {}
    for name, (key, _) in _SPACE_FLAGS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        node = data
        *parents, last = key.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = value
        changed[key] = name
    try:
        return DesignSpace.from_dict(data)
    except ConfigError as error:
        flag = changed.get(error.field)
        if flag is None:
            raise
        raise ConfigError(flag_name(flag), error.value, error.allowed, note=error.note) from None


def _check_execution(args: argparse.Namespace) -> None:
    check_execution(args)
    for name in ("grace_period",):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(flag_name(name), value, "an integer >= 1")
    if args.reduction_factor is not None and args.reduction_factor < 2:
        raise ConfigError("--reduction-factor", args.reduction_factor, "an integer >= 2")


def _check_data(space: DesignSpace) -> None:
    """Fail before anything is written when the data set cannot feed the space's architectures."""
    from nas_resnext.data.check import check_architecture_fits, check_data_source

    # Every architecture of a space shares its channels and classes: checking one checks them all.
    check_architecture_fits(space.dataset, space.smallest())
    check_data_source(space.dataset, space.data_dir)


def run(args: argparse.Namespace) -> int:
    from nas_resnext.rundir import RunDirectory, RunOptions

    _check_execution(args)
    if args.resume:
        if args.space:
            raise ConfigError("SPACE.yaml", args.space, "nothing with --resume (the run keeps its space)")
        if args.storage is not None:
            raise storage_on_resume(args.storage)
        fixed = [n for n in _SPACE_FLAGS if n != "trials" and getattr(args, n) is not None]
        if fixed or args.run_dir:
            name = fixed[0] if fixed else "run_dir"
            raise ConfigError(
                flag_name(name), getattr(args, name), "only --trials and execution flags with --resume"
            )
        run_dir = RunDirectory(Path(args.resume))
        if run_dir.is_tradeoff:
            return _resume_tradeoff(run_dir, args)
        run_dir = RunDirectory.open(run_dir.path)
        with run_dir.hold():  # before anything is read: a run in use is refused at once
            space = run_dir.load_space(check_init=True)
            options = run_dir.load_options()
            if args.trials is not None:
                if args.trials < 1:
                    raise ConfigError("--trials", args.trials, "an integer >= 1")
                options = dataclasses.replace(options, trials=args.trials)
            return _search(args, space, options, run_dir)
    else:
        if not args.space:
            raise ConfigError("SPACE.yaml", None, "a design-space file (or --resume RUN_DIR)")
        space = _apply_overrides(DesignSpace.from_file(args.space), args)
        path = Path(args.run_dir or f"runs/{space.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        RunDirectory.check_new(path)
        options = RunOptions(
            trials=space.search.trials,
            sampler=space.search.sampler,
            scheduler=space.search.scheduler,
            seed=space.search.seed,
            space_file=str(args.space),
            created=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        return _search(args, space, options, path)


def _search(
    args: argparse.Namespace, space: DesignSpace, options: RunOptions, run: RunDirectory | Path
) -> int:
    """Check the rest of the input and the cluster, then run the search in ``run`` (a held run directory,
    or the path of a new one) and print its outcome."""
    from nas_resnext.rundir import RunDirectory
    from nas_resnext.search.environment import check_cluster
    from nas_resnext.search.runner import run_search
    from nas_resnext.search.sampling import FeasibleSampler

    scheduling = {
        name: getattr(args, name)
        for name in ("grace_period", "reduction_factor", "selection", "front_grace")
        if getattr(args, name) is not None
    }
    options = dataclasses.replace(options, **scheduling)
    if options.grace_period >= space.training.epochs and options.scheduler != "fifo":
        raise ConfigError(
            "--grace-period", options.grace_period, f"fewer than the {space.training.epochs} epochs per trial"
        )
    FeasibleSampler(space).check_feasible()
    _check_data(space)
    if args.storage is not None and not isinstance(run, RunDirectory):
        options = dataclasses.replace(options, **storage_options(args.storage, run, space.name))
    options = options_for_this_start(options, execution_flags(args))
    check_cluster(options)  # after every other check: it may start a local Ray
    if isinstance(run, RunDirectory):
        run_dir = run
        run_dir.save_options(options)
    else:
        run_dir = RunDirectory.create(run, space, options)
    stream = None if (args.quiet or args.json) else sys.stderr
    with run_dir.hold():
        outcome = run_search(run_dir, space, options, stream=stream)
    report = write_run_report(run_dir.path, "search")
    rows = [_pareto_row(t) for t in sorted(outcome.pareto, key=lambda t: t.user_attrs.get("flops", 0))]
    if args.json:
        print_json(
            {
                "run_dir": str(run_dir.path),
                "trials": outcome.counts(),
                "interrupted": outcome.interrupted,
                "pareto": rows,
                "seconds": outcome.seconds,
                "report": str(report) if report else None,
                "keep_weights": outcome.options.keep_weights,
                "weights": [str(run_dir.weights_file(n)) for n in run_dir.kept_weights()],
            }
        )
    else:
        counts = outcome.counts()
        shown = (state for state, n in counts.items() if n or state not in ("INTERRUPTED", "RETRIED"))
        text = ", ".join(f"{counts[state]} {state.lower()}" for state in shown)
        print(f"{sum(counts.values())} trials ({text}) in {outcome.seconds:.0f} s")
        if rows:
            print("Pareto-optimal architectures (validation accuracy vs cost):")
            _print_front(rows, "activations" in space.objectives)
        print(f"run directory: {run_dir.path}")
        kept = run_dir.kept_weights()
        if kept:
            which = "the Pareto front" if outcome.options.keep_weights == "front" else "every trained trial"
            print(
                f"weights kept ({which}): {len(kept)} in {run_dir.weights_dir}; "
                f"export with: nas-resnext export {run_dir.path} --front -o DIR"
            )
        if report:
            print(f"report: {report}")
    if outcome.interrupted:
        print(
            f"nas-resnext search: interrupted; continue with: nas-resnext search --resume {run_dir.path}",
            file=sys.stderr,
        )
        return 130
    return 0


def _resume_tradeoff(run: RunDirectory, args: argparse.Namespace) -> int:
    """``search --resume`` on a trade-off study continues it as ``tradeoff --resume`` does."""
    from nas_resnext.cli.tradeoff import resume_and_print

    if args.trials is not None:
        raise ConfigError(
            "--trials",
            args.trials,
            "nothing for a trade-off study (its trials follow its plan; add seeds with "
            f"nas-resnext tradeoff --resume {args.resume} --seeds N)",
        )
    return resume_and_print(run, None, execution_flags(args), as_json=args.json, quiet=args.quiet)


def _print_front(rows: list[dict[str, Any]], activations: bool) -> None:
    """The front as a table; activations get a column where they are an objective."""
    headers = ["trial", "name", "accuracy", "GFLOPs", "params", "latency ms"]
    if activations:
        headers.insert(5, "activations")
    table = []
    for r in rows:
        cells = [
            r["number"],
            r["name"],
            f"{r['val_accuracy']:.2%}",
            f"{r['flops'] / 1e9:.4f}",
            human_count(r["params"]),
            f"{r['latency_ms']:.2f}" if r["latency_ms"] else "-",
        ]
        if activations:
            cells.insert(5, human_count(r["activations"]) if r["activations"] is not None else "-")
        table.append(cells)
    print(format_table(headers, table))


def _pareto_row(trial: Any) -> dict[str, Any]:
    attrs = trial.user_attrs
    axes = Architecture.from_dict(attrs["architecture"]).axis_values()
    return {
        "number": trial.number,
        "name": attrs.get("name"),
        "val_accuracy": trial.values[0],
        "flops": attrs.get("flops"),
        "params": attrs.get("params"),
        "activations": attrs.get("activations"),
        "latency_ms": attrs.get("latency_ms"),
        **axes,
    }
