"""`demo`: build the bundled demo (validation data, clips and two real training runs)."""

from __future__ import annotations

import argparse

HELP = "build the bundled demo folder: a validation set, clips, and the troubled + fixed training runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo", metavar="DIR", help="where to build it (default demo/)")
    parser.add_argument("--seed", type=int, default=0, help="one seed for data, initial weights and episodes")
    parser.add_argument(
        "--run",
        action="append",
        choices=("troubled", "fixed"),
        default=None,
        help="build only this run (repeatable); default both",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from inspector.demo import RUNS, build_demo

    runs = tuple(args.run) if args.run else tuple(RUNS)
    summary = build_demo(args.out, args.seed, progress=not args.quiet, runs=runs)
    for name, info in summary.items():
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in info["best_metrics"].items())
        print(f"{name}: {info['seconds']:.0f} s, best {metrics}")
    return 0
