"""A run log's raw loss levels for the log-based suggestions: the recent level and the two DWA windows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from inspector.loss_semantics import discover_components
from inspector.losses import Component, Decomposition, decompose
from inspector.runlog.record import RunLog

if TYPE_CHECKING:
    # only a type here: inspector.data imports torch, which the Loss curves page (log levels) does not need
    pass

from inspector.balance.records import LogLevels

RECENT_FRACTION = 0.25  # uncertainty: the last quarter of the run's steps is its recent level


DWA_WINDOW = 0.1  # DWA: the last two tenths of the run's steps, one window each


def match_component(components: Sequence[Component], name: str) -> Component | None:
    """Returns the log's component for the term `name`: the final one of that name, else the final copy of
    that family, else a copy of that name (aux layers, heads: the Loss curves page weighs every component);
    case-insensitive (the native log writes `loss/bbox`, whose component is named `bbox`)."""
    finals = [c for c in components if c.group is None]
    key = name.lower()
    return (
        next((c for c in finals if c.name.lower() == key), None)
        or next((c for c in finals if (c.family or "").lower() == key), None)
        or next((c for c in components if c.name.lower() == key), None)
    )


def _window_mean(steps: np.ndarray, values: np.ndarray, lo: float, hi: float, closed_lo: bool) -> float:
    inside = (steps >= lo if closed_lo else steps > lo) & (steps <= hi) & np.isfinite(values)
    return float(values[inside].mean()) if inside.any() else math.nan


def _span(steps: np.ndarray, lo: float, hi: float, closed_lo: bool) -> tuple[int, int] | None:
    inside = (steps >= lo if closed_lo else steps > lo) & (steps <= hi)
    return (int(steps[inside][0]), int(steps[inside][-1])) if inside.any() else None


def log_levels(log: RunLog, names: Sequence[str], up_to_step: int | None = None) -> LogLevels:
    """Returns the raw levels of the checkpoint's terms `names` in a run's log (components found by
    loss_semantics.discover_components, raw series by losses.decompose): decomposition_levels of them."""
    return decomposition_levels(decompose(log, discover_components(log)), names, log.source, up_to_step)


def decomposition_levels(
    d: Decomposition, names: Sequence[str], source: str, up_to_step: int | None = None
) -> LogLevels:
    """Returns the raw levels of the terms `names` (each matched by match_component) in a run's
    decomposition read from `source`, over the steps up to `up_to_step` (the checkpoint's step) when given.

    Windows are in steps over the run's span [s0, s1], R = s1 − s0: recent = [s1 − R/4, s1];
    DWA's L(t−2) = (s1 − 2R/10, s1 − R/10] and L(t−1) = (s1 − R/10, s1], two windows of equal length.
    """
    notes = []
    if up_to_step is not None and len(d.steps) and d.steps[-1] > up_to_step:
        d = d.select(d.steps <= up_to_step)
        notes.append(f"log: steps up to {up_to_step}, the checkpoint's step")
    matched = {n: c for n in names if (c := match_component(d.components, n)) is not None}
    missing = [n for n in names if n not in matched]
    if missing:
        notes.append(f"log: no series for {', '.join(missing)}")
    if not matched or not len(d.steps):
        if not len(d.steps):
            notes.append("log: no loss steps to read levels from")
        return LogLevels(source, {}, {}, {}, {}, None, None, None, tuple(notes))
    steps = d.steps.astype(np.float64)
    s0, s1 = float(steps[0]), float(steps[-1])
    span = s1 - s0
    recent_lo = s1 - RECENT_FRACTION * span
    mid, start = s1 - DWA_WINDOW * span, s1 - 2 * DWA_WINDOW * span
    recent = {n: _window_mean(steps, d.raw[c.name], recent_lo, s1, True) for n, c in matched.items()}
    if span > 0:
        previous = {n: _window_mean(steps, d.raw[c.name], start, mid, False) for n, c in matched.items()}
        last = {n: _window_mean(steps, d.raw[c.name], mid, s1, False) for n, c in matched.items()}
        previous_steps, last_steps = _span(d.steps, start, mid, False), _span(d.steps, mid, s1, False)
    else:
        previous, last, previous_steps, last_steps = {}, {}, None, None
        notes.append("log: a single step, no trend for DWA")
    weights = {n: c.weight for n, c in matched.items() if c.weight is not None}
    return LogLevels(
        source,
        recent,
        previous,
        last,
        {n: float(w) for n, w in weights.items()},
        _span(d.steps, recent_lo, s1, True),
        previous_steps,
        last_steps,
        tuple(notes),
    )
