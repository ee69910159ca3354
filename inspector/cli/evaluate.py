"""`evaluate`: score a reference checkpoint on N episodes of a dataset (mAP, ST-IoU on clips)."""

from __future__ import annotations

import argparse
import math

from inspector.serialize import dumps

HELP = "score a reference-detector checkpoint on N few-shot episodes of a dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="a reference checkpoint (.pt)")
    parser.add_argument("--data", required=True, metavar="PATH",
                        help="COCO / YOLO dataset for mAP, or video samples for ST-IoU")
    parser.add_argument("--clips", default=None, metavar="PATH",
                        help="video samples (reference images + clip) to add ST-IoU to an image dataset's mAP")
    parser.add_argument("--episodes", type=int, default=100, help="image episodes to sample (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="episode seed (episode i is the same everywhere)")
    parser.add_argument("--n-way", type=int, default=None, help="default: the checkpoint's training n_way")
    parser.add_argument("--k-shot", type=int, default=None, help="default: the checkpoint's training k_shot")
    parser.add_argument("--n-query", type=int, default=None, help="default: the checkpoint's training n_query")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from inspector.checkpoint import build_reference_model, load_checkpoint
    from inspector.data import read_dataset
    from inspector.data.episodes import EpisodeSampler
    from inspector.errors import InspectorError
    from inspector.reference import clip_episodes, evaluate_episodes

    if args.episodes < 1:
        raise InspectorError(f"--episodes must be ≥ 1 (got {args.episodes})")
    checkpoint = load_checkpoint(args.checkpoint)
    model = build_reference_model(checkpoint)
    trained = checkpoint.meta.get("train_config") or {}
    n_way = args.n_way or int(trained.get("n_way", 3))
    k_shot = args.k_shot or int(trained.get("k_shot", 3))
    n_query = args.n_query if args.n_query is not None else int(trained.get("n_query", 4))

    data = read_dataset(args.data)
    episodes = []
    if data.clips:
        clip_sets = [data]
    else:
        sampler = EpisodeSampler(data, n_way, k_shot, n_query, args.seed)
        episodes = [sampler.sample(i) for i in range(args.episodes)]
        clip_sets = [read_dataset(args.clips)] if args.clips else []
    for clips in clip_sets:
        if not clips.clips:
            raise InspectorError("holds no reference-image + clip samples", path=clips.root)
        episodes += clip_episodes(clips, k_shot, args.seed)  # every clip scored once
    summary = evaluate_episodes(model, episodes)
    summary.update(checkpoint=str(args.checkpoint), data=str(args.data), seed=args.seed,
                   n_way=n_way, k_shot=k_shot, n_query=n_query)
    if args.json:
        print(dumps(summary))
        return 0

    def fmt(v: float) -> str:
        return "n/a" if v is None or math.isnan(v) else f"{v:.3f}"

    print(f"{args.checkpoint} on {args.data}: {summary['episodes']} episodes "
          f"({summary['images']} query images, {summary['clips']} clips), {n_way}-way {k_shot}-shot")
    print(f"  mAP@0.5       {fmt(summary['map50'])}")
    print(f"  mAP@0.5:0.95  {fmt(summary['map50_95'])}")
    print(f"  ST-IoU        {fmt(summary['st_iou'])}")
    for name, ap in summary["per_class"].items():
        print(f"    {name:<10} AP@0.5 {fmt(ap)}")
    return 0
