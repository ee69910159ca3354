"""`episode`: run a checkpoint on one deterministic episode and print what it made of it."""

from __future__ import annotations

import argparse

from inspector.serialize import dumps

HELP = "run a checkpoint on episode I of a dataset: boxes, anchors, assignment, losses (JSON with --json)"


def add_shape_arguments(parser: argparse.ArgumentParser, k_shot_grid: bool = False) -> None:
    """--n-way / --k-shot / --n-query / --seed, shared with `evaluate`: None means the checkpoint's train
    config, else inspector's defaults (inspector.plan), so both commands draw the same episode i. With
    `k_shot_grid`, --k-shot takes a list (1,3,5) and stays text for the grid to parse."""
    for flag, what in (
        ("--n-way", "ways"),
        ("--k-shot", "support images per way (a clip's reference photos)"),
        ("--n-query", "query images"),
    ):
        grid = k_shot_grid and flag == "--k-shot"
        parser.add_argument(
            flag,
            type=str if grid else int,
            default=None,
            metavar="K[,K…]" if grid else None,
            help=f"{what}{'; a list such as 1,3,5 evaluates each' if grid else ''}; default: the "
            "checkpoint's train config, else inspector's default",
        )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="episode seed (default 0); episode i is the same everywhere for the same seed and shape",
    )
    parser.add_argument("--score-threshold", type=float, default=None, help="default: the model's")
    parser.add_argument("--nms-iou", type=float, default=None, help="default: the model's")
    parser.add_argument(
        "--clip-score-threshold",
        type=float,
        default=None,
        metavar="S",
        help="ST-IoU: a clip frame's target counts as found where the best box of its way scores "
        "≥ S (default: inspector.evaluate.CLIP_SCORE_THRESHOLD)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="the checkpoint file")
    parser.add_argument(
        "--adapter", default="reference", help="'reference' (default) or your own as package.module:factory"
    )
    parser.add_argument(
        "--data",
        required=True,
        help="a COCO / YOLO dataset, or a folder of video samples (episode i = clip i)",
    )
    parser.add_argument("--index", type=int, default=0, help="episode index (default 0)")
    add_shape_arguments(parser)
    parser.add_argument("--no-gradients", action="store_true", help="skip the per-loss gradient norms")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")


def run(args: argparse.Namespace) -> int:
    from inspector.adapters import inspect_episode, load_detector
    from inspector.data import read_dataset
    from inspector.episode_diagnostics import loss_rows, positives_per_image
    from inspector.evaluate import CLIP_SCORE_THRESHOLD, clip_st_iou
    from inspector.format_doctor import format_doctor
    from inspector.plan import DEFAULT_SEED, DatasetEpisodes, describe_shape, resolve_shape, trained_shape
    from inspector.results import result_to_dict

    detector = load_detector(args.checkpoint, args.adapter)
    trained = trained_shape(args.checkpoint)
    shape = resolve_shape(trained, args.n_way, args.k_shot, args.n_query)
    seed = DEFAULT_SEED if args.seed is None else args.seed
    gate = CLIP_SCORE_THRESHOLD if args.clip_score_threshold is None else args.clip_score_threshold
    dataset = read_dataset(args.data)
    episode = DatasetEpisodes(dataset, shape, seed).episode(args.index)
    result = inspect_episode(detector, episode, args.score_threshold, args.nms_iou, not args.no_gradients)
    doctor = format_doctor(
        result, dataset.warnings
    )  # the dataset's box warnings are evidence about the targets
    st_ious = [clip_st_iou(c, gate) for c in result.clips]
    if args.json:
        out = result_to_dict(result)
        out.update(
            {
                "n_way": shape.n_way,
                "k_shot": shape.k_shot,
                "n_query": shape.n_query,
                "seed": seed,
                "score_threshold": args.score_threshold,
                "nms_iou": args.nms_iou,
                "clip_score_threshold": gate,
                "st_iou": st_ious,
                "format_doctor": doctor,
                "dataset_warnings": list(dataset.warnings),
                "gradient_norms_batch_norm": None if result.gradient_norms is None else "train",
            }
        )
        print(dumps(out))
        return 0
    print(
        f"episode {result.index}: ways {', '.join(result.class_names)} · adapter {detector.name} · "
        f"{describe_shape(shape, trained)}, seed {seed}"
    )
    for warning in result.warnings:
        print(f"  WARNING: {warning}")
    for w in dataset.warnings:
        print(f"  DATASET: {w.message}")
    for image_id, positives in positives_per_image(result).items():
        print(f"  {image_id}: {positives if positives is not None else '?'} positive anchors")
    for c, value in zip(result.clips, st_ious, strict=True):
        print(f"  clip {c.clip_id}: ST-IoU {value:.3f} (frames found at score ≥ {gate:g})")
    for row in loss_rows(result.losses):
        print(
            f"  loss {row.name}: raw {row.raw:.4g} · weighted {row.weighted:.4g}"
            + (
                f" · ‖∇backbone‖ {result.gradient_norms[row.name]:.3g} (train-mode BN)"
                if result.gradient_norms
                else ""
            )
        )
    print(("  FORMAT: " if doctor.mismatch else "  format: ") + doctor.message)
    if result.unavailable:
        print(f"  unavailable from this adapter: {', '.join(result.unavailable)}")
    return 0
