"""`evaluate-merge`: combine `evaluate --shard i/n --out FILE` results into exactly the unsharded numbers."""

from __future__ import annotations

import argparse

from inspector.serialize import dumps

HELP = "merge evaluate shard files (Parquet) into one summary, identical to an unsharded run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="Parquet files written by evaluate --out")
    parser.add_argument(
        "--out", default=None, metavar="FILE", help="also write the merged rows to this Parquet file"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from inspector.batch import merge_results, read_result, summarize, write_result
    from inspector.cli.evaluate import print_summary, summary_json

    results = [read_result(f) for f in args.files]
    merged = merge_results(results, args.files)
    out = summary_json(summarize(merged), merged.meta)
    if args.out:
        write_result(merged, args.out)
    if args.json:
        print(dumps(out))
    else:
        print_summary(out)
    return 0
