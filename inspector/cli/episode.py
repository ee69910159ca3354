"""`episode`: run a checkpoint on one deterministic episode and print what it made of it."""

from __future__ import annotations

import argparse

from inspector.serialize import dumps

HELP = "run a checkpoint on episode I of a dataset: boxes, anchors, assignment, losses (JSON with --json)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="the checkpoint file")
    parser.add_argument("--adapter", default="reference",
                        help="'reference' (default) or your own as package.module:factory")
    parser.add_argument("--data", required=True, help="a COCO / YOLO dataset or a folder of video samples")
    parser.add_argument("--index", type=int, default=0, help="episode index (default 0)")
    parser.add_argument("--n-way", type=int, default=2)
    parser.add_argument("--k-shot", type=int, default=2)
    parser.add_argument("--n-query", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--score-threshold", type=float, default=None, help="default: the model's")
    parser.add_argument("--nms-iou", type=float, default=None, help="default: the model's")
    parser.add_argument("--no-gradients", action="store_true", help="skip the per-loss gradient norms")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")


def run(args: argparse.Namespace) -> int:
    from inspector.adapters import inspect_episode, load_detector, result_to_dict
    from inspector.data import read_dataset
    from inspector.data.episodes import EpisodeSampler
    from inspector.episode_diagnostics import clip_st_iou, format_doctor, loss_rows, positives_per_image

    detector = load_detector(args.checkpoint, args.adapter)
    dataset = read_dataset(args.data)
    episode = EpisodeSampler(dataset, args.n_way, args.k_shot, args.n_query, args.seed).sample(args.index)
    result = inspect_episode(detector, episode, args.score_threshold, args.nms_iou, not args.no_gradients)
    doctor = format_doctor(result)
    if args.json:
        out = result_to_dict(result)
        out["st_iou"] = [clip_st_iou(c) for c in result.clips]
        out["format_doctor"] = doctor
        print(dumps(out))
        return 0
    print(f"episode {result.index}: ways {', '.join(result.class_names)} · adapter {detector.name}")
    for warning in result.warnings:
        print(f"  WARNING: {warning}")
    for image_id, positives in positives_per_image(result).items():
        print(f"  {image_id}: {positives if positives is not None else '?'} positive anchors")
    for c in result.clips:
        print(f"  clip {c.clip_id}: ST-IoU {clip_st_iou(c):.3f}")
    for row in loss_rows(result.losses):
        print(f"  loss {row.name}: raw {row.raw:.4g} · weighted {row.weighted:.4g}"
              + (f" · ‖∇backbone‖ {result.gradient_norms[row.name]:.3g}" if result.gradient_norms else ""))
    print(("  FORMAT: " if doctor.mismatch else "  format: ") + doctor.message)
    if result.unavailable:
        print(f"  unavailable from this adapter: {', '.join(result.unavailable)}")
    return 0
