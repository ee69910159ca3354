"""What one task does, wherever it runs: evaluate one shard of a plan or of a grid, or read a share of a
sweep's runs. Each reads its inputs itself, by path or fsspec URL (inspector.cli.inputs), and returns the
rows `evaluate --shard i/n` writes, so the driver merges them exactly as `evaluate-merge` does.

The jobs are frozen records of plain values (paths, settings, the run's metadata hashed once by the driver):
they pickle small, and a task on another machine needs nothing from the driver's memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported by the evaluation tasks only, not by a sweep's readers
    from inspector.batch import BatchResult, EvalSettings, Shard
    from inspector.protocol.files import GridResult
    from inspector.protocol.grid import CellResult, Grid
    from inspector.protocol.report import ScoredCell
    from inspector.protocol.split import ClassSplit, WaysFrom
    from inspector.results import Detector
    from inspector.sweep.records import RunResult, RunSpec


@dataclass(frozen=True)
class Inputs:
    """A checkpoint, its adapter, and the dataset (plus video clips) it is scored on: paths or URLs."""

    checkpoint: str
    adapter: str
    data: str
    clips: str | None
    cache: bool = False


@dataclass(frozen=True)
class PlanJob:
    """One evaluation (`evaluate` without a grid): the settings and the run metadata the driver built."""

    inputs: Inputs
    settings: EvalSettings
    meta: dict[str, Any]


@dataclass(frozen=True)
class GridJob:
    """The few-shot protocol's grid (`evaluate --k-shot 1,3 --seeds 0-9`), as run_grid takes it."""

    inputs: Inputs
    base: EvalSettings
    grid: Grid
    run: dict[str, Any]
    split: ClassSplit | None
    ways_from: WaysFrom


def load_inputs(inputs: Inputs) -> tuple[Detector, Any, Any]:
    """The detector, the dataset and the clips dataset (or None), each fetched first when given as a URL."""
    from inspector.adapters import load_detector
    from inspector.cli.inputs import local_dir, local_file
    from inspector.data import read_dataset

    detector = load_detector(local_file(inputs.checkpoint), inputs.adapter)
    data = read_dataset(local_dir(inputs.data))
    clips = read_dataset(local_dir(inputs.clips)) if inputs.clips and not data.clips else None
    return detector, data, clips


def evaluate_plan_shard(job: PlanJob, shard: Shard) -> BatchResult:
    """The shard's rows of one evaluation: `evaluate --shard i/n`'s BatchResult."""
    from inspector.batch import EpisodePlan, evaluate_batch

    detector, data, clips = load_inputs(job.inputs)
    plan = EpisodePlan(data, clips, job.settings)
    return evaluate_batch(detector, plan, job.meta, shard, cache=job.inputs.cache)


def evaluate_grid_shard(job: GridJob, shard: Shard) -> GridResult:
    """The shard's rows of every cell of the grid: `evaluate --k-shot … --seeds … --shard i/n`'s grid."""
    from inspector.protocol.run import run_grid

    detector, data, clips = load_inputs(job.inputs)
    return run_grid(
        detector, data, clips, job.base, job.grid, job.run, job.split, job.ways_from, shard, job.inputs.cache
    )


def score_cell(split: ClassSplit | None, cell: CellResult) -> ScoredCell:
    """One merged cell summarised and measured (the tree's second level: protocol.report.score_cells)."""
    from inspector.protocol.report import score_cells

    return score_cells([cell], split)[0]


def summarize_k(
    split: ClassSplit | None, class_names: Sequence[str], resamples: int, cells: Sequence[ScoredCell]
) -> dict[str, Any]:
    """One K's mean, spread and intervals over its seeds' scored cells (protocol.report.grid_summary)."""
    from inspector.protocol.report import grid_summary

    return grid_summary(cells, split, class_names, resamples)[0]


def read_run_share(
    specs: Sequence[RunSpec], max_points: int, origin: tuple[str, str] | None = None
) -> list[RunResult]:
    """sweep.read_run of each spec, in order (one task's share of a sweep). `origin`: (the sweep's URL as
    given, the driver's mirror of it) when the sweep is remote: the task mirrors the URL on its own machine
    and reads the runs there."""
    from inspector.sweep import read_run

    if origin is not None:
        from inspector.cli.inputs import local_dir

        url, driver_root = origin
        specs = rebased(specs, driver_root, local_dir(url))
    return [read_run(spec, max_points) for spec in specs]


def rebased(specs: Sequence[RunSpec], old_root: str, new_root: str) -> list[RunSpec]:
    """The specs with every path under `old_root` moved under `new_root` (a mirror of the same sweep)."""
    from dataclasses import replace
    from pathlib import Path

    def move(path: str) -> str:
        return str(Path(new_root) / Path(path).relative_to(old_root))

    return [
        replace(
            spec,
            path=move(spec.path),
            companions=tuple(map(move, spec.companions)),
            alternates=tuple(map(move, spec.alternates)),
        )
        for spec in specs
    ]
