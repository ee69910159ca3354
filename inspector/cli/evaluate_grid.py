"""`evaluate`'s few-shot protocol: the K-shot × seeds grid, the base / novel split, the fingerprint and the
per-K intervals (inspector.protocol), when `--k-shot` lists several K, `--seeds` is given, or a class split is
(from the options or the checkpoint)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspector.errors import InspectorError
from inspector.serialize import dumps

if TYPE_CHECKING:
    from inspector.protocol.files import GridResult
    from inspector.protocol.report import ScoredCell


def add_protocol_arguments(parser: argparse.ArgumentParser) -> None:
    from inspector.protocol.split import WAYS_FROM

    parser.add_argument(
        "--seeds",
        default=None,
        metavar="S[,S…|A-B]",
        help="episode seeds of the few-shot protocol, e.g. 0-9: one row per (K, seed) and per K the mean, "
        "std and 95%% CIs over seeds (not with --seed)",
    )
    parser.add_argument(
        "--novel-classes",
        default=None,
        metavar="A,B",
        help="the novel classes (the rest are base): reports nAP and bAP per K. Default: the checkpoint's "
        "train config when it names its classes",
    )
    parser.add_argument(
        "--split",
        default=None,
        metavar="FILE",
        help="a class split file: YAML/JSON {novel: [...], base: [...]} or novel names one per line",
    )
    parser.add_argument(
        "--ways-from",
        choices=WAYS_FROM,
        default="all",
        help="the classes episodes draw their ways from (default all; novel/base need a split)",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=None,
        metavar="N",
        help="bootstrap resamples of the episodes within seeds for the per-K intervals "
        "(default 1000; 0: none)",
    )


def is_grid(args: argparse.Namespace) -> bool:
    """Whether the protocol runs: several K, --seeds, a split asked for, or --ways-from; a single K is parsed
    back into args.k_shot either way. (A split named only by the checkpoint turns the grid on in
    run_grid_command's caller, evaluate.run, which cannot know it before loading.)"""
    from inspector.protocol.grid import parse_integers

    if args.k_shot is not None:
        ks = parse_integers(args.k_shot, "--k-shot", least=1)
        if len(ks) > 1:
            return True
        args.k_shot = str(ks[0])
    if args.seeds is not None and args.seed is not None:
        raise InspectorError("give --seed or --seeds, not both")
    return (
        args.seeds is not None
        or args.novel_classes is not None
        or args.split is not None
        or args.ways_from != "all"
    )


def run_grid_command(args: argparse.Namespace) -> int:
    import torch

    from inspector.adapters import load_detector
    from inspector.batch import EpisodePlan, Shard, run_meta
    from inspector.cli.options import eval_settings
    from inspector.data import read_dataset
    from inspector.executors import is_sharded
    from inspector.plan import DEFAULT_SEED, resolve_shape, trained_config, trained_shape
    from inspector.protocol.grid import Grid
    from inspector.protocol.intervals import RESAMPLES
    from inspector.protocol.run import run_grid, scored
    from inspector.protocol.split import resolve_split

    shard = Shard.parse(args.shard)
    resamples = RESAMPLES if args.resamples is None else args.resamples
    if resamples < 0:
        raise InspectorError(f"--resamples must be ≥ 0 (got {resamples})")
    k_text = (
        args.k_shot if args.k_shot is not None else str(resolve_shape(trained_shape(args.checkpoint)).k_shot)
    )
    seeds_text = (
        args.seeds if args.seeds is not None else str(DEFAULT_SEED if args.seed is None else args.seed)
    )
    grid = Grid.parse(k_text, seeds_text)
    if args.threads and args.threads > 0:
        torch.set_num_threads(args.threads)
    detector = load_detector(args.checkpoint, args.adapter)
    args.k_shot = grid.k_shots[0]
    base = eval_settings(args, args.checkpoint)
    data = read_dataset(args.data)
    clips = read_dataset(args.clips) if args.clips and not data.clips else None
    split = resolve_split(data.class_names, args.novel_classes, args.split, trained_config(args.checkpoint))
    plan = EpisodePlan(data, clips, base)
    run = run_meta(args.checkpoint, args.adapter, data, clips, base, data.class_names, plan.total)
    if is_sharded(args):  # each task one shard of every cell, merged cell by cell as evaluate-merge does
        from inspector.executors.sharded import evaluate_grid, inputs_of
        from inspector.executors.tasks import GridJob
        from inspector.protocol.run import way_settings

        way_settings(base, split, args.ways_from)  # refused here, not by every task
        job = GridJob(inputs_of(args), base, grid, run, split, args.ways_from)
        result, cells, summary = evaluate_grid(args, job, plan.total, resamples)
    else:
        result = run_grid(detector, data, clips, base, grid, run, split, args.ways_from, shard, args.cache)
        cells, summary = scored(result), None
    loaded = getattr(detector, "warnings", ())
    warnings = [str(w) for w in loaded] if isinstance(loaded, (tuple, list)) else []
    return emit_grid(result, cells, resamples, args, warnings, summary)


def emit_grid(
    grid: GridResult,
    cells: list[ScoredCell],
    resamples: int,
    args: argparse.Namespace,
    warnings: list[str],
    summary: list[dict[str, Any]] | None = None,
) -> int:
    """The grid's JSON (with its cells' warnings after `warnings`) written beside --out and printed, as JSON
    with --json, else as text; `evaluate` and `evaluate-merge` both end here."""
    from inspector.protocol.files import write_grid
    from inspector.protocol.run import grid_json

    out = grid_json(grid, cells, resamples, summary)
    out["warnings"] = warnings + [
        f"K={c.cell.k_shot}, seed={c.cell.seed}: {w}" for c in cells for w in c.summary["warnings"]
    ]
    if args.out:
        path = write_grid(grid, args.out)
        Path(f"{path}.summary.json").write_text(dumps(out, indent=2) + "\n")
    if args.json:
        print(dumps(out))
    else:
        print_grid(out)
    return 0


def print_grid(out: dict[str, Any]) -> None:
    from inspector.protocol.report import grid_lines

    fp = out["fingerprint"]
    print(
        f"{out['checkpoint']} on {out['data']}: K {fp['k_shots']} × seeds {fp['seeds']}, "
        f"{fp['episodes']} episodes per cell ({fp['n_way']}-way, {fp['n_query']} queries), "
        f"shard {out['shard']}"
    )
    split = out.get("split")
    if split:
        print(
            f"  split ({split['source']}): novel {', '.join(split['novel'])} · base "
            f"{', '.join(split['base']) or '—'} · ways from {fp['ways_from']}"
        )
    mark = " [PROTOCOL DIFFERS]" if out.get("protocol_differences") else ""
    for line in grid_lines(out["cells"], out["summary"]):
        print(line + (mark if line.startswith("  ") and not line.startswith("  K  seed") else ""))
    for d in out.get("protocol_differences") or ():
        print(f"  PROTOCOL DIFFERS: {d}")
    for warning in out.get("warnings", ()):
        print(f"  WARNING: {warning}")
