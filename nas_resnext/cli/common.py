"""Argument helpers shared by the subcommands: architecture flags, list parsing, output formatting."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas_resnext.architecture import TEMPLATES, Architecture
from nas_resnext.complexity import Complexity
from nas_resnext.errors import ConfigError
from nas_resnext.presets import PRESETS, get_preset
from nas_resnext.rundir import KEEP_WEIGHTS
from nas_resnext.settings import TrainSettings, layered_settings

if TYPE_CHECKING:
    from nas_resnext.rundir import RunOptions


def flag_name(name: str) -> str:
    """The command-line flag of a field: ``bottleneck_width -> --bottleneck-width``."""
    return "--" + name.replace("_", "-")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples in epilogs as written; shows a default only where there is one to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def int_list(flag: str, text: str, separator: str = ",") -> list[int]:
    """Parse ``"1,2,4"`` for ``flag``; a bad item is a ConfigError naming the flag."""
    items = [item.strip() for item in text.split(separator)]
    try:
        values = [int(item) for item in items]
    except ValueError:
        raise ConfigError(
            flag, text, f"integers separated by '{separator}', e.g. 1{separator}2{separator}4"
        ) from None
    if not values or any(v < 1 for v in values):
        raise ConfigError(flag, text, "integers >= 1")
    return values


def add_architecture_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that describe one architecture (or pick a preset and override some of its fields)."""
    group = parser.add_argument_group("architecture (a --preset, or --template and the four axes)")
    group.add_argument("--preset", metavar="NAME", help="a named architecture: " + ", ".join(PRESETS))
    group.add_argument("--template", choices=list(TEMPLATES), help="network template (default: imagenet)")
    group.add_argument("--depths", metavar="D1,D2,..", help="blocks per stage, e.g. 3,4,6,3 or 3,3,3")
    group.add_argument("--width", type=int, metavar="W", help="stage-1 planes; block outputs 4W (default 64)")
    group.add_argument(
        "--cardinality", "-C", type=int, metavar="C", help="groups of the 3x3 conv (default 1)"
    )
    group.add_argument(
        "--bottleneck-width", "-d", type=int, metavar="D", help="channels per group in stage 1 (default 64)"
    )
    group.add_argument("--stem-width", type=int, metavar="S", help="stem channels (default 64)")
    group.add_argument(
        "--resolution", type=int, metavar="PX", help="input size (default 224 imagenet, 32 cifar)"
    )
    group.add_argument(
        "--num-classes", type=int, metavar="K", help="classes (default 1000 imagenet, 10 cifar)"
    )
    group.add_argument("--in-channels", type=int, metavar="N", help="input channels (default 3)")


ARCHITECTURE_FIELDS = (
    "template",
    "depths",
    "width",
    "cardinality",
    "bottleneck_width",
    "stem_width",
    "resolution",
    "num_classes",
    "in_channels",
)


