"""A group's members' curves of one metric as one band: mean, std, min, max and count per step.

Alignment. The members' curves are put on the union of their steps, and at each step only the members
that logged that very step count; nothing is interpolated. A step is kept where at least `min_members`
members logged it (default 2, or 1 for a group of one), so a step only one seed happened to log does not
show as the group's mean with no spread. Where members log different steps (one every 20 iterations,
another every 50), the band lies on the steps they share (every 100); where a member stopped early (a
crashed seed) the band goes on with the others, and `count` says how many stand behind each step.

Why not interpolate onto a common grid inside the overlap of the members' ranges: one crashed seed would
cut every band short at its last step, and a value between two evaluations is a value no evaluation
measured. Runs of similar length whose long series were binned when read (`summaries.bin_means`) share
their bin starts, so binned losses line up as well.

NaN points (a diverged loss, an undefined metric) are not values: they lower `count` where they sit.
`std` is the sample standard deviation (n − 1), NaN where fewer than two members count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from inspector.runlog.record import union_steps
from inspector.sweep.discovery import natural_key
from inspector.sweep.grouping import Group
from inspector.sweep.records import Curve, Sweep
from inspector.sweep.summaries import better

BandKind = Literal["std", "minmax"]
BAND_KINDS: tuple[BandKind, ...] = get_args(BandKind)
BAND_LABELS: dict[BandKind, str] = {"std": "mean ± std", "minmax": "min / max"}


@dataclass(frozen=True)
class Band:
    """Per-step statistics over a group's members, each array (T,) on `steps` (int64, increasing)."""

    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    count: np.ndarray  # members with a finite value at the step (int64)
    members: int  # members that had the metric at all

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    def lower(self, kind: BandKind) -> np.ndarray:
        return self.mean - self.std if kind == "std" else self.min

    def upper(self, kind: BandKind) -> np.ndarray:
        return self.mean + self.std if kind == "std" else self.max


def _empty(members: int) -> Band:
    nothing = np.zeros(0, dtype=np.float64)
    return Band(
        np.zeros(0, dtype=np.int64), nothing, nothing, nothing, nothing, np.zeros(0, np.int64), members
    )


def band(curves: Sequence[Curve], min_members: int | None = None) -> Band:
    """The Band of `curves` on the union of their steps (see the module docstring for the alignment)."""
    curves = [c for c in curves if len(c)]
    if not curves:
        return _empty(0)
    need = min(2, len(curves)) if min_members is None else min_members
    steps = union_steps([np.asarray(c.steps, dtype=np.int64) for c in curves])
    grid = np.full((len(curves), steps.size), np.nan)  # (members, T)
    for i, c in enumerate(curves):
        grid[i, np.searchsorted(steps, c.steps)] = c.values
    grid[~np.isfinite(grid)] = np.nan
    count = np.sum(~np.isnan(grid), axis=0)
    keep = count >= max(need, 1)
    grid, steps, count = grid[:, keep], steps[keep], count[keep]
    if not steps.size:
        return _empty(len(curves))
    mean = np.nanmean(grid, axis=0)
    lo, hi = np.nanmin(grid, axis=0), np.nanmax(grid, axis=0)
    # By hand rather than nanstd(ddof=1), which warns where one member counts: NaN is its spread.
    squares = np.nansum((grid - mean) ** 2, axis=0)
    std = np.where(count > 1, np.sqrt(squares / np.maximum(count - 1, 1)), np.nan)
    return Band(steps, mean, std, lo, hi, count.astype(np.int64), len(curves))


def group_band(sweep: Sweep, group: Group, metric: str, min_members: int | None = None) -> Band:
    """The Band of `metric` over the members of `group` that logged it."""
    curves = [sweep.curves[name][metric] for name in group.members if metric in sweep.curves.get(name, {})]
    return band(curves, min_members)


def curve_names(sweep: Sweep, runs: Sequence[str] | None = None) -> list[str]:
    """Series names the runs' curves hold (all runs when None): eval metrics first, then losses; within
    each, those most runs have first, then by name."""
    names = runs if runs is not None else list(sweep.curves)
    counts: dict[str, int] = {}
    for name in names:
        for metric in sweep.curves.get(name, {}):
            counts[metric] = counts.get(metric, 0) + 1
    return sorted(counts, key=lambda m: (better(m) != "max", -counts[m], natural_key(m)))
