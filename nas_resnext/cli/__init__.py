"""``nas-resnext``: a thin command line over the library. Each subcommand is a module with
``register(subparsers)`` and ``run(args) -> exit code``.

Exit codes: 0 done; 2 bad input (one line naming the flag/file/field, the bad value and what is allowed;
traceback only with ``--debug``); 1 a failure at run time.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

from nas_resnext.errors import ConfigError


def _commands() -> dict[str, ModuleType]:
    from nas_resnext.cli import count, export, report, retrain, search, space, tradeoff, train

    return {
        "count": count,
        "tradeoff": tradeoff,
        "space": space,
        "train": train,
        "search": search,
        "report": report,
        "export": export,
        "retrain": retrain,
    }


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's usage errors are bad input too: one line, exit 2.
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="nas-resnext",
        description="Design-space exploration for ResNeXt: count complexity, plan and train iso-complexity "
        "families, validate design spaces, train candidates, search under budgets, write reports.",
        epilog="Run 'nas-resnext COMMAND --help' for a command's flags and examples.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)
    for module in _commands().values():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed in one line
        return int(exit_.code or 0)
    if not args.command:
        parser.print_help()
        return 2
    debug = args.debug or "--debug" in argv
    try:
        return int(_commands()[args.command].run(args))
    except ConfigError as error:
        if debug:
            traceback.print_exc()
        print(f"nas-resnext {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas-resnext {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a failure at run time: one line unless --debug
        if debug:
            traceback.print_exc()
        print(f"nas-resnext {args.command}: failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