def architecture_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The architecture fields set by flags (``--depths`` parsed); unset flags are left out."""
    fields = {
        name: getattr(args, name) for name in ARCHITECTURE_FIELDS if getattr(args, name, None) is not None
    }
    if "depths" in fields:
        fields["depths"] = tuple(int_list("--depths", fields["depths"]))
    return fields


def architecture_flag_error(error: ConfigError) -> ConfigError:
    """An architecture error (``cardinality: got 0``) restated for its flag (``--cardinality: got 0``)."""
    if error.source:
        return error
    base = error.field.split("[")[0]
    flag = flag_name(base) if base in ("preset", *ARCHITECTURE_FIELDS) else base
    return ConfigError(flag, error.value, error.allowed)


def architecture_from_args(
    args: argparse.Namespace, defaults: Mapping[str, Any] | None = None
) -> Architecture:
    """The architecture the flags describe, ``defaults`` filling fields the flags leave unset; errors name the
    flag, e.g. ``--cardinality: got 0; ...``."""
    fields = {**(defaults or {}), **architecture_flags(args)}
    try:
        if args.preset:
            return get_preset(args.preset).architecture(**fields)
        template = fields.setdefault("template", "imagenet")
        if template in TEMPLATES and "depths" not in fields:
            fields["depths"] = (3, 4, 6, 3) if template == "imagenet" else (3, 3, 3)
        return Architecture(**fields)
    except ConfigError as error:
        raise architecture_flag_error(error) from None


def architecture_summary(arch: Architecture, complexity: Complexity) -> dict[str, Any]:
    """The JSON object describing an architecture and its complexity."""
    return {
        "name": arch.name,
        **arch.to_dict(),
        **arch.axis_values(),  # the axes again, in place, and the group width C*d after the fields
        "layers": arch.layers,
        "params": complexity.params,
        "flops": complexity.flops,
        "activations": complexity.activations,
    }


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain aligned text table; numbers right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(_is_number(r[i]) for r in rows) if rows else False for i in range(len(headers))]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    text = str(value).replace(",", "").replace("%", "").rstrip("MGk").lstrip("+-")
    return text.replace(".", "", 1).isdigit()


# -- training settings ---------------------------------------------------------------------------------

# Flags whose name is not simply the field's (``flag_name``).
_FIELD_FLAGS = {"nesterov": "--no-nesterov"}
_TRAINING_FIELDS = (
    "epochs",
    "batch_size",
    "lr",
    "momentum",
    "nesterov",
    "weight_decay",
    "schedule",
    "warmup_epochs",
    "step_gamma",
    "label_smoothing",
    "val_fraction",
    "seed",
    "device",
    "compile",
    "autotune",
    "init",
)


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _default_text(name: str, per_dataset: bool) -> str:
    """``(default X)`` with the trainer's own default, so help can never disagree with ``TrainSettings``;
    ``per_dataset`` adds the data sets that recommend another value: ``(default 10; digits: 8)``."""
    value = getattr(TrainSettings(), name)
    text = _shown(value)
    if per_dataset:
        from nas_resnext.data.catalog import DATASETS

        recommended: dict[str, list[str]] = {}  # shown value -> the data sets recommending it
        for info in DATASETS.values():
            if name in info.recommended_training and info.recommended_training[name] != value:
                recommended.setdefault(_shown(info.recommended_training[name]), []).append(info.name)
        text += "".join(f"; {', '.join(names)}: {shown}" for shown, names in recommended.items())
    return f"(default {text})"


def _per_dataset_note() -> str:
    """How the defaults follow the data set, for the training group's help (kept to lines of ~100)."""
    from nas_resnext.data.catalog import DATASETS

    defaults = TrainSettings()
    same = [
        info.name
        for info in DATASETS.values()
        if info.recommended_training
        and all(getattr(defaults, k) == v for k, v in info.recommended_training.items())
    ]
    note = (
        "Unset flags take the --dataset's recommended value where it has one (shown after the default,\n"
        "e.g. 'digits: 8'), else the trainer's default."
    )
    return note + (f" {' and '.join(same)} recommend the defaults shown." if same else "")


def add_training_arguments(
    parser: argparse.ArgumentParser,
    title: str = "training (defaults: the trainer's)",
    per_dataset: bool = False,
) -> argparse._ArgumentGroup:
    """The trainer's settings as flags; unset flags keep the defaults (or a space file's values).
    ``per_dataset``: the defaults follow ``--dataset`` (``dataset_training_settings``), and help says so."""
    from nas_resnext.settings import AUTOTUNE, DEVICES, SCHEDULES

    def _default(name: str) -> str:
        return _default_text(name, per_dataset)

    training = parser.add_argument_group(title, _per_dataset_note() if per_dataset else None)
    training.add_argument("--epochs", type=int, metavar="N", help=f"epochs {_default('epochs')}")
    training.add_argument(
        "--batch-size", type=int, metavar="B", help=f"mini-batch size {_default('batch_size')}"
    )
    training.add_argument("--lr", type=float, metavar="LR", help=f"peak learning rate {_default('lr')}")
    training.add_argument("--momentum", type=float, metavar="M", help=f"SGD momentum {_default('momentum')}")
    training.add_argument(
        "--no-nesterov", dest="nesterov", action="store_const", const=False, help="plain momentum"
    )
    training.add_argument(
        "--weight-decay", type=float, metavar="WD", help=f"L2 weight decay {_default('weight_decay')}"
    )
    training.add_argument(
        "--schedule", choices=SCHEDULES, help=f"learning-rate schedule {_default('schedule')}"
    )
    training.add_argument(
        "--warmup-epochs", type=int, metavar="N", help=f"linear warm-up epochs {_default('warmup_epochs')}"
    )
    training.add_argument(
        "--step-milestones", metavar="E1,E2,..", help="epochs after which 'step' decays the rate"
    )
    training.add_argument(
        "--step-gamma", type=float, metavar="G", help=f"'step' decay factor {_default('step_gamma')}"
    )
    training.add_argument(
        "--label-smoothing", type=float, metavar="S", help=f"label smoothing {_default('label_smoothing')}"
    )
    training.add_argument(
        "--val-fraction",
        type=float,
        metavar="F",
        help=f"share of each class held out {_default('val_fraction')}",
    )
    training.add_argument(
        "--seed", type=int, metavar="S", help=f"seed of weights, split, batches {_default('seed')}"
    )
    training.add_argument("--device", choices=DEVICES, help=f"training device {_default('device')}")
    training.add_argument("--compile", action="store_const", const=True, help="torch.compile the model")
    training.add_argument(
        "--autotune",
        choices=AUTOTUNE,
        help=f"cuDNN autotuning when training on CUDA {_default('autotune')}",
    )
    training.add_argument(
        "--init",
        metavar="PATH",
        help="start from the weights in this state-dict file (torchvision/timm layouts load as they are); "
        "a classifier of another shape is re-initialised",
    )
    return training


