"""Zooming a long loss chart: the step window a user chose, the points drawn inside it, and the chart's
axes set to it.

Plotly's own zoom runs in the browser: it magnifies the ~2,000 points sent for the whole run, so a
1,000-step window of a 1M-step run shows two of them and the spikes between them are gone. Here a window is
downsampled again from the full series with the method of the full view (`stats.downsample`: MinMaxLTTB
with every spike index kept on top), so every spike inside the window is drawn at any zoom, and a window
narrower than the point budget is drawn point for point. Bands and EMA belong to the full series: callers
compute them there and index them at the drawn points, so a zoomed value equals the full view's.

Streamlit 1.67 sends no relayout (zoom) event to Python, only selections: `st.plotly_chart(on_select=...,
selection_mode="box")` reports a dragged box's x range, which is the window. `zoom_layout` makes dragging
draw that box (x only) and fixes the x axis, so a plain client-side x zoom of the downsampled points cannot
pass for the data; the y axis keeps plotly's own zoom.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from inspector import stats


@dataclass(frozen=True)
class StepWindow:
    """Steps first..last, both included (first < last, or equal for a one-step run)."""

    first: int
    last: int


@dataclass(frozen=True)
class Drawn:
    """What a chart draws of its curves in a window: points drawn, points the curves hold there, and the
    spikes among them (all of them drawn)."""

    drawn: int = 0
    total: int = 0
    spikes: int = 0

    def __add__(self, other: Drawn) -> Drawn:
        return Drawn(self.drawn + other.drawn, self.total + other.total, self.spikes + other.spikes)


def full_window(*steps: np.ndarray) -> StepWindow | None:
    """Return the window spanning every given (increasing) step axis, or None when all are empty."""
    ends = [(int(s[0]), int(s[-1])) for s in steps if len(s)]
    if not ends:
        return None
    return StepWindow(min(a for a, _ in ends), max(b for _, b in ends))


def clamp_window(x0: float, x1: float, full: StepWindow) -> StepWindow | None:
    """Return the whole steps between x0 and x1 (either order) inside `full`, or None when none are.

    A box dragged between two steps (x0 = 10.2, x1 = 10.8) holds no step: None, and the chart keeps its
    window. A single step is widened to two where `full` allows, so the axis never has zero width.
    """
    if not (math.isfinite(x0) and math.isfinite(x1)):
        return None
    lo, hi = min(x0, x1), max(x0, x1)
    first, last = max(math.ceil(lo), full.first), min(math.floor(hi), full.last)
    if first > last:
        return None
    if first == last:
        first, last = (first, last + 1) if last < full.last else (max(first - 1, full.first), last)
    return StepWindow(first, last)


def box_range(selection: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """Return the x range of the last box in a Streamlit plotly selection state, or None without one.

    Streamlit reports a box as {"xref": "x", "yref": "y", "x": [x0, x1], "y": [y0, y1]} in data
    coordinates, for whichever panel it was dragged on ("x3", "y3"): every panel's x axis matches the
    first, so any box's x range is a step range.
    """
    boxes = (selection or {}).get("box") or []
    if not boxes:
        return None
    x = boxes[-1].get("x") or []
    if len(x) != 2:
        return None
    try:
        return float(x[0]), float(x[1])
    except (TypeError, ValueError):
        return None


def window_bounds(steps: np.ndarray, window: StepWindow | None) -> tuple[int, int]:
    """Return [lo, hi): the indices of `steps` (increasing) inside the window, by binary search.

    O(log n), so a zoom never scans the full series to find its slice.
    """
    if window is None:
        return 0, len(steps)
    lo = int(np.searchsorted(steps, window.first, "left"))
    hi = int(np.searchsorted(steps, window.last, "right"))
    return lo, max(lo, hi)


def spikes_within(spikes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Return the spike indices (sorted) that fall in [lo, hi)."""
    a, b = np.searchsorted(spikes, [lo, hi], "left")
    return spikes[a:b]


def window_indices(
    steps: np.ndarray,
    values: np.ndarray,
    spikes: np.ndarray,
    window: StepWindow | None,
    points: int,
) -> np.ndarray:
    """Return the sorted indices into the full series to draw in `window` (None: the whole run).

    The window's slice is downsampled to ~`points` by `stats.downsample` with the spikes inside it as
    `keep`: the full view's method, so every spike in the window is drawn; a window of at most `points`
    steps is drawn whole. `spikes` are sorted indices into the full series (e.g. flatnonzero of the spike
    mask). Cost: O(log n) to find the slice plus the window's own size.
    """
    lo, hi = window_bounds(steps, window)
    if hi <= lo:
        return np.zeros(0, dtype=np.int64)
    keep = spikes_within(np.asarray(spikes, dtype=np.int64), lo, hi) - lo
    return stats.downsample(steps[lo:hi], values[lo:hi], points, keep=keep).astype(np.int64) + lo


def zoom_layout(fig: go.Figure, window: StepWindow | None) -> go.Figure:
    """Set `fig` up for zooming by box: dragging selects a step range (x only) on any panel, every x axis
    is fixed (no client-side x zoom of downsampled points) and shows `window` (None: the whole run).

    The window is the figure's own x range, so it applies over a view the user kept (`uirevision` keeps
    only what the figure leaves unchanged); y axes keep plotly's own zoom."""
    fig.update_layout(dragmode="select", selectdirection="h")
    if window is None:
        fig.update_xaxes(fixedrange=True)
    else:
        fig.update_xaxes(fixedrange=True, range=[window.first, window.last], autorange=False)
    return fig


def drawn_caption(window: StepWindow | None, drawn: Drawn, unit: str = "step") -> str:
    """Return e.g. "steps 500,000–501,000: 8,008 of 8,008 points drawn, all 3 spikes in the window kept"."""
    where = "the whole run" if window is None else f"{unit}s {window.first:,}–{window.last:,}"
    inside = "kept" if window is None else "in the window kept"
    spikes = f"all {drawn.spikes:,} spikes {inside}" if drawn.spikes else "no spike here"
    return f"{where}: {drawn.drawn:,} of {drawn.total:,} points drawn, {spikes}"
