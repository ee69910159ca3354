"""`train`: episodic training of the reference detector from a YAML/JSON TrainConfig."""

from __future__ import annotations

import argparse

HELP = "train the reference few-shot detector (logs every step, validates and checkpoints every epoch)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="TrainConfig as YAML or JSON (defaults: synthetic shapes, 3-way 3-shot)",
    )
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (overrides out_dir)")
    parser.add_argument("--resume", default=None, metavar="CKPT", help="continue from an epoch_N.pt")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from inspector.checkpoint import load_checkpoint
    from inspector.train.config import TrainConfig, load_train_config
    from inspector.train.loop import train

    if args.config is not None:
        config = load_train_config(args.config)
    elif args.resume is not None:
        # a resumed run without --config continues with the config its checkpoint recorded
        config = TrainConfig.from_dict(
            load_checkpoint(args.resume).meta.get("train_config") or {}, path=args.resume
        )
    else:
        config = TrainConfig()
    if args.out is not None:
        config.out_dir = args.out
    result = train(config, resume=args.resume, progress=not args.quiet)
    best = ", ".join(f"{k} {v:.3f}" for k, v in result.best_metrics.items())
    print(
        f"trained {config.total_steps} steps in {result.seconds:.0f} s → {result.out_dir}"
        + (f" (best: {best})" if best else "")
    )
    return 0
