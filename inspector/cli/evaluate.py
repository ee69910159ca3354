"""`evaluate`: score a checkpoint on N few-shot episodes of a dataset (mAP, ST-IoU on clips), optionally one
shard of them, writing per-image rows to Parquet so shards can be merged exactly (`evaluate-merge`)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inspector.cli.episode import add_shape_arguments
from inspector.cli.evaluate_grid import add_protocol_arguments, is_grid, run_grid_command
from inspector.cli.options import add_model_arguments, eval_settings
from inspector.executors import add_executor_arguments, check_executor_options, is_sharded
from inspector.serialize import dumps

HELP = "score a checkpoint on N few-shot episodes of a dataset (shardable; Parquet rows + summary)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="the checkpoint file")
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
    add_shape_arguments(parser, k_shot_grid=True)
    add_protocol_arguments(parser)
    add_model_arguments(parser)
    parser.add_argument(
        "--shard",
        default="0/1",
        metavar="I/N",
        help="evaluate only episode positions I, I+N, I+2N, … (0 ≤ I < N); image episodes "
        "come first, then one per clip. Merge the --out files with evaluate-merge.",
    )
    add_executor_arguments(parser, "the --shards tasks (each one shard of the plan, of every grid cell)")
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
        "--confusion-score-threshold",
        type=float,
        default=None,
        metavar="S",
        help="confusion matrix: count only predictions scoring ≥ S (default: every prediction the model "
        "kept, i.e. its own --score-threshold; Ultralytics' matrix uses 0.25)",
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
        "fingerprint": meta.get("fingerprint"),
        "protocol_differences": meta.get("protocol_differences") or [],
    }


def print_summary(out: dict[str, Any]) -> None:
    mark = " [PROTOCOL DIFFERS]" if out.get("protocol_differences") else ""

    def plain(v: float | None) -> str:
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

    def fmt(v: float | None) -> str:
        return plain(v) + mark  # a merge across protocols marks every number

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
    curves = (out.get("pr_curves") or {}).get("classes") or {}
    if curves:
        print("    per class: AP@0.5 · precision at recall .25/.50/.75 · highest recall")
    for name, ap in out["per_class"].items():
        print(f"    {name:<10} AP@0.5 {fmt(ap)}{pr_points(curves.get(name), plain)}")
    for line in confusion_lines(out.get("confusion")):
        print(line)
    for d in out.get("protocol_differences") or ():
        print(f"  PROTOCOL DIFFERS: {d}")
    for warning in out.get("warnings", ()):
        print(f"  WARNING: {warning}")


def pr_points(curve: dict[str, Any] | None, fmt: Callable[[float | None], str]) -> str:
    """The text appended to a class's AP line, e.g. " · P 0.950/0.900/0.400 · R 0.880": its PR curve's
    precision at recall 0.25, 0.5, 0.75 (of pycocotools' 101 points, index = recall × 100) and its highest
    recall; "" without a curve."""
    if not curve or len(curve.get("precision") or ()) != 101:
        return ""
    p = curve["precision"]
    return f" · P {'/'.join(fmt(p[i]) for i in (25, 50, 75))} · R {fmt(curve.get('max_recall'))}"


# Above this many classes the matrix would not fit a terminal line; its largest off-diagonal cells are listed.
CONFUSION_PRINT_CLASSES = 10
CONFUSION_NAME_WIDTH = 8


def confusion_lines(confusion: dict[str, Any] | None) -> list[str]:
    """The confusion matrix as text lines: the classes that occur (a row or column with a count), rows true,
    columns predicted, "bg" the background; beyond CONFUSION_PRINT_CLASSES classes, its largest confusions."""
    if not confusion or not confusion.get("matrix"):
        return []
    labels: list[str] = confusion["labels"]
    counts = np.asarray(confusion["matrix"], np.int64)
    n = len(labels) - 1  # the last row and column are the background
    active = [i for i in range(n) if counts[i].any() or counts[:, i].any()]
    gate = confusion.get("score_threshold")
    scored = "all kept predictions" if gate is None else f"predictions scoring ≥ {gate:g}"
    lines = [
        f"  confusion @ IoU {confusion['iou_threshold']:g}, {scored}, rows true, columns predicted: "
        f"{int(counts[n, :n].sum())} background false positives, {int(counts[:n, n].sum())} misses"
    ]
    if not active:
        return lines
    if len(active) > CONFUSION_PRINT_CLASSES:
        cells = sorted(
            ((int(counts[i, j]), labels[i], labels[j]) for i in active for j in active if i != j),
            key=lambda cell: -cell[0],
        )
        top = ", ".join(f"{a}→{b} {c}" for c, a, b in cells[:8] if c)
        return [*lines, f"    largest confusions (true→predicted): {top or 'none'}"]
    w = CONFUSION_NAME_WIDTH
    order = [*active, n]
    short = [labels[i][:w] if i < n else "bg" for i in order]
    lines.append("    " + " " * w + "".join(f" {name:>{w}}" for name in short))
    for i, name in zip(order, short, strict=True):
        lines.append(f"    {name:<{w}}" + "".join(f" {int(counts[i, j]):>{w}}" for j in order))
    return lines


def run(args: argparse.Namespace) -> int:
    import torch

    from inspector.adapters import load_detector
    from inspector.batch import (
        BatchResult,
        EpisodePlan,
        Shard,
        evaluate_batch,
        run_meta,
        summarize,
        write_result,
    )
    from inspector.data import read_dataset
    from inspector.errors import InspectorError

    if args.episodes < 1:
        raise InspectorError(f"--episodes must be ≥ 1 (got {args.episodes})")
    check_executor_options(args)
    from inspector.plan import trained_config
    from inspector.protocol.fingerprint import fingerprint, tta_flags
    from inspector.protocol.split import config_names_split

    if is_grid(args) or config_names_split(trained_config(args.checkpoint)):
        return run_grid_command(args)
    if args.k_shot is not None:
        args.k_shot = int(args.k_shot)  # one K (is_grid parsed it)
    shard = Shard.parse(args.shard)
    gate = args.confusion_score_threshold
    if gate is not None and not 0.0 <= gate <= 1.0:  # also refuses nan
        raise InspectorError(f"--confusion-score-threshold must be a score in [0, 1] (got {gate})")
    if args.threads and args.threads > 0:
        torch.set_num_threads(args.threads)
    detector = load_detector(args.checkpoint, args.adapter)
    settings = eval_settings(args, args.checkpoint)
    data = read_dataset(args.data)
    clips = read_dataset(args.clips) if args.clips and not data.clips else None
    plan = EpisodePlan(data, clips, settings)
    meta = run_meta(args.checkpoint, args.adapter, data, clips, settings, data.class_names, plan.total)
    stamp = fingerprint(meta, settings, [settings.k_shot], [settings.seed], None, "all", tta_flags(detector))
    if is_sharded(args):  # tasks on --executor, merged here exactly as evaluate-merge merges shard files
        from inspector.executors.sharded import evaluate_plan, inputs_of
        from inspector.executors.tasks import PlanJob

        result = evaluate_plan(args, PlanJob(inputs_of(args), settings, meta), plan.total)
    else:
        result = evaluate_batch(detector, plan, meta, shard, cache=args.cache)
    result = BatchResult(
        {**result.meta, "fingerprint": stamp}, result.rows
    )  # this run's, even from the cache
    out = summary_json(summarize(result, gate), result.meta)
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
