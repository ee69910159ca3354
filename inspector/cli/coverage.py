"""`coverage`: which targets the assigner gives positive anchors over N episodes, by class and by COCO size,
and which are starved (fewer than --min-positives) — one table per checkpoint, in the order given, so a run's
checkpoints over time show whether coverage improves. The episodes are those `evaluate` draws."""

from __future__ import annotations

import argparse
import math
from typing import Any

from inspector.cli.episode import add_shape_arguments
from inspector.cli.options import add_model_arguments, eval_settings
from inspector.serialize import dumps

HELP = (
    "which targets get positive anchors from the assigner over N episodes, by class and size, per checkpoint"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        action="append",
        metavar="CKPT",
        help="a checkpoint file; repeat for several (e.g. a run's epoch_4.pt, epoch_8.pt, best.pt), in order",
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="PATH",
        help="COCO / YOLO dataset (or video samples: one episode per clip, its frames' targets)",
    )
    parser.add_argument("--episodes", type=int, default=100, help="image episodes to sample (default 100)")
    add_shape_arguments(parser)
    add_model_arguments(parser, "the assignment (QueryResult.assigned)")
    parser.add_argument(
        "--min-positives",
        type=int,
        default=None,
        metavar="K",
        help="a target with fewer positives is starved (default inspector.coverage.MIN_POSITIVES = 3: "
        "a convention — TAL gives a target at most top-k = 10 positives)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _assigner_topk(detector: Any) -> int | None:
    """The reference model's TAL top-k (ModelConfig.topk), or None for a detector that does not say."""
    topk = getattr(getattr(getattr(detector, "model", None), "config", None), "topk", None)
    return topk if isinstance(topk, int) and not isinstance(topk, bool) else None


def checkpoint_coverage(
    checkpoint: str, args: argparse.Namespace, data: Any, min_positives: int
) -> dict[str, Any]:
    """The JSON entry of one checkpoint: {checkpoint, episodes, targets, starved, …} over the episodes
    `evaluate` draws for the same data, seed and shape (batch.EpisodePlan)."""
    from inspector.adapters import load_detector
    from inspector.batch import EpisodePlan
    from inspector.coverage import coverage_dict, measure_coverage, summarize_coverage
    from inspector.errors import InspectorError

    detector = load_detector(checkpoint, args.adapter)
    settings = eval_settings(args, checkpoint)
    plan = EpisodePlan(data, None, settings)
    run = measure_coverage(detector, plan)
    queries, unassigned = run.queries, run.queries_without_assignment
    if queries and unassigned == queries:
        raise InspectorError(
            f"adapter {args.adapter!r} returns no assignment (QueryResult.assigned) for any query, so there "
            "is no coverage to measure",
            path=checkpoint,
        )
    return {
        "checkpoint": str(checkpoint),
        "episodes": plan.total,
        **coverage_dict(summarize_coverage(run.targets, min_positives)),
        "adapter": args.adapter,
        "seed": settings.seed,
        "n_way": settings.n_way,
        "k_shot": settings.k_shot,
        "n_query": settings.n_query,
        "queries": queries,
        "queries_without_assignment": unassigned,
        "assigner_topk": _assigner_topk(detector),
    }


def _pct(v: float | None) -> str:
    return "n/a" if v is None or math.isnan(v) else f"{100 * v:.1f}%"


def _num(v: float | None) -> str:
    return "n/a" if v is None or math.isnan(v) else f"{v:.2f}"


def _strides(by_stride: dict[str, int]) -> str:
    return " ".join(f"{s}:{n}" for s, n in by_stride.items()) or "-"


def table_lines(entry: dict[str, Any]) -> list[str]:
    """One checkpoint's coverage as text: a headline, then a row for all targets, each size bucket and each
    class."""
    t, s = entry["targets"], entry["starved"]
    topk = entry.get("assigner_topk")
    shape = f"{entry['n_way']}-way {entry['k_shot']}-shot, {entry['n_query']} queries"
    lines = [
        f"{entry['checkpoint']} ({entry['episodes']} episodes, {shape}"
        f"{'' if topk is None else f'; assigner top-k {topk}'})",
        f"  {t['count']} targets, {_num(t['mean_positives'])} positives each, {t['without_positive']} with "
        f"none; starved (< {s['min_positives']} positives) {s['count']} ({_pct(s['fraction'])})",
        f"  {'':<12} {'targets':>7} {'mean pos':>8} {'none':>5} {'starved':>7} {'share':>6}"
        "  positives by stride",
    ]
    groups = [("all", t, s)]
    groups += [(b, t["by_size"][b], s["by_size"][b]) for b in t["by_size"]]
    groups += [(c, t["by_class"][c], s["by_class"][c]) for c in t["by_class"]]
    for name, g, st in groups:
        lines.append(
            f"  {name[:12]:<12} {g['count']:>7} {_num(g['mean_positives']):>8} {g['without_positive']:>5} "
            f"{st['count']:>7} {_pct(st['fraction']):>6}  {_strides(g['positives_by_stride'])}"
        )
    if t.get("overlooked_anchors") is not None:
        lines.append(
            f"  {t['overlooked_anchors']} anchors left negative although their box fits a target (IoU ≥ 0.5 "
            "and ≥ its weakest positive's: their score kept them out of TAL's top-k), at "
            f"{t['with_overlooked']} targets"
        )
    if entry.get("queries_without_assignment"):
        lines.append(
            f"  WARNING: {entry['queries_without_assignment']} of {entry['queries']} queries came without an "
            "assignment and are not counted"
        )
    return lines


def print_coverage(out: dict[str, Any], data: str) -> None:
    entries = out["checkpoints"]
    print(f"assignment coverage on {data}: positive anchors per target")
    for entry in entries:
        for line in table_lines(entry):
            print(line)
    if len(entries) > 1:
        starved = " → ".join(_pct(e["starved"]["fraction"]) for e in entries)
        mean = " → ".join(_num(e["targets"]["mean_positives"]) for e in entries)
        print(f"over the checkpoints: starved {starved}; mean positives {mean}")


def run(args: argparse.Namespace) -> int:
    import torch

    from inspector.coverage import MIN_POSITIVES
    from inspector.data import read_dataset
    from inspector.errors import InspectorError

    if args.episodes < 1:
        raise InspectorError(f"--episodes must be ≥ 1 (got {args.episodes})")
    min_positives = MIN_POSITIVES if args.min_positives is None else args.min_positives
    if min_positives < 1:
        raise InspectorError(f"--min-positives must be ≥ 1 (got {min_positives})")
    if args.threads and args.threads > 0:
        torch.set_num_threads(args.threads)
    data = read_dataset(args.data)
    out = {"checkpoints": [checkpoint_coverage(c, args, data, min_positives) for c in args.checkpoint]}
    if args.json:
        print(dumps(out))
    else:
        print_coverage(out, args.data)
    return 0