def training_flags_given(args: argparse.Namespace) -> list[str]:
    """The training flags set on the command line."""
    names = [n for n in _TRAINING_FIELDS if getattr(args, n, None) is not None]
    if getattr(args, "step_milestones", None) is not None:
        names.append("step_milestones")
    return names


def _training_flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The values of the training flags set on the command line, parsed (unset flags are left out)."""
    values: dict[str, Any] = {
        n: getattr(args, n) for n in _TRAINING_FIELDS if getattr(args, n, None) is not None
    }
    if getattr(args, "step_milestones", None) is not None:
        values["step_milestones"] = tuple(int_list("--step-milestones", args.step_milestones))
    if "init" in values:
        values["init"] = init_path(values["init"])
    return values


def training_settings(args: argparse.Namespace, base: TrainSettings | None = None) -> TrainSettings:
    """``base`` with the training flags applied; without a base, the flags over the recommendations of the
    data set ``args.dataset`` names (digits when none) over the trainer's defaults. Errors name the flag."""
    if base is None:
        return dataset_training_settings(args)[0]
    try:
        return base.replace(**_training_flag_values(args))
    except ConfigError as error:
        raise flag_error(error) from None


def dataset_training_settings(args: argparse.Namespace) -> tuple[TrainSettings, dict[str, str]]:
    """The training settings of a command without a space file: flags > the recommendations of the data set
    ``args.dataset`` names (digits when none) > ``TrainSettings()``; and where each field came from,
    ``"flag"``, ``"dataset"`` or ``"default"``. Errors name the flag."""
    from nas_resnext.data.catalog import DEFAULT_DATASET, get_dataset

    recommended = get_dataset(getattr(args, "dataset", None) or DEFAULT_DATASET).recommended_training
    flags = _training_flag_values(args)
    try:
        return layered_settings([("flag", flags), ("dataset", recommended)])
    except ConfigError as error:
        raise flag_error(error) from None


def init_path(text: str) -> str:
    """The absolute path of ``--init``'s file (runs store it, and may run elsewhere); it must exist."""
    path = Path(text).expanduser()
    if not text.strip() or not path.is_file():
        raise ConfigError(
            "--init",
            text,
            "an existing state-dict file (.pt, .pth, .bin, .safetensors), e.g. from "
            "torch.save(model.state_dict(), PATH)",
        )
    return str(path.resolve())


def flag_error(error: ConfigError) -> ConfigError:
    """A library error naming a field (``lr: got ...``) restated for its flag (``--lr: got ...``)."""
    flag = _FIELD_FLAGS.get(error.field, flag_name(error.field))
    return ConfigError(flag, error.value, error.allowed, note=error.note)


# -- data sets -----------------------------------------------------------------------------------------


def dataset_architecture(
    args: argparse.Namespace, dataset: str, data_fields: Mapping[str, int | None]
) -> Architecture:
    """The flags' architecture for data set ``dataset``: the data set's channels, classes and resolution
    (``data_fields``; None leaves a field open) where the flags leave them, and the cifar template unless
    a preset or ``--template`` says otherwise. A flag that contradicts the data set is a ConfigError."""
    from nas_resnext.data.check import check_architecture_fits

    defaults: dict[str, Any] = {name: value for name, value in data_fields.items() if value is not None}
    if not args.preset:
        defaults["template"] = "cifar"  # a --template flag still wins over this default
    arch = architecture_from_args(args, defaults)
    try:
        check_architecture_fits(dataset, arch)
    except ConfigError as error:
        raise flag_error(error) from None
    return arch


def template_resolution(args: argparse.Namespace) -> int:
    """The input size the preset or template uses by default."""
    if args.preset:
        return PRESETS[args.preset].architecture().resolution
    return TEMPLATES[args.template or "cifar"].default_resolution


# -- execution (Ray Tune) ------------------------------------------------------------------------------


