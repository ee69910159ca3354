"""Running the protocol for one checkpoint: its grid evaluated, fingerprinted, scored and reported, as
`evaluate --k-shot 1,3,5 --seeds 0-9`, `evaluate-merge` and the Compare page's grid all do it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from inspector.batch import BatchResult, EvalSettings, Shard
from inspector.batch.settings import WHOLE_PLAN
from inspector.data import Dataset
from inspector.errors import InspectorError
from inspector.protocol.files import GridResult
from inspector.protocol.fingerprint import fingerprint, tta_flags
from inspector.protocol.grid import CellResult, Grid, evaluate_grid
from inspector.protocol.intervals import RESAMPLES
from inspector.protocol.report import ScoredCell, cell_rows, grid_summary, score_cells
from inspector.protocol.split import ClassSplit, WaysFrom
from inspector.results import Detector


def way_settings(base: EvalSettings, split: ClassSplit | None, ways_from: WaysFrom) -> EvalSettings:
    """`base` with the classes its ways are drawn from; InspectorError for novel / base ways without a
    split."""
    if ways_from != "all" and split is None:
        raise InspectorError(
            f"--ways-from {ways_from} needs a class split: --novel-classes a,b, --split FILE, or a "
            "checkpoint whose train config names its classes"
        )
    return replace(base, way_classes=split.classes(ways_from) if split is not None else ())


def run_grid(
    detector: Detector,
    data: Dataset,
    clips: Dataset | None,
    base: EvalSettings,
    grid: Grid,
    run: dict[str, Any],
    split: ClassSplit | None,
    ways_from: WaysFrom,
    shard: Shard = WHOLE_PLAN,
    cache: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> GridResult:
    """Every cell of the grid evaluated by the one detector, each cell's metadata carrying the fingerprint."""
    base = way_settings(base, split, ways_from)
    stamp = fingerprint(run, base, grid.k_shots, grid.seeds, split, ways_from, tta_flags(detector))
    cells = [
        CellResult(c.cell, BatchResult({**c.result.meta, "fingerprint": stamp}, c.result.rows))
        for c in evaluate_grid(detector, data, clips, base, grid, run, shard, cache, progress)
    ]
    return GridResult(cells, stamp, split)


def scored(grid: GridResult) -> list[ScoredCell]:
    return score_cells(grid.cells, grid.split)


def grid_json(
    grid: GridResult,
    cells: Sequence[ScoredCell],
    resamples: int = RESAMPLES,
    summary: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """{cells, summary, fingerprint, split, protocol_differences, checkpoint, data, shard} of a scored
    grid; `summary`: its per-K summary when computed already (by tasks), else computed here."""
    first = grid.cells[0].result.meta if grid.cells else {}
    names = first.get("class_names") or []
    return {
        "checkpoint": first.get("checkpoint"),
        "checkpoint_sha256": first.get("checkpoint_sha256"),
        "data": first.get("data"),
        "shard": first.get("shard"),
        "cells": cell_rows(cells),
        "summary": summary if summary is not None else grid_summary(cells, grid.split, names, resamples),
        "fingerprint": grid.fingerprint,
        "split": None if grid.split is None else grid.split.as_dict(),
        "protocol_differences": list(grid.differences),
    }
