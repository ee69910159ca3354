"""The loss chart, cached: each component downsampled to ~N points over the whole run or over a zoom window,
with its band, EMA and spikes, and the figure they make.

Band and EMA are always those of the full series, indexed at the drawn points (inspector.zoom), so a zoomed
curve's values are the full view's. Each function takes the run's content key next to the (underscored,
unhashed) data, so Streamlit keys its cache on a short string instead of re-hashing a million-step log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from inspector import charts, stats, zoom
from inspector.charts import Curve
from inspector.diagnose import Diagnosis
from inspector.losses import Decomposition, by_family
from inspector.runlog import RunLog
from inspector.ui.widgets import CurveSettings
from inspector.zoom import Drawn, StepWindow


def step_label(log: RunLog) -> str:
    return "epoch" if log.step_unit == "epoch" else "step"


def segments(log: RunLog) -> list[tuple[int, int]]:
    """Return (first, last) step of each restart segment, for shading."""
    return [(s.first_step, s.last_step) for s in log.segments]


def shown_decomposition(diag: Diagnosis, per_family: bool) -> Decomposition:
    """The decomposition as drawn: each component, or each family's copies summed into one."""
    return by_family(diag.decomposition, diag.components.families) if per_family else diag.decomposition


def colors_of(dec: Decomposition) -> tuple[tuple[str, str], ...]:
    """Return (component, colour) pairs in this run's palette order."""
    return tuple((c.name, charts.color(i)) for i, c in enumerate(dec.components))


