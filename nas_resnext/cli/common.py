"""Argument helpers shared by the subcommands: architecture flags, list parsing, output formatting."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nas_resnext.architecture import TEMPLATES, Architecture
from nas_resnext.complexity import Complexity
from nas_resnext.errors import ConfigError
from nas_resnext.presets import PRESETS, get_preset
from nas_resnext.settings import TrainSettings


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


_FLAG_OF_FIELD = {
    "template": "--template",
    "depths": "--depths",
    "width": "--width",
    "cardinality": "--cardinality",
    "bottleneck_width": "--bottleneck-width",
    "stem_width": "--stem-width",
    "resolution": "--resolution",
    "num_classes": "--num-classes",
    "in_channels": "--in-channels",
}


def architecture_from_args(args: argparse.Namespace) -> Architecture:
    """The architecture the flags describe; errors name the flag, e.g. ``--cardinality: got 0; ...``."""
    fields: dict[str, Any] = {}
    for name in _FLAG_OF_FIELD:
        value = getattr(args, name, None)
        if value is not None:
            fields[name] = value
    if "depths" in fields:
        fields["depths"] = tuple(int_list("--depths", fields["depths"]))
    try:
        if args.preset:
            return get_preset(args.preset).architecture(**fields)
        template = fields.setdefault("template", "imagenet")
        if template in TEMPLATES and "depths" not in fields:
            fields["depths"] = (3, 4, 6, 3) if template == "imagenet" else (3, 3, 3)
        return Architecture(**fields)
    except ConfigError as error:
        if error.source:
            raise
        base = error.field.split("[")[0]
        flag = "--preset" if error.field == "preset" else _FLAG_OF_FIELD.get(base, base)
        raise ConfigError(flag, error.value, error.allowed) from None


def architecture_summary(arch: Architecture, complexity: Complexity) -> dict[str, Any]:
    """The JSON object describing an architecture and its complexity."""
    return {
        "name": arch.name,
        **arch.to_dict(),
        "group_width": arch.group_width,
        "layers": arch.layers,
        "params": complexity.params,
        "flops": complexity.flops,
    }


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def human_count(value: float) -> str:
    """``25028904 -> '25.03M'``, ``4259381248 -> '4.26G'``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.0f}"


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

_FIELD_FLAGS = {"data_dir": "--data-dir", "dataset": "--dataset", "nesterov": "--no-nesterov"}
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
)


def add_training_arguments(
    parser: argparse.ArgumentParser, title: str = "training (defaults: the trainer's)"
) -> argparse._ArgumentGroup:
    """The trainer's settings as flags; unset flags keep the defaults (or a space file's values)."""
    from nas_resnext.settings import DEVICES, SCHEDULES

    training = parser.add_argument_group(title)
    training.add_argument("--epochs", type=int, metavar="N", help="epochs (default 10)")
    training.add_argument("--batch-size", type=int, metavar="B", help="mini-batch size (default 128)")
    training.add_argument("--lr", type=float, metavar="LR", help="peak learning rate (default 0.1)")
    training.add_argument("--momentum", type=float, metavar="M", help="SGD momentum (default 0.9)")
    training.add_argument(
        "--no-nesterov", dest="nesterov", action="store_const", const=False, help="plain momentum"
    )
    training.add_argument("--weight-decay", type=float, metavar="WD", help="L2 weight decay (default 5e-4)")
    training.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (default cosine)")
    training.add_argument("--warmup-epochs", type=int, metavar="N", help="linear warm-up epochs (default 0)")
    training.add_argument(
        "--step-milestones", metavar="E1,E2,..", help="epochs after which 'step' decays the rate"
    )
    training.add_argument("--step-gamma", type=float, metavar="G", help="'step' decay factor (default 0.1)")
    training.add_argument("--label-smoothing", type=float, metavar="S", help="label smoothing (default 0)")
    training.add_argument(
        "--val-fraction", type=float, metavar="F", help="share of each class held out (default 0.1)"
    )
    training.add_argument("--seed", type=int, metavar="S", help="seed of weights, split, batches (default 0)")
    training.add_argument("--device", choices=DEVICES, help="training device (default auto)")
    training.add_argument("--compile", action="store_const", const=True, help="torch.compile the model")
    return training


def training_flags_given(args: argparse.Namespace) -> list[str]:
    """The training flags set on the command line."""
    names = [n for n in _TRAINING_FIELDS if getattr(args, n, None) is not None]
    if getattr(args, "step_milestones", None) is not None:
        names.append("step_milestones")
    return names


def training_settings(args: argparse.Namespace, base: TrainSettings | None = None) -> TrainSettings:
    """``base`` (default: the trainer's defaults) with the training flags applied; errors name the flag."""
    changes: dict[str, Any] = {name: getattr(args, name, None) for name in _TRAINING_FIELDS}
    if getattr(args, "step_milestones", None) is not None:
        changes["step_milestones"] = tuple(int_list("--step-milestones", args.step_milestones))
    try:
        return (base or TrainSettings()).replace(**changes)
    except ConfigError as error:
        raise flag_error(error) from None


def flag_error(error: ConfigError) -> ConfigError:
    """A settings error (``lr: got ...``) restated for the flag that set it (``--lr: got ...``)."""
    flag = _FIELD_FLAGS.get(error.field, "--" + error.field.replace("_", "-"))
    return ConfigError(flag, error.value, error.allowed)


def dataset_architecture(args: argparse.Namespace, data_fields: dict[str, int | None]) -> Architecture:
    """The flags' architecture, with the data set's channels/classes/resolution where the flags leave them
    (the template defaults to cifar); a flag that contradicts the data set is a ConfigError."""
    if not args.preset and args.template is None:
        args.template = "cifar"
    for name, value in data_fields.items():
        given = getattr(args, name)
        if value is None:
            continue
        if given is None:
            setattr(args, name, value)
        elif given != value and name != "resolution":
            flag = "--" + name.replace("_", "-")
            raise ConfigError(flag, given, f"{value} (what the {args.dataset} data set holds)")
    return architecture_from_args(args)


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
    return execution


EXECUTION_FIELDS = ("ray_address", "storage_path", "cpus_per_trial", "gpus_per_trial", "max_concurrent")


def check_execution(args: argparse.Namespace) -> None:
    """Reject impossible resources before anything starts."""
    for name in ("cpus_per_trial", "gpus_per_trial"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise ConfigError(_flag(name), value, "a number >= 0")
    if args.cpus_per_trial is not None and args.cpus_per_trial == 0 and not args.gpus_per_trial:
        raise ConfigError("--cpus-per-trial", 0, "a number > 0 (or give --gpus-per-trial)")
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise ConfigError("--max-concurrent", args.max_concurrent, "an integer >= 1")


def apply_execution(args: argparse.Namespace, options: Any) -> None:
    """Copy the execution flags given on the command line onto a run's options."""
    for name in EXECUTION_FIELDS:
        if getattr(args, name) is not None:
            setattr(options, name, getattr(args, name))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def write_run_report(run_dir: Path, command: str) -> Path | None:
    """The HTML report of a finished run; a failure to write it is reported but never fails the run."""
    from nas_resnext.report import write_report

    try:
        return write_report([run_dir])
    except Exception as error:
        print(f"nas-resnext {command}: the report could not be written: {error}", file=sys.stderr)
        return None
