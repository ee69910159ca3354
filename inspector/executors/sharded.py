"""The driver's side: a job split into shards, run on the pool --executor names, merged exactly.

Evaluation shards merge with batch.merge_results (a plan) or protocol.files.merge_grids (a grid), the
merges `evaluate-merge` runs on `--shard i/n` files, so the numbers are those of one unsharded run. A sweep
is split into strided shares of its runs, put back in discovery order.
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import TYPE_CHECKING, Any

from inspector.errors import InspectorError
from inspector.executors import open_pool, shard_count
from inspector.executors.tasks import (
    GridJob,
    Inputs,
    PlanJob,
    evaluate_grid_shard,
    evaluate_plan_shard,
    read_run_share,
    score_cell,
    summarize_k,
)

if TYPE_CHECKING:  # torch comes with inspector.batch: a sweep's reading does without it
    from inspector.batch import BatchResult, Shard
    from inspector.protocol.files import GridResult
    from inspector.protocol.report import ScoredCell
    from inspector.sweep.records import RunResult, RunSpec


def inputs_of(args: argparse.Namespace) -> Inputs:
    """The inputs `evaluate`'s options name; InspectorError when --shard is given too (tasks pick shards)."""
    if args.shard != "0/1":
        raise InspectorError("give --shard i/n or --executor / --shards, not both")
    from inspector.cli.inputs import given_input

    # as the user gave them: a task on another machine fetches a URL itself, where this machine's copy is not
    checkpoint, data = given_input(args, "checkpoint"), given_input(args, "data")
    return Inputs(
        checkpoint or args.checkpoint, args.adapter, data or args.data, given_input(args, "clips"), args.cache
    )


def shards_of(n: int) -> list[Shard]:
    from inspector.batch import Shard

    return [Shard(i, n) for i in range(n)]


def labels_of(shards: list[Shard]) -> list[str]:
    return [f"shard {s.index}/{s.count}" for s in shards]


def evaluate_plan(args: argparse.Namespace, job: PlanJob, total: int) -> BatchResult:
    """The plan's rows, evaluated as --shards tasks (never more than its `total` positions) and merged."""
    from inspector.batch import merge_results

    with open_pool(args, "evaluate") as pool:
        shards = shards_of(shard_count(args, pool, total))
        labels = labels_of(shards)
        results = pool.map(partial(evaluate_plan_shard, job), shards, labels)
    return merge_results(results, labels)


def evaluate_grid(
    args: argparse.Namespace, job: GridJob, total: int, resamples: int
) -> tuple[GridResult, list[ScoredCell], list[dict[str, Any]]]:
    """The grid as a tree of tasks: each first-level task evaluates one shard of every cell, merged here cell
    by cell (cheap: rows are concatenated); then each cell is summarised in a task of its own, and each K's
    intervals (its bootstrap) in another. The driver's share stays the merge: at a few seconds of summary per
    cell of 1,000 episodes, a driver summarising every cell would be the bottleneck from ~14 workers
    (docs/scaling.md). Returns the merged grid, its scored cells and the per-K summary, as run_grid, scored
    and grid_summary give them in one process."""
    from inspector.protocol.files import merge_grids
    from inspector.protocol.report import by_k

    with open_pool(args, "evaluate") as pool:
        shards = shards_of(shard_count(args, pool, total))
        labels = labels_of(shards)
        grid = merge_grids(pool.map(partial(evaluate_grid_shard, job), shards, labels), labels)
        names = (grid.cells[0].result.meta.get("class_names") or []) if grid.cells else []
        cell_labels = [f"cell K={c.cell.k_shot}, seed={c.cell.seed}" for c in grid.cells]
        cells = pool.map(partial(score_cell, grid.split), grid.cells, cell_labels)
        groups = list(by_k(cells).values())
        k_labels = [f"the intervals of K={g[0].cell.k_shot}" for g in groups]
        summary = pool.map(partial(summarize_k, grid.split, names, resamples), groups, k_labels)
    return grid, cells, summary


def read_runs(
    args: argparse.Namespace,
    specs: tuple[RunSpec, ...],
    max_points: int,
    origin: tuple[str, str] | None = None,
) -> list[RunResult]:
    """Every run read (sweep.read_run), run i in share i mod N of N tasks, in the order of `specs`; `origin`:
    (the sweep's URL, the driver's mirror) of a remote sweep, which each task mirrors for itself."""
    if not specs:
        return []
    with open_pool(args, "diagnose") as pool:
        n = shard_count(args, pool, len(specs))
        shares = [specs[i::n] for i in range(n)]
        labels = [f"shard {i}/{n} ({len(share)} runs from {share[0].name})" for i, share in enumerate(shares)]
        parts = pool.map(partial(read_run_share, max_points=max_points, origin=origin), shares, labels)
    out: list[RunResult | None] = [None] * len(specs)
    for i, part in enumerate(parts):
        out[i::n] = part
    return [r for r in out if r is not None]
