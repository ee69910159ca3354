"""`errors`: where a checkpoint's AP@0.5 goes. TIDE's six error types (cls, loc, both, dupe, bkg, missed;
inspector.tide), each counted, with the AP@0.5 fixing it would add and the training lever it points at, for
the query images of N episodes run exactly as `evaluate` runs them, or of the rows `evaluate --out` wrote."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from inspector.cli.episode import add_shape_arguments
from inspector.cli.options import add_model_arguments, eval_settings
from inspector.serialize import dumps

if TYPE_CHECKING:
    from inspector.batch import BatchResult

HELP = "TIDE error breakdown of a checkpoint or evaluate rows: each type's count, dAP@0.5 and lever"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rows",
        default=None,
        metavar="FILE",
        help="a Parquet file written by `evaluate --out`: break its image rows down, no model runs",
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        metavar="CKPT",
        help="the checkpoint file (with --data; not with --rows)",
    )
    parser.add_argument(
        "--data", default=None, metavar="PATH", help="a COCO / YOLO dataset (with --checkpoint)"
    )
    parser.add_argument("--episodes", type=int, default=100, help="image episodes to sample (default 100)")
    add_shape_arguments(parser)
    add_model_arguments(parser)
    parser.add_argument(
        "--cache",
        action="store_true",
        help="reuse / store the evaluation under INSPECTOR_CACHE_DIR, shared with `evaluate --cache` "
        "(same checkpoint, dataset and options → the same rows)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def evaluate_checkpoint(args: argparse.Namespace) -> tuple[BatchResult, list[str]]:
    """Returns (the BatchResult of the whole plan, the detector's load warnings): the batch evaluator run on
    --checkpoint and --data as `evaluate` runs it (same plan, settings, metadata and cache key)."""
    import torch

    from inspector.adapters import load_detector
    from inspector.batch import EpisodePlan, evaluate_batch, run_meta
    from inspector.data import read_dataset
    from inspector.errors import InspectorError

    if args.episodes < 1:
        raise InspectorError(f"--episodes must be ≥ 1 (got {args.episodes})")
    if args.threads and args.threads > 0:
        torch.set_num_threads(args.threads)
    data = read_dataset(args.data)
    if data.clips:
        raise InspectorError(
            "holds video samples; the error breakdown scores query images: give an image dataset",
            path=args.data,
        )
    detector = load_detector(args.checkpoint, args.adapter)
    settings = eval_settings(args, args.checkpoint)
    plan = EpisodePlan(data, None, settings)
    meta = run_meta(args.checkpoint, args.adapter, data, None, settings, data.class_names, plan.total)
    result = evaluate_batch(detector, plan, meta, cache=args.cache)
    loaded = getattr(detector, "warnings", ())  # e.g. the checkpoint's NaN weights
    return result, [str(w) for w in loaded] if isinstance(loaded, (tuple, list)) else []


def errors_json(result: BatchResult, warnings: list[str], rows_file: str | None) -> dict[str, Any]:
    """The breakdown of a result's image rows as the JSON contract writes it (inspector.tide.breakdown_dict),
    with the episodes and the identifying metadata beside it."""
    from inspector.batch import image_records
    from inspector.batch.summary import episode_kinds
    from inspector.errors import InspectorError
    from inspector.tide import breakdown_dict, error_breakdown

    rows = result.rows.sort_values("position", kind="stable")
    records = image_records(rows)
    if not records:
        raise InspectorError(
            "holds no query-image rows to break down (clips are scored by ST-IoU, not TIDE)",
            path=rows_file or result.meta.get("data"),
        )
    meta = result.meta
    names = meta.get("class_names") or []
    clips = int(rows["kind"].isin(("clip", "clip_missing")).sum())
    if clips:
        warnings = [*warnings, f"{clips} clip rows are not broken down (TIDE scores query images)"]
    s = meta.get("settings") or {}
    return {
        **breakdown_dict(error_breakdown(records), names),
        "episodes": episode_kinds(rows, meta.get("image_episodes"))[0],
        "rows": rows_file,
        "checkpoint": meta.get("checkpoint"),
        "checkpoint_sha256": meta.get("checkpoint_sha256"),
        "adapter": meta.get("adapter"),
        "data": meta.get("data"),
        "shard": meta.get("shard"),
        "seed": s.get("seed"),
        "n_way": s.get("n_way"),
        "k_shot": s.get("k_shot"),
        "n_query": s.get("n_query"),
        "score_threshold": s.get("score_threshold"),
        "nms_iou": s.get("nms_iou"),
        "warnings": warnings,
    }


def print_errors(out: dict[str, Any]) -> None:
    """The JSON object as a table: one row per error type overall, then per class dAP (count)."""

    def fmt(v: float | None, sign: str = "") -> str:
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:{sign}.3f}"

    source = out["rows"] or f"{out['checkpoint']} on {out['data']}"
    print(f"{source}: {out['episodes']} image episodes, {out['images']} query images")
    t = out["thresholds"]
    print(
        f"  AP@0.5 {fmt(out['ap50'])}   {out['true_positives']} true positives of {out['predictions']} "
        f"predictions and {out['targets']} targets (IoU foreground {t['foreground']:g}, "
        f"background {t['background']:g})"
    )
    print(f"  {'type':<7} {'count':>6} {'dAP@0.5':>8}   lever")
    for kind, e in out["errors"].items():
        print(f"  {kind:<7} {e['count']:>6} {fmt(e['dAP'], '+'):>8}   {e['lever']}")
    kinds = list(out["errors"])
    print("  per class: dAP@0.5 (count)")
    print(f"    {'class':<12} {'AP@0.5':>7} " + " ".join(f"{k:>14}" for k in kinds))
    for name, c in out["per_class"].items():
        cells = " ".join(
            f"{fmt(c['errors'][k]['dAP'], '+')} ({c['errors'][k]['count']})".rjust(14) for k in kinds
        )
        print(f"    {name:<12} {fmt(c['ap50']):>7} {cells}")
    for warning in out["warnings"]:
        print(f"  WARNING: {warning}")


def run(args: argparse.Namespace) -> int:
    from inspector.batch import read_result
    from inspector.errors import InspectorError

    if args.rows is not None:
        if args.checkpoint is not None or args.data is not None:
            raise InspectorError("give either --rows FILE or --checkpoint CKPT --data DIR, not both")
        out = errors_json(read_result(args.rows), [], args.rows)
    elif args.checkpoint is None or args.data is None:
        raise InspectorError("give --rows FILE (from evaluate --out), or --checkpoint CKPT with --data DIR")
    else:
        result, warnings = evaluate_checkpoint(args)
        out = errors_json(result, warnings, None)
    if args.json:
        print(dumps(out))
    else:
        print_errors(out)
    return 0
