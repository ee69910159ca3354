"""A grid's results on disk, and grid shards merged cell by cell.

One Parquet file holds every cell's rows (batch.files' row layout plus the cell's `grid_k_shot` and
`grid_seed`), with the grid's metadata in its schema: the fingerprint, the split, and each cell's batch
metadata. Reading it back gives each cell's BatchResult exactly as written, so a merge of grid shards is
batch.merge_results per cell: the numbers are those of one unsharded grid.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from inspector.batch import ROW_COLUMNS, BatchResult, merge_results, rows_frame
from inspector.batch.files import META_KEY, write_table
from inspector.errors import InspectorError
from inspector.protocol.fingerprint import check_comparable
from inspector.protocol.grid import Cell, CellResult
from inspector.protocol.split import ClassSplit

GRID_KEY = b"inspector.grid"
_CELL_COLUMNS = ("grid_k_shot", "grid_seed")


@dataclass(frozen=True)
class GridResult:
    """A grid run's cells, its protocol fingerprint, its class split and how its ways were drawn."""

    cells: list[CellResult]
    fingerprint: dict[str, Any]
    split: ClassSplit | None
    differences: tuple[str, ...] = ()  # protocol differences allowed into it (a merge across them)


def write_grid(grid: GridResult, path: str | os.PathLike) -> Path:
    """Writes every cell's rows and the grid's metadata to one Parquet file, atomically."""
    frames = [c.result.rows.assign(grid_k_shot=c.cell.k_shot, grid_seed=c.cell.seed) for c in grid.cells]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    table = pa.Table.from_pandas(rows, preserve_index=False)
    meta = {
        "fingerprint": grid.fingerprint,
        "split": None if grid.split is None else grid.split.as_dict(),
        "differences": list(grid.differences),
        "cells": [{"k_shot": c.cell.k_shot, "seed": c.cell.seed, "meta": c.result.meta} for c in grid.cells],
    }
    return write_table(table, {GRID_KEY: json.dumps(meta).encode()}, path)


def is_grid_file(path: str | os.PathLike) -> bool:
    """Whether `path` is a grid file (False for a single evaluation's file or anything unreadable)."""
    try:
        return GRID_KEY in (pq.read_schema(path).metadata or {})
    except (OSError, pa.ArrowException):
        return False


def read_grid(path: str | os.PathLike) -> GridResult:
    """The GridResult stored at `path`; InspectorError naming the file when it is not one."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InspectorError(f"not a readable Parquet file ({exc})", path=path) from None
    metadata = table.schema.metadata or {}
    if GRID_KEY not in metadata:
        hint = " (a single evaluation: no --k-shot grid or --seeds)" if META_KEY in metadata else ""
        raise InspectorError(f"not an inspector grid file{hint}", path=path)
    try:
        meta = json.loads(metadata[GRID_KEY])
        rows = table.to_pandas()
        cells = []
        for entry in meta["cells"]:
            k, seed = int(entry["k_shot"]), int(entry["seed"])
            mine = rows[(rows["grid_k_shot"] == k) & (rows["grid_seed"] == seed)].drop(
                columns=list(_CELL_COLUMNS)
            )
            # another cell's loss columns (a cell logging different terms) are null here: not this cell's
            other = [c for c in mine.columns if c not in ROW_COLUMNS and mine[c].isna().all()]
            mine = mine.drop(columns=other)
            frame = rows_frame(mine.to_dict("records")) if not mine.empty else rows_frame([])
            cells.append(CellResult(Cell(k, seed), BatchResult(entry["meta"], frame)))
        split = meta.get("split")
        return GridResult(
            cells,
            meta["fingerprint"],
            None
            if split is None
            else ClassSplit(tuple(split["novel"]), tuple(split["base"]), split["source"]),
            tuple(meta.get("differences") or ()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InspectorError(f"a damaged grid file ({type(exc).__name__}: {exc})", path=path) from None


def read_any(path: str | os.PathLike) -> GridResult:
    """A grid file, or a single evaluation's file as the one-cell grid it is (its K and seed)."""
    if is_grid_file(path):
        return read_grid(path)
    from inspector.batch import read_result

    result = read_result(path)
    s = result.meta.get("settings") or {}
    try:
        cell = Cell(int(s["k_shot"]), int(s["seed"]))
    except (KeyError, TypeError, ValueError):
        raise InspectorError("its metadata names no K-shot and seed", path=path) from None
    return GridResult([CellResult(cell, result)], result.meta.get("fingerprint") or {}, None)


def merge_grids(
    grids: Sequence[GridResult], names: Sequence[str], allow_protocol_diff: bool = False
) -> GridResult:
    """Grid shards as one grid: the fingerprints must agree (else InspectorError naming the difference,
    unless allowed), then every cell is batch.merge_results of its shards."""
    if not grids:
        raise InspectorError("no grid files to merge")
    first = grids[0]
    differences: list[str] = list(first.differences)
    for name, g in zip(names[1:], grids[1:], strict=False):
        for d in check_comparable(first.fingerprint, g.fingerprint, allow_protocol_diff, (names[0], name)):
            differences.append(f"{name}: {d}")
    cells = []
    for c in first.cells:
        parts = []
        for name, g in zip(names, grids, strict=False):
            found = [x for x in g.cells if x.cell == c.cell]
            if not found:
                raise InspectorError(f"has no cell K={c.cell.k_shot}, seed={c.cell.seed}", path=name)
            parts.append(found[0].result)
        labels = [f"{n} (K={c.cell.k_shot}, seed={c.cell.seed})" for n in names]
        cells.append(CellResult(c.cell, merge_results(parts, labels)))
    return GridResult(cells, first.fingerprint, first.split, tuple(differences))
