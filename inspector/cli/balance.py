"""`balance`: what each weighted loss term does to the shared parameters of one or more checkpoints (gradient
norms, shares, conflicts) over N episodes drawn as `evaluate` draws them, and weights to try
(inspector/balance.py)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from inspector.cli.episode import add_shape_arguments
from inspector.cli.options import add_model_arguments, eval_settings
from inspector.serialize import dumps

HELP = "measure each weighted loss's gradient on the shared layers (shares, conflicts) and suggest weights"
DEFAULT_EPISODES = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        action="extend",
        nargs="+",
        metavar="CKPT",
        help="checkpoint file(s); repeat or list several (e.g. a run's epochs) for one report each",
    )
    parser.add_argument("--data", required=True, metavar="PATH", help="COCO / YOLO dataset, or video samples")
    parser.add_argument(
        "--clips",
        default=None,
        metavar="PATH",
        help="video samples whose clip episodes follow the image episodes, as in evaluate",
    )
    parser.add_argument(
        "--episodes",
        type=int,
        default=DEFAULT_EPISODES,
        help=f"image episodes to measure (default {DEFAULT_EPISODES}), the same ones evaluate scores",
    )
    add_shape_arguments(parser)
    add_model_arguments(parser, "term_gradients")
    parser.add_argument(
        "--shared",
        choices=("last", "all"),
        default="last",
        help="the shared parameters gradients are taken on: 'last' (default) the last shared layer, the "
        "neck's output convs every head reads, as GradNorm does (2.2× cheaper); 'all' every backbone and "
        "neck parameter",
    )
    parser.add_argument(
        "--log",
        default=None,
        metavar="PATH",
        help="the run's training log (raw loss levels for the uncertainty and DWA suggestions); "
        "default: log.jsonl beside the checkpoint, if there is one",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _num(x: float, digits: int = 4) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _ci(bounds: list[float], pct: bool = False) -> str:
    lo, hi = (math.nan if b is None else b for b in bounds)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return f"({100 * lo:.0f}–{100 * hi:.0f}%)" if pct else f"({lo:.3g}–{hi:.3g})"


def print_report(out: dict[str, Any], header: str) -> None:
    """One checkpoint's JSON record as text: the term table, pairs, suggested weights, verdict and notes."""
    print(f"{out['checkpoint']}: {header}")
    print(
        f"  {'term':<10} {'raw':>9} {'weight':>7} {'weighted':>9}   {'‖∇ shared‖ (95% CI)':<24} "
        "share (95% CI)"
    )
    for t in out["terms"]:
        norm = f"{_num(t['grad_norm'], 3)} {_ci(t['grad_norm_ci'])}"
        share = "n/a" if not math.isfinite(t["grad_share"]) else f"{100 * t['grad_share']:.0f}%"
        print(
            f"  {t['name']:<10} {_num(t['raw']):>9} {_num(t['weight']):>7} {_num(t['weighted']):>9}   "
            f"{norm:<24} {share} {_ci(t['grad_share_ci'], pct=True)}"
        )
    if out["conflicts"]:
        print("  pairs: mean cosine of the gradients · episodes where they point apart")
        for c in out["conflicts"]:
            rate = "n/a" if not math.isfinite(c["conflict_rate"]) else f"{100 * c['conflict_rate']:.0f}%"
            print(
                f"    {c['a'] + ' · ' + c['b']:<20} {_num(c['cosine'], 2):>6}   {rate:>4} of {c['episodes']}"
            )
    names = [t["name"] for t in out["terms"]]
    total = sum(t["weight"] for t in out["terms"] if math.isfinite(t["weight"]))
    print(f"  suggested weights (each rescaled to the current sum {total:.4g}) → predicted shares")
    print("    " + f"{'':<18}" + "".join(f"{n:>9}" for n in names))
    print("    " + f"{'current':<18}" + "".join(f"{_num(t['weight']):>9}" for t in out["terms"]))
    for method, weights in out["suggested_weights"].items():
        if weights is None:
            print(f"    {method:<18} —  ({out['suggestion_basis'][method]})")
            continue
        shares = out["predicted_shares"][method] or {}
        cells = "".join(f"{_num(weights[n], 3):>9}" for n in names)
        predicted = " ".join(
            f"{n} {100 * shares[n]:.0f}%" for n in names if math.isfinite(shares.get(n, math.nan))
        )
        print(f"    {method:<18}{cells}   → {predicted}")
        print(f"    {'':<18}from {out['suggestion_basis'][method]}")
    print(f"  verdict: {out['verdict']}")
    for note in out["notes"]:
        print(f"  note: {note}")


def run(args: argparse.Namespace) -> int:
    import torch

    from inspector.adapters import load_detector
    from inspector.balance import SHARED_WORDS, checkpoint_report, measure_checkpoint, sibling_log
    from inspector.batch import EpisodePlan
    from inspector.data import read_dataset
    from inspector.errors import InspectorError
    from inspector.plan import describe_shape, trained_shape
    from inspector.runlog import RunLog, read_logs

    if args.episodes < 1:
        raise InspectorError(f"--episodes must be ≥ 1 (got {args.episodes})")
    if args.threads and args.threads > 0:
        torch.set_num_threads(args.threads)
    data = read_dataset(args.data)
    clips = read_dataset(args.clips) if args.clips and not data.clips else None
    logs: dict[Path, RunLog] = {}
    records = []
    for checkpoint in args.checkpoint:
        detector = load_detector(checkpoint, args.adapter)
        settings = eval_settings(args, checkpoint)
        plan = EpisodePlan(data, clips, settings)
        episodes = (plan.episode(i) for i in range(plan.total))
        measured = measure_checkpoint(detector, checkpoint, episodes, plan.total, args.shared)
        # --log when given, else the checkpoint's sibling log.jsonl
        path = Path(args.log) if args.log else sibling_log(checkpoint)
        if path is not None and path not in logs:
            logs[path] = read_logs([path])
        report = checkpoint_report(checkpoint, detector, measured, None if path is None else logs[path])
        record = report.to_json_dict()
        record.update(
            {
                "seed": settings.seed,
                "n_way": settings.n_way,
                "k_shot": settings.k_shot,
                "n_query": settings.n_query,
            }
        )
        records.append(record)
        if not args.json:
            print_report(
                record,
                f"{report.episodes} episodes of {args.data} "
                f"({describe_shape(settings.shape, trained_shape(checkpoint))}, seed {settings.seed}); "
                f"gradients of each weighted loss on {SHARED_WORDS[args.shared]}, batch norm in training "
                "mode; "
                f"log: {record['log'] or 'none'}",
            )
    if args.json:
        print(dumps({"checkpoints": records}))
    return 0