# Rolling quantiles of a 1M-step series take ~1.3 s (pandas, measured), against ~20 ms for the mean ± k·std
# band at the drawn points only: a zoom must not pay that again, so the edges of the full series are kept.
# 16 MB per component at 1M steps; 16 entries cover 8 components, raw and weighted.
@st.cache_resource(max_entries=16, show_spinner="Computing the quantile bands…")
def quantile_edges(
    _steps: np.ndarray, _values: np.ndarray, key: str, window: int, q: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Return the (lower, upper) rolling-quantile edges of a full series (shared, never mutated); `key`
    names the run, the values shown and the component."""
    band = stats.quantile_band(_steps, _values, window, q)
    return band.lower, band.upper


def curve_at(
    name: str,
    steps: np.ndarray,
    values: np.ndarray,
    idx: np.ndarray,
    spikes: np.ndarray,
    s: CurveSettings,
    color: str,
    dash: str | None,
    edges: tuple[np.ndarray, np.ndarray] | None = None,
) -> Curve:
    """Return the Curve of a full series drawn at indices `idx`: band and EMA of the full series taken at
    those points, and `spikes` (indices, those in the window) marked when `s.spikes`.

    `edges` are the full series' quantile-band edges when `s.band` is "quantiles" (quantile_edges).
    """
    lower = upper = None
    label = "band"
    if s.band == "std" and values.size > 1:
        band = stats.rolling_band(steps, values, s.window, s.k, at=idx)
        lower, upper, label = band.lower, band.upper, f"±{s.k:g}σ"
    elif s.band == "quantiles" and values.size > 1 and edges is not None:
        lower, upper = edges[0][idx], edges[1][idx]
        label = f"q{s.quantiles[0]:g}–{s.quantiles[1]:g}"
    smoothed = stats.ema_tensorboard(values, s.ema)[idx] if s.ema > 0 and idx.size else None
    shown = spikes if s.spikes else spikes[:0]
    return Curve(
        name,
        steps[idx],
        values[idx],
        lower,
        upper,
        smoothed,
        steps[shown],
        values[shown],
        label,
        dash,
        color,
    )


@dataclass(frozen=True)
class CurveSet:
    """The curves of one run's components as drawn, and what they draw of the window."""

    curves: list[Curve]
    drawn: Drawn


def reading_key(diag: Diagnosis, key: str) -> str:
    """The run's content key with how its terms were read (weights, raw/weighted): a cache key for curves
    of this diagnosis, which the user's corrections change while the run's content stays the same."""
    reading = [(c.name, c.effective_weight, c.logged) for c in diag.components.components]
    return f"{key}|{hashlib.blake2b(repr(reading).encode(), digest_size=8).hexdigest()}"


def curve_set(
    diag: Diagnosis,
    key: str,
    values: str,
    s: CurveSettings,
    colors: tuple[tuple[str, str], ...] = (),
    suffix: str = "",
    dash: str | None = None,
    per_family: bool = False,
    window: StepWindow | None = None,
) -> CurveSet:
    """Return one Curve per component of `values` ("raw" or "weighted"), downsampled over `window` (None:
    the whole run) with every spike in it kept; cached per run, reading, settings and window."""
    return _curve_set(diag, reading_key(diag, key), values, s, colors, suffix, dash, per_family, window)


@st.cache_data(max_entries=64, show_spinner=False)
def _curve_set(
    _diag: Diagnosis,
    key: str,
    values: str,
    s: CurveSettings,
    colors: tuple[tuple[str, str], ...] = (),
    suffix: str = "",
    dash: str | None = None,
    per_family: bool = False,
    window: StepWindow | None = None,
) -> CurveSet:
    """curve_set's work; `key` is reading_key's.

    Spikes are the ones diagnose found (a robust-σ test is scale-free, so raw and weighted agree).
    `colors` pins a component's colour (so a compared run's `bbox` matches this run's `bbox`).
    `per_family` sums each term's copies (aux layers, heads) into one curve; a sum has no spikes of its own.
    """
    dec = shown_decomposition(_diag, per_family)
    pinned = dict(colors)
    table = dec.raw if values == "raw" else dec.weighted
    lo, hi = zoom.window_bounds(dec.steps, window)
    curves, drawn = [], Drawn()
    for i, c in enumerate(dec.components):
        own = _diag.stats.get(c.name)
        spikes = np.zeros(0, dtype=np.int64) if own is None else np.flatnonzero(own.spike_mask)
        series = table[c.name]
        idx = zoom.window_indices(dec.steps, series, spikes, window, s.points)
        edges = None
        if s.band == "quantiles" and series.size > 1:
            name = f"{key}|{values}|{per_family}|{c.name}"
            edges = quantile_edges(dec.steps, series, name, s.window, s.quantiles)
        inside = zoom.spikes_within(spikes, lo, hi)
        colour = pinned.get(c.name, charts.color(i + len(pinned)))
        curves.append(curve_at(c.name + suffix, dec.steps, series, idx, inside, s, colour, dash, edges))
        drawn += Drawn(int(idx.size), hi - lo, int(inside.size))
    return CurveSet(curves, drawn)


def component_curves(
    diag: Diagnosis,
    key: str,
    values: str,
    s: CurveSettings,
    colors: tuple[tuple[str, str], ...] = (),
    suffix: str = "",
    dash: str | None = None,
    per_family: bool = False,
) -> list[Curve]:
    """Return one Curve per component of `values` over the whole run (curve_set's curves)."""
    return curve_set(diag, key, values, s, colors, suffix, dash, per_family).curves


@st.cache_data(max_entries=16, show_spinner=False)
def lr_points(
    _log: RunLog, key: str, metric: str | None, points: int, window: StepWindow | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the learning rate's (steps, values) over `window` (None: the whole run), downsampled, or None
    when the run logs none."""
    s = _log.get(metric) if metric else None
    if s is None or not np.isfinite(s.values).any():
        return None
    idx = zoom.window_indices(s.steps, s.values, np.zeros(0, dtype=np.int64), window, points)
    return s.steps[idx], s.values[idx]


@dataclass(frozen=True)
class Overlay:
    """A run compared on the loss chart, drawn dashed in this run's colours."""

    diag: Diagnosis
    key: str
    label: str


@dataclass(frozen=True)
class LossChart:
    """The loss chart's figure and what it draws of its window."""

    figure: go.Figure
    drawn: Drawn


def loss_figure(
    curves: list[Curve],
    raw_curves: list[Curve] | None,
    overlay: list[Curve],
    log: RunLog,
    s: CurveSettings,
    lr: tuple[np.ndarray, np.ndarray] | None,
    window: StepWindow | None = None,
) -> go.Figure:
    """Return the main chart: one axes (weighted or raw), or raw | weighted side by side, showing `window`
    (None: the whole run) and zoomed by dragging a box (inspector.zoom)."""
    if s.view == "side by side" and raw_curves is not None:
        fig = charts.side_by_side_figure(
            raw_curves, curves, ("raw", "weighted"), log_y=s.log_y, step_label=step_label(log), height=420
        )
        return zoom.zoom_layout(fig, window)
    title = f"Loss components ({s.view})" + (" — dashed: compared run" if overlay else "")
    fig = charts.curves_figure(
        [*curves, *overlay],
        title,
        log_y=s.log_y,
        step_label=step_label(log),
        segments=segments(log),
        lr=lr if s.lr else None,
        height=460,
    )
    return zoom.zoom_layout(fig, window)


def loss_chart(
    diag: Diagnosis,
    log: RunLog,
    key: str,
    s: CurveSettings,
    per_family: bool,
    window: StepWindow | None,
    against: Overlay | None = None,
) -> LossChart:
    """Return the loss chart over `window` (None: the whole run): the components as `s.view` says, the
    compared run dashed, the learning rate on its own axis."""
    values = "raw" if s.view == "raw" else "weighted"
    main = curve_set(diag, key, values, s, per_family=per_family, window=window)
    drawn = main.drawn
    raw = None
    if s.view == "side by side":
        both = curve_set(diag, key, "raw", s, per_family=per_family, window=window)
        raw, drawn = both.curves, drawn + both.drawn
    overlay: list[Curve] = []
    if against is not None and raw is None:  # side by side has no room for a compared run
        other = curve_set(
            against.diag,
            against.key,
            values,
            s,
            colors_of(diag.decomposition),
            f" ({against.label})",
            "dash",
            per_family=per_family,
            window=window,
        )
        overlay, drawn = other.curves, drawn + other.drawn
    lr = lr_points(log, key, diag.components.lr, s.points, window) if s.lr else None
    return LossChart(loss_figure(main.curves, raw, overlay, log, s, lr, window), drawn)
