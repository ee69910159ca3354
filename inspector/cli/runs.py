"""`diagnose DIR --runs`: every run under a sweep root, read in parallel, as a run table and group summaries
(Markdown), or one JSON object with a record per run (`--json`; fields in `inspector/sweep/report.py`).

Not a command of its own: `diagnose` declares these options (`add_arguments`) and hands over when `--runs`
is given, so one command reads one run or many.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inspector.cli.inputs import display_url, is_remote, local_dir
from inspector.errors import InspectorError
from inspector.executors import add_executor_arguments, check_executor_options, is_sharded
from inspector.serialize import dumps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep options of `diagnose`."""
    parser.add_argument(
        "--runs",
        action="store_true",
        help="PATH is a sweep root: read every run under it (log files and TensorBoard run directories) "
        "and report a run table and per-group summaries",
    )
    grouping = parser.add_mutually_exclusive_group()
    grouping.add_argument(
        "--group-by", default=None, metavar="KEY", help="with --runs: group runs by a config key (dotted)"
    )
    grouping.add_argument(
        "--pattern",
        default=None,
        metavar="REGEX",
        help="with --runs: group runs by the regex's first group (or match) in the run name, seed numbers "
        "as * (default: the whole name, so lr1e-3_seed2 is in lr1e-3_seed*)",
    )
    add_executor_arguments(parser, "the tasks reading a --runs sweep (task i of N reads every N-th run)")


def run(args: argparse.Namespace) -> int:
    from inspector.sweep import GroupBy, discover, group_runs, read_sweep
    from inspector.sweep.report import to_json_dict, to_markdown

    if len(args.paths) != 1:
        raise InspectorError(f"--runs takes one sweep directory, {len(args.paths)} paths were given")
    given = args.paths[0]
    check_executor_options(args)
    # A sweep prefix in object storage is mirrored whole (then only what grew), and named by its URL.
    root = Path(local_dir(given))
    if not root.is_dir():
        raise InspectorError("not a directory (--runs takes the folder holding the sweep's runs)", path=root)
    by = GroupBy("key", args.group_by) if args.group_by else GroupBy("pattern", args.pattern)
    discovery = discover(root)
    if is_sharded(args):
        from inspector.executors.sharded import read_runs
        from inspector.sweep.reading import sweep_of
        from inspector.sweep.summaries import CURVE_POINTS

        origin = (given, str(root)) if is_remote(given) else None  # tasks elsewhere mirror the URL themselves
        sweep = sweep_of(discovery, read_runs(args, discovery.runs, CURVE_POINTS, origin))
    else:
        sweep = read_sweep(discovery)
    groups = group_runs(sweep.rows, by)
    if args.json:
        out = to_json_dict(sweep, groups, by)
        if is_remote(given):
            out["root"] = display_url(given)
        print(dumps(out))
    else:
        sys.stdout.write(to_markdown(sweep, groups, by))
    return 0
