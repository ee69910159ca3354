"""The few-shot protocol's grid: every (K-shot, seed) cell of one checkpoint, evaluated with one loaded
detector and one read dataset, each cell exactly what a single `evaluate --k-shot K --seed S` gives.

    cells:    Grid.parse("1,3,5", "0-9").cells()      → Cell(k_shot, seed) for K in k_shots, for S in seeds
    settings: cell_settings(base, cell)               → EvalSettings with that K and seed, the rest as given
    run:      evaluate_grid(detector, data, clips, base, grid, meta, …) → one BatchResult per cell

A cell's metadata is the run's (checkpoint and dataset hashed once) with its own settings, so its cache key,
its shard files and its merge are those of the single evaluation it stands for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from inspector.batch import BatchResult, EpisodePlan, EvalSettings, Shard, evaluate_batch
from inspector.batch.identity import settings_dict
from inspector.batch.settings import WHOLE_PLAN
from inspector.data import Dataset
from inspector.errors import InspectorError
from inspector.results import Detector

# More cells than this is a typo (0-99999), not a protocol: FsDet's widest is 30 seeds × 5 shots.
MAX_CELLS = 10_000


@dataclass(frozen=True, order=True)
class Cell:
    """One (K-shot, seed) cell of the grid."""

    k_shot: int
    seed: int


@dataclass(frozen=True)
class Grid:
    """K-shot values × episode seeds, each in the order given (duplicates dropped)."""

    k_shots: tuple[int, ...]
    seeds: tuple[int, ...]

    def cells(self) -> list[Cell]:
        return [Cell(k, s) for k in self.k_shots for s in self.seeds]

    @property
    def is_single(self) -> bool:
        return len(self.k_shots) == 1 and len(self.seeds) == 1

    @classmethod
    def parse(cls, k_shots: str, seeds: str) -> Grid:
        """The grid of `--k-shot 1,3,5 --seeds 0-9` (lists of integers and inclusive a-b ranges)."""
        ks = parse_integers(k_shots, "--k-shot", least=1)
        ss = parse_integers(seeds, "--seeds", least=0)
        if len(ks) * len(ss) > MAX_CELLS:
            raise InspectorError(f"{len(ks)} K × {len(ss)} seeds is over {MAX_CELLS} cells")
        return cls(ks, ss)


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_integers(text: str, flag: str, least: int = 0) -> tuple[int, ...]:
    """The integers of "1,3,5" / "0-9" / "0-4,10" in order, duplicates dropped; InspectorError naming `flag`
    otherwise (a negative, a reversed range, a non-number, a value below `least`)."""
    out: dict[int, None] = {}
    for part in str(text).split(","):
        found = _RANGE.match(part)
        if found is None:
            raise InspectorError(f"{flag} takes integers and ranges like 1,3,5 or 0-9 (got {text!r})")
        low = int(found.group(1))
        high = int(found.group(2)) if found.group(2) is not None else low
        if high < low:
            raise InspectorError(f"{flag}: the range {part.strip()!r} runs backwards")
        if high - low >= MAX_CELLS:
            raise InspectorError(f"{flag}: the range {part.strip()!r} has over {MAX_CELLS} values")
        if low < least:
            raise InspectorError(f"{flag} values must be ≥ {least} (got {low})")
        for v in range(low, high + 1):
            out[v] = None
    return tuple(out)


def cell_settings(base: EvalSettings, cell: Cell) -> EvalSettings:
    """The settings of one cell: `base` with the cell's K-shot and seed."""
    return replace(base, k_shot=cell.k_shot, seed=cell.seed)


def cell_meta(run: dict[str, Any], plan: EpisodePlan) -> dict[str, Any]:
    """A run's metadata (batch.run_meta, computed once for the grid) for one cell's plan."""
    return {
        **run,
        "settings": settings_dict(plan.settings),
        "total": plan.total,
        "image_episodes": plan.n_image,
    }


@dataclass(frozen=True)
class CellResult:
    """One cell's rows (a BatchResult exactly as a single evaluation of it)."""

    cell: Cell
    result: BatchResult


def evaluate_grid(
    detector: Detector,
    data: Dataset,
    clips: Dataset | None,
    base: EvalSettings,
    grid: Grid,
    run: dict[str, Any],
    shard: Shard = WHOLE_PLAN,
    cache: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[CellResult]:
    """Every cell of `grid` evaluated in turn by the one `detector` on the one `data`: cell (K, S) gives the
    rows `evaluate_batch` gives for `cell_settings(base, (K, S))`. `shard` takes the same positions of every
    cell, so a grid's shards merge cell by cell. progress(done, todo) counts episodes over the whole grid."""
    plans = [(cell, EpisodePlan(data, clips, cell_settings(base, cell))) for cell in grid.cells()]
    todo = sum(len(shard.positions(p.total)) for _, p in plans)
    done = 0
    out = []
    for cell, plan in plans:

        def step(k: int, _n: int, before: int = done) -> None:
            if progress is not None:
                progress(before + k, todo)

        result = evaluate_batch(detector, plan, cell_meta(run, plan), shard, step, cache=cache)
        done += len(shard.positions(plan.total))
        out.append(CellResult(cell, result))
    return out
