"""Argument helpers shared by the subcommands: architecture flags, list parsing, output formatting."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nas_resnext.architecture import TEMPLATES, Architecture
from nas_resnext.complexity import Complexity
from nas_resnext.errors import ConfigError
from nas_resnext.presets import PRESETS, get_preset


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
