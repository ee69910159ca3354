"""Command-line interface: one sub-command per module in this package, same functions as the app.

Every command turns InspectorError (bad input) into a one-line message on stderr and exit status 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from inspector.errors import InspectorError
from inspector.registry import Registry


@runtime_checkable
class Command(Protocol):
    """What a command module in inspector.cli defines."""

    HELP: str  # one line for `--help`

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declares the command's arguments on its sub-parser."""
        ...

    def run(self, args: argparse.Namespace) -> int:
        """Runs the command; the exit status."""
        ...


COMMANDS: Registry[Command] = Registry("command", lambda command: command.HELP)
for _name, _module in (
    ("diagnose", "diagnose"),
    ("episode", "episode"),
    ("train", "train"),
    ("evaluate", "evaluate"),
    ("evaluate-merge", "evaluate_merge"),
    ("compare", "compare"),
    ("balance", "balance"),
    ("errors", "errors"),
    ("coverage", "coverage"),
    ("demo", "demo"),
):
    COMMANDS.declare(_name, f"inspector.cli.{_module}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inspector", description="Why does my detector's training misbehave?"
    )
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS:
        sub = subs.add_parser(name, help=command.HELP, description=command.HELP)
        command.add_arguments(sub)
        sub.set_defaults(_module=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from inspector.cli.inputs import resolve_remote_options

        resolve_remote_options(args)
        return int(args._module.run(args) or 0)
    except InspectorError as exc:
        print(f"inspector {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"inspector {args.command}: interrupted", file=sys.stderr)
        return 130
