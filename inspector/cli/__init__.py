"""Command-line interface: one sub-command per module in this package, same functions as the app.

Every command turns InspectorError (bad input) into a one-line message on stderr and exit status 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from inspector.errors import InspectorError

# sub-command → module in inspector.cli that defines `add_arguments(parser)` and `run(args) -> int`.
COMMANDS = {
    "diagnose": "diagnose",
    "episode": "episode",
    "train": "train",
    "evaluate": "evaluate",
    "evaluate-merge": "evaluate_merge",
    "demo": "demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inspector", description="Why does my detector's training misbehave?"
    )
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"inspector.cli.{module_name}")
        sub = subs.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except InspectorError as exc:
        print(f"inspector {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"inspector {args.command}: interrupted", file=sys.stderr)
        return 130