def add_execution_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Where and how trials run: local Ray by default, or a cluster."""
    execution = parser.add_argument_group("execution (Ray Tune)")
    execution.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (default: local Ray)")
    execution.add_argument(
        "--storage-path", metavar="PATH", help="Ray experiment storage shared by all nodes"
    )
    execution.add_argument("--cpus-per-trial", type=float, default=None, metavar="N", help="default 1")
    execution.add_argument(
        "--gpus-per-trial", type=float, default=None, metavar="F", help="default 0; 0.5 shares"
    )
    execution.add_argument("--max-concurrent", type=int, default=None, metavar="N", help="trials at once")
    execution.add_argument(
        "--retries",
        type=int,
        default=None,
        metavar="N",
        help="train a candidate again up to N times after a transient failure (a lost worker or node, out "
        "of memory, an OS or connection error) before recording it FAIL (default 2)",
    )
    execution.add_argument(
        "--autoscaling",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the cluster adds nodes on demand: do not refuse per-trial CPUs or GPUs that no node has yet",
    )
    execution.add_argument(
        "--keep-weights",
        choices=KEEP_WEIGHTS,
        default=None,
        help="whose trained weights stay in RUN/weights for export: the final Pareto front's (default), "
        "every trained trial's (a trial stopped early: its last epoch's), or none",
    )
    return execution


def add_storage_argument(group: argparse._ArgumentGroup) -> None:
    """``--storage URL``: the study in a database instead of ``RUN/study.db`` (when a run starts)."""
    group.add_argument(
        "--storage",
        metavar="URL",
        help="keep the Optuna study in this database instead of RUN/study.db, e.g. "
        "postgresql://USER@HOST:5432/DB (psycopg or psycopg2: pip install 'nas-resnext[postgres]'), "
        "mysql+pymysql://USER@HOST:3306/DB (MySQL or MariaDB: pip install 'nas-resnext[mysql]') or "
        "sqlite:////ABS/PATH.db; many runs may share one (each its own study, named in run.json). Only when "
        "a run starts: --resume, report and export use the run's. run.json keeps the URL without its "
        "password: give that in PGPASSWORD or ~/.pgpass (MySQL: MYSQL_PWD or ~/.my.cnf; a password in the "
        "URL is used by this start only, never stored, and must come from the environment on --resume)",
    )


def storage_options(url: str, path: Path, space_name: str) -> dict[str, Any]:
    """The run options of ``--storage URL`` for a new run at ``path``: the URL to record (without its
    password) and the run's own study name. Connects to the database once: one that cannot be opened, or
    that holds a study of that name, is a ConfigError for ``--storage``."""
    from nas_resnext.rundir import RunDirectory
    from nas_resnext.search.study import check_storage

    study_name = RunDirectory.new_study_name(space_name, path)
    return {"study_storage": check_storage(url, study_name), "study_name": study_name}


def storage_on_resume(url: str) -> ConfigError:
    """The error for ``--storage`` with ``--resume``: a run's study stays where the run started."""
    from nas_resnext.search.study import public_url

    return ConfigError(
        "--storage",
        public_url(url),
        "nothing with --resume (the run's study stays in the database it started in, which run.json names; "
        "a password comes from the environment, e.g. PGPASSWORD)",
    )


EXECUTION_FIELDS = (
    "ray_address",
    "storage_path",
    "cpus_per_trial",
    "gpus_per_trial",
    "max_concurrent",
    "retries",
    "autoscaling",
    "keep_weights",
)


def check_execution(args: argparse.Namespace) -> None:
    """Reject impossible resources before anything starts (what the cluster holds is checked once it is
    connected: ``search.environment.check_cluster``)."""
    for name in ("cpus_per_trial", "gpus_per_trial"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise ConfigError(flag_name(name), value, "a number >= 0")
    if args.cpus_per_trial is not None and args.cpus_per_trial == 0 and not args.gpus_per_trial:
        raise ConfigError("--cpus-per-trial", 0, "a number > 0 (or give --gpus-per-trial)")
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise ConfigError("--max-concurrent", args.max_concurrent, "an integer >= 1")
    if args.retries is not None and args.retries < 0:
        raise ConfigError("--retries", args.retries, "an integer >= 0")


def execution_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The execution flags given on the command line, as run-option fields."""
    return {name: getattr(args, name) for name in EXECUTION_FIELDS if getattr(args, name) is not None}


def options_for_this_start(options: RunOptions, execution: Mapping[str, Any]) -> RunOptions:
    """A copy of a run's options with ``execution`` applied and this machine's versions and hardware (what
    every start or resume records)."""
    from nas_resnext.rundir import hardware_description, package_versions

    return dataclasses.replace(
        options, **execution, versions=package_versions(), hardware=hardware_description()
    )


def write_run_report(run_dir: Path, command: str) -> Path | None:
    """The HTML report of a finished run; a failure to write it is reported but never fails the run."""
    from nas_resnext.report import write_report

    try:
        return write_report([run_dir])
    except Exception as error:
        print(f"nas-resnext {command}: the report could not be written: {error}", file=sys.stderr)
        return None
