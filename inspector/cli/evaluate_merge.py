"""`evaluate-merge`: combine `evaluate --shard i/n --out FILE` results into exactly the unsharded numbers;
grid files (`evaluate --k-shot 1,3,5 --seeds 0-9 --shard i/n --out FILE`) are merged cell by cell. Files whose
protocol fingerprints differ are refused, naming the difference, unless --allow-protocol-diff."""

from __future__ import annotations

import argparse

from inspector.serialize import dumps

HELP = "merge evaluate shard files (Parquet) into one summary, identical to an unsharded run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="Parquet files written by evaluate --out")
    parser.add_argument(
        "--out", default=None, metavar="FILE", help="also write the merged rows to this Parquet file"
    )
    parser.add_argument(
        "--allow-protocol-diff",
        action="store_true",
        help="merge files evaluated under different protocols (dataset, split, K, seeds, settings, TTA, "
        "version); the differences are then printed with every result",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=None,
        metavar="N",
        help="grid files: bootstrap resamples for the per-K intervals (default 1000; 0: none)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from inspector.batch import BatchResult, merge_results, read_result, summarize, write_result
    from inspector.cli.evaluate import print_summary, summary_json
    from inspector.errors import InspectorError
    from inspector.protocol.files import is_grid_file

    grids = [is_grid_file(f) for f in args.files]
    if any(grids):
        if not all(grids):
            mixed = ", ".join(f for f, g in zip(args.files, grids, strict=True) if not g)
            raise InspectorError(f"cannot merge grid files with single evaluations ({mixed})")
        return _merge_grids(args)
    results = [read_result(f) for f in args.files]
    differences = _check_fingerprints(results, args.files, args.allow_protocol_diff)
    merged = merge_results(results, args.files)
    if differences:
        merged = BatchResult({**merged.meta, "protocol_differences": differences}, merged.rows)
    out = summary_json(summarize(merged), merged.meta)
    if args.out:
        write_result(merged, args.out)
    if args.json:
        print(dumps(out))
    else:
        print_summary(out)
    return 0


def _check_fingerprints(results: list, names: list[str], allow: bool) -> list[str]:
    from inspector.protocol.fingerprint import check_comparable

    first = results[0].meta.get("fingerprint")
    out = []
    for name, r in zip(names[1:], results[1:], strict=False):
        theirs = r.meta.get("fingerprint")
        if first is None and theirs is None:
            continue  # files from before fingerprints: merge_results still checks their identity
        out += [f"{name}: {d}" for d in check_comparable(first, theirs, allow, (names[0], name))]
    return out


def _merge_grids(args: argparse.Namespace) -> int:
    from inspector.cli.evaluate_grid import emit_grid
    from inspector.protocol.files import merge_grids, read_grid
    from inspector.protocol.intervals import RESAMPLES
    from inspector.protocol.run import scored

    merged = merge_grids([read_grid(f) for f in args.files], args.files, args.allow_protocol_diff)
    resamples = RESAMPLES if args.resamples is None else max(args.resamples, 0)
    return emit_grid(merged, scored(merged), resamples, args, [])
