"""`evaluate`: score a checkpoint on N few-shot episodes of a dataset (mAP, ST-IoU on clips), optionally one
shard of them, writing per-image rows to Parquet so shards can be merged exactly (`evaluate-merge`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from inspector.serialize import dumps

HELP = "score a checkpoint on N few-shot episodes of a dataset (shardable; Parquet rows + summary)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="the checkpoint file")
    parser.add_argument("--adapter", default="reference", metavar="SPEC",
                        help="'reference' (default) or your own as package.module:factory")
    parser.add_argument("--data", required=True, metavar="PATH",
                        help="COCO / YOLO dataset for mAP, or video samples for ST-IoU")
    parser.add_argument("--clips", default=None, metavar="PATH",
                        help="video samples (reference images + clip) to add ST-IoU to an image dataset's mAP")
    parser.add_argument("--episodes", type=int, default=100, help="image episodes to sample (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="episode seed (episode i is the same everywhere)")
    parser.add_argument("--n-way", type=int, default=None, help="default: the checkpoint's training n_way")
    parser.add_argument("--k-shot", type=int, default=None, help="default: the checkpoint's training k_shot")
    parser.add_argument("--n-query", type=int, default=None, help="default: the checkpoint's training n_query")
    parser.add_argument("--score-threshold", type=float, default=None, help="default: the model's")
    parser.add_argument("--nms-iou", type=float, default=None, help="default: the model's")
    parser.add_argument("--shard", default="0/1", metavar="I/N",
                        help="evaluate only episode positions I, I+N, I+2N, … (0 ≤ I < N); image episodes "
                             "come first, then one per clip. Merge the --out files with evaluate-merge.")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="write per-image rows to this Parquet file and the summary to FILE.summary.json")
    parser.add_argument("--cache", action="store_true",
                        help="reuse / store results under INSPECTOR_CACHE_DIR (default ~/.cache/inspector/eval), "
                             "keyed by checkpoint and dataset content and settings")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's; 1 is fastest when shards share a machine)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _trained_settings(checkpoint: str, adapter: str) -> dict[str, Any]:
    """The reference checkpoint's train_config (the episode shape it was trained on), else {}."""
    if adapter != "reference":
        return {}
    from inspector.checkpoint import load_checkpoint

    return load_checkpoint(checkpoint).meta.get("train_config") or {}


def summary_json(summary: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The summary with the identifying metadata the JSON output carries beside it."""
    s = meta["settings"]
    return {**summary, "checkpoint": meta["checkpoint"], "checkpoint_sha256": meta["checkpoint_sha256"],
            "adapter": meta["adapter"], "data": meta["data"], "clips_data": meta.get("clips"),
            "seed": s["seed"], "n_way": s["n_way"], "k_shot": s["k_shot"], "n_query": s["n_query"],
            "shard": meta["shard"], "total_episodes": meta["total"]}


def print_summary(out: dict[str, Any]) -> None:
    def fmt(v: float | None) -> str:
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

    print(f"{out['checkpoint']} on {out['data']}: {out['episodes']} episodes ({out['images']} query images, "
          f"{out['clips']} clips), {out['n_way']}-way {out['k_shot']}-shot, shard {out['shard']}")
    print(f"  mAP@0.5       {fmt(out['map50'])}")
    print(f"  mAP@0.5:0.95  {fmt(out['map50_95'])}")
    print(f"  ST-IoU        {fmt(out['st_iou'])}")
    print(f"  mean IoU TP   {fmt(out['mean_iou_tp'])}   positives/target {fmt(out['positives_per_target'])}")
    for name, ap in out["per_class"].items():
        print(f"    {name:<10} AP@0.5 {fmt(ap)}")
    for warning in out.get("warnings", ()):
        print(f"  WARNING: {warning}")


def run(args: argparse.Namespace) -> int:
    import torch

    from inspector.adapters import load_detector
    from inspector.batch import EpisodePlan, EvalSettings, Shard, evaluate_batch, run_meta, summarize, write_result
    from inspector.data import read_dataset
    from inspector.errors import InspectorError

    if args.episodes < 1:
        raise InspectorError(f"--episodes must be ≥ 1 (got {args.episodes})")
    shard = Shard.parse(args.shard)
    if args.threads:
        torch.set_num_threads(args.threads)
    detector = load_detector(args.checkpoint, args.adapter)
    trained = _trained_settings(args.checkpoint, args.adapter)
    settings = EvalSettings(
        episodes=args.episodes, seed=args.seed,
        n_way=args.n_way or int(trained.get("n_way", 3)), k_shot=args.k_shot or int(trained.get("k_shot", 3)),
        n_query=args.n_query if args.n_query is not None else int(trained.get("n_query", 4)),
        score_threshold=args.score_threshold, nms_iou=args.nms_iou)
    data = read_dataset(args.data)
    clips = read_dataset(args.clips) if args.clips and not data.clips else None
    plan = EpisodePlan(data, clips, settings)
    meta = run_meta(args.checkpoint, args.adapter, data, clips, settings, data.class_names, plan.total)
    result = evaluate_batch(detector, plan, meta, shard, cache=args.cache)
    out = summary_json(summarize(result), result.meta)
    out["warnings"] = list(getattr(detector, "warnings", ()))  # e.g. the checkpoint's NaN weights
    if args.out:
        path = write_result(result, args.out)
        Path(f"{path}.summary.json").write_text(dumps(out, indent=2) + "\n")
    if args.json:
        print(dumps(out))
    else:
        print_summary(out)
    return 0
