"""``nas-resnext report``: one self-contained interactive HTML report of one or more run directories."""

from __future__ import annotations

import argparse
from pathlib import Path

from nas_resnext.cli.common import HelpFormatter

EXAMPLES = """\
examples:
  nas-resnext report runs/digits_demo-20261126-132524
  nas-resnext report runs/tpe-run runs/random-run -o reports/tpe-vs-random.html
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the interactive HTML report of search runs",
        description="Write one self-contained HTML report (Pareto fronts, C vs width at matched complexity, "
        "design-space EDFs, parameter importance, learning curves, all trials) of one or more run "
        "directories; several runs are overlaid. Opens offline; prints the file's path.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories to report")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE.html", help="output file (default reports/<run-name>.html)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def run(args: argparse.Namespace) -> int:
    from nas_resnext.errors import ConfigError
    from nas_resnext.report import write_report

    if args.output is not None and args.output.suffix.lower() not in (".html", ".htm"):
        raise ConfigError("--output", str(args.output), "a file name ending in .html")
    print(write_report(args.run_dirs, args.output))
    return 0
