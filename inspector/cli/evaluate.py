"""`evaluate`: score a checkpoint on N few-shot episodes of a dataset (mAP, ST-IoU on clips), optionally one
shard of them, writing per-image rows to Parquet so shards can be merged exactly (`evaluate-merge`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from inspector import limits
from inspector.cli.episode import add_shape_arguments
from inspector.serialize import dumps

HELP = "score a checkpoint on N few-shot episodes of a dataset (shardable; Parquet rows + summary)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="the checkpoint file")
    parser.add_argument(
        "--adapter",
        default="reference",
        metavar="SPEC",
        help="'reference' (default) or your own as package.module:factory",
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="PATH",
        help="COCO / YOLO dataset for mAP, or video samples for ST-IoU",
    )
    parser.add_argument(
        "--clips",
        default=None,
        metavar="PATH",
        help="video samples (reference images + clip) to add ST-IoU to an image dataset's mAP",
    )
    parser.add_argument("--episodes", type=int, default=100, help="image episodes to sample (default 100)")
    add_shape_arguments(parser)
    parser.add_argument(
        "--shard",
        default="0/1",
        metavar="I/N",
        help="evaluate only episode positions I, I+N, I+2N, … (0 ≤ I < N); image episodes "
        "come first, then one per clip. Merge the --out files with evaluate-merge.",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="write per-image rows to this Parquet file and the summary to FILE.summary.json",
    )
    parser.add_argument(
        "--cache",
        action="store_true",
        help="reuse / store results under INSPECTOR_CACHE_DIR (default ~/.cache/inspector/eval), "
        "keyed by checkpoint and dataset content and settings",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=limits.eval_threads(),
        help=f"torch CPU threads per process (default {limits.eval_threads()}, "
        "INSPECTOR_EVAL_THREADS: the small episode tensors gain nothing from more, and "
        "torch's default oversubscribes the cores)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def summary_json(summary: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The summary with the identifying metadata the JSON output carries beside it."""
    s = meta["settings"]
    return {
        **summary,
        "checkpoint": meta["checkpoint"],
        "checkpoint_sha256": meta["checkpoint_sha256"],
        "adapter": meta["adapter"],
        "data": meta["data"],
        "clips_data": meta.get("clips"),
        "seed": s["seed"],
        "n_way": s["n_way"],
        "k_shot": s["k_shot"],
        "n_query": s["n_query"],
        "score_threshold": s.get("score_threshold"),
        "nms_iou": s.get("nms_iou"),
        "clip_score_threshold": s.get("clip_score_threshold"),
        "shard": meta["shard"],
        "total_episodes": meta["total"],
    }


def print_summary(out: dict[str, Any]) -> None:
    def fmt(v: float | None) -> str:
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

    print(f"{out['checkpoint']} on {out['data']}: {out['episodes']} episodes, shard {out['shard']}")
    print(
        f"  image episodes {out['image_episodes']} ({out['images']} query images, {out['n_way']}-way "
        f"{out['k_shot']}-shot, {out['n_query']} queries) · clip episodes {out['clip_episodes']} "
        f"({out['clips']} clips scored)"
    )
    print(f"  mAP@0.5       {fmt(out['map50'])}")
    print(f"  mAP@0.5:0.95  {fmt(out['map50_95'])}")
    gate = out.get("clip_score_threshold")
    found = "" if gate is None else f"   (target found at score ≥ {gate:g})"
    print(f"  ST-IoU        {fmt(out['st_iou'])}{found}")
    print(f"  mean IoU TP   {fmt(out['mean_iou_tp'])}   positives/target {fmt(out['positives_per_target'])}")
    for name, ap in out["per_class"].items():
        print(f"    {name:<10} AP@0.5 {fmt(ap)}")
    for warning in out.get("warnings", ()):
        print(f"  WARNING: {warning}")


def run(args: argparse.Namespace) -> int:
    import torch

    from inspector.adapters import load_detector
    from inspector.batch import (
        EpisodePlan,
        EvalSettings,
        Shard,
        evaluate_batch,
        run_meta,
        summarize,
        write_result,
    )
    from inspector.data import read_dataset
    from inspector.errors import InspectorError
    from inspector.evaluate import CLIP_SCORE_THRESHOLD
    from inspector.plan import DEFAULT_SEED, resolve_shape, trained_shape

    if args.episodes < 1:
        raise InspectorError(f"--episodes must be ≥ 1 (got {args.episodes})")
    shard = Shard.parse(args.shard)
    if args.threads and args.threads > 0:
        torch.set_num_threads(args.threads)
    detector = load_detector(args.checkpoint, args.adapter)
    shape = resolve_shape(trained_shape(args.checkpoint), args.n_way, args.k_shot, args.n_query)
    settings = EvalSettings(
        episodes=args.episodes,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        n_way=shape.n_way,
        k_shot=shape.k_shot,
        n_query=shape.n_query,
        score_threshold=args.score_threshold,
        nms_iou=args.nms_iou,
        clip_score_threshold=CLIP_SCORE_THRESHOLD
        if args.clip_score_threshold is None
        else args.clip_score_threshold,
    )
    data = read_dataset(args.data)
    clips = read_dataset(args.clips) if args.clips and not data.clips else None
    plan = EpisodePlan(data, clips, settings)
    meta = run_meta(args.checkpoint, args.adapter, data, clips, settings, data.class_names, plan.total)
    result = evaluate_batch(detector, plan, meta, shard, cache=args.cache)
    out = summary_json(summarize(result), result.meta)
    loaded = getattr(detector, "warnings", ())  # e.g. the checkpoint's NaN weights
    loaded = [str(w) for w in loaded] if isinstance(loaded, (tuple, list)) else []
    out["warnings"] = [*loaded, *out["warnings"]]
    if args.out:
        path = write_result(result, args.out)
        Path(f"{path}.summary.json").write_text(dumps(out, indent=2) + "\n")
    if args.json:
        print(dumps(out))
    else:
        print_summary(out)
    return 0
