"""`compare`: did B beat A? Two `evaluate --out` results (grids or single evaluations) under one protocol,
per K: Δ of the headline metric with its 95% interval over seeds (or over episodes for one seed), "not
distinguishable" when it includes 0, and the seeds that would resolve it."""

from __future__ import annotations

import argparse
from typing import Any

from inspector.serialize import dumps

HELP = "compare two evaluate results (A, B) under one protocol: Δ per K with its CI, or 'not distinguishable'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from inspector.protocol.metrics import LABELS

    parser.add_argument("a", metavar="A", help="the baseline: a Parquet file written by evaluate --out")
    parser.add_argument("b", metavar="B", help="the candidate, evaluated the same way")
    parser.add_argument(
        "--metric",
        choices=tuple(LABELS),
        default=None,
        help="what to compare (default nap50 with a class split, else map50)",
    )
    parser.add_argument(
        "--allow-protocol-diff",
        action="store_true",
        help="compare results evaluated under different protocols; the differences are printed with "
        "every number",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=None,
        metavar="N",
        help="bootstrap resamples for one seed (default 1000)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from inspector.errors import InspectorError
    from inspector.protocol.files import read_any
    from inspector.protocol.fingerprint import check_comparable
    from inspector.protocol.intervals import RESAMPLES
    from inspector.protocol.run import scored
    from inspector.protocol.verdict import default_metric, verdicts

    a, b = read_any(args.a), read_any(args.b)
    differences = check_comparable(a.fingerprint or None, b.fingerprint or None, args.allow_protocol_diff)
    split = a.split or b.split
    metric = args.metric or default_metric(split)
    if metric in ("nap50", "nap", "bap50", "bap") and split is None:
        raise InspectorError(f"--metric {metric} needs a class split (evaluate --novel-classes / --split)")
    names = (a.cells[0].result.meta.get("class_names") or []) if a.cells else []
    resamples = RESAMPLES if args.resamples is None else max(args.resamples, 0)
    found = verdicts(scored(a), scored(b), metric, split, names, resamples)
    out: dict[str, Any] = {
        "a": args.a,
        "b": args.b,
        "metric": metric,
        "verdicts": [
            {
                "k_shot": v.k_shot,
                "delta": v.delta,
                "ci": [v.low, v.high],
                "seeds": v.seeds,
                "episodes": v.episodes,
                "method": v.method,
                "distinguishable": v.distinguishable,
                "seeds_needed": v.seeds_needed,
                "sentence": v.sentence(),
            }
            for v in found
        ],
        "fingerprint": a.fingerprint,
        "protocol_differences": differences,
    }
    if args.json:
        print(dumps(out))
        return 0
    marker = " [PROTOCOL DIFFERS]" if differences else ""
    print(f"A = {args.a}\nB = {args.b}")
    for v in out["verdicts"]:
        print(f"  {v['sentence']}{marker}")
    for d in differences:
        print(f"  PROTOCOL DIFFERS: {d}")
    return 0
