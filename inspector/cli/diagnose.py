"""`diagnose`: read a training log and print findings (Markdown, or one JSON object with --json)."""

from __future__ import annotations

import argparse

from inspector.cli import follow, runs
from inspector.cli.inputs import display_url, is_remote, local_file, mirrored
from inspector.cli.options import parse_logged, parse_weights
from inspector.errors import InspectorError
from inspector.serialize import dumps

HELP = "read a training log (plus its config files) and report findings backed by numbers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="the log (file or TensorBoard run directory) and optional args.yaml/hyp.yaml",
    )
    parser.add_argument("--format", default=None, help="reader to use instead of detection")
    parser.add_argument(
        "--weights", default=None, metavar="NAME=W,…", help="override loss weights, e.g. bbox=2.0,cls=0.5"
    )
    parser.add_argument(
        "--logged",
        default=None,
        metavar="NAME=raw|weighted,…",
        help="say whether a loss series is logged before (raw) or after (weighted) its weight, "
        "e.g. iou=weighted; wins over what inspector inferred (a note names any evidence "
        "it contradicts)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of Markdown")
    runs.add_arguments(parser)
    follow.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.runs:
        return runs.run(args)
    if args.executor is not None or args.shards is not None:
        raise InspectorError("--executor and --shards read a sweep's runs: give --runs")
    from inspector.diagnose import diagnose
    from inspector.report import heading, to_json_dict, to_markdown
    from inspector.runlog import read_logs

    weights = parse_weights(args.weights)
    logged = parse_logged(args.logged)
    # A remote log (file or run directory) is read through its mirror, its config files copied whole.
    log_path, companions = args.paths[0], [local_file(p) for p in args.paths[1:]]
    mirror = mirrored(log_path) if is_remote(log_path) else None
    shown = display_url(log_path) if mirror else log_path
    paths = [str(mirror.local) if mirror else log_path, *companions]
    if args.follow:
        args.weights_override, args.logged_override = weights, logged
        args.shown, args.mirror, args.paths = shown, mirror, paths
        return follow.run_follow(args)
    log = read_logs(paths, format=args.format)
    log.source = shown
    result = diagnose(log, weights_override=weights, logged_override=logged)
    if args.json:
        print(dumps(to_json_dict(result, source=log.source, format=log.format)))
    else:
        print(to_markdown(result, log.source, title=heading(log.source, log.format, log.framework)))
    return 0
