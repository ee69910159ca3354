"""The loss chart, cached: each component downsampled to ~N points over the whole run or over a zoom window,
with its band, EMA and spikes, and the figure they make: a panel per component (or all on one axes), the
compared run dashed in the same panels, the learning rate on its own axis.

Band and EMA are always those of the full series, indexed at the drawn points (inspector.zoom), so a zoomed
curve's values are the full view's. Each function takes the run's content key next to the (underscored,
unhashed) data, so Streamlit keys its cache on a short string instead of re-hashing a million-step log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from inspector import chart_style, curve_charts, stats, zoom
from inspector.curve_charts import Curve, Panel, Reading
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
    return tuple((c.name, chart_style.color(i)) for i, c in enumerate(dec.components))


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
    reading: Reading | None = None,
) -> Curve:
    """Return the Curve of a full series drawn at indices `idx`: band and EMA of the full series taken at
    those points, and `spikes` (indices, those in the window) marked when `s.spikes`.

    `edges` are the full series' quantile-band edges when `s.band` is "quantiles" (quantile_edges);
    `reading` the full series' raw and weighted values and weight, for the hover.
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
        None if reading is None else reading.at(idx),
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
    families = _diag.components.families if per_family else {}
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
        colour = pinned.get(c.name, chart_style.color(i + len(pinned)))
        # A family's copies summed have one weight only where they share it (by_family).
        weight = c.weight if c.name in families else c.effective_weight
        reading = Reading(dec.raw[c.name], dec.weighted[c.name], weight)
        name = c.name + suffix
        curves.append(curve_at(name, dec.steps, series, idx, inside, s, colour, dash, edges, reading))
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


def step_epochs(log: RunLog) -> tuple[np.ndarray, np.ndarray] | None:
    """Return (steps, epochs) of the run's longest series that logs its epoch, or None without one (or
    when the run counts in epochs already)."""
    if log.step_unit == "epoch":
        return None
    best = None
    for s in log.series.values():
        if s.epochs is not None and len(s) > (0 if best is None else len(best)):
            if np.isfinite(s.epochs).any():
                best = s
    return None if best is None or best.epochs is None else (best.steps, best.epochs)


def epochs_at(known: tuple[np.ndarray, np.ndarray] | None, steps: np.ndarray) -> np.ndarray | None:
    """Return the epoch at each of `steps` (that of the last step logged at or before it; NaN before the
    first), or None without epochs."""
    if known is None or not len(known[0]):
        return None
    at = np.searchsorted(known[0], steps, "right") - 1
    return np.where(at >= 0, known[1][np.clip(at, 0, None)], np.nan)


def with_epochs(curves: list[Curve], known: tuple[np.ndarray, np.ndarray] | None) -> list[Curve]:
    """The curves with the epoch at each drawn step, for the hover."""
    if known is None:
        return curves
    return [replace(c, epochs=epochs_at(known, c.steps)) for c in curves]


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


@dataclass(frozen=True)
class Drawing:
    """The curves of the loss chart: the run's components as `values` shows them, raw ones too side by
    side, and the compared run's, by component."""

    curves: list[Curve]
    raw: list[Curve] | None = None
    against: dict[str, Curve] | None = None
    against_raw: dict[str, Curve] | None = None


def component_panels(drawing: Drawing, view: str) -> list[Panel]:
    """One panel per component (two side by side: raw | weighted), the compared run's curve of that
    component in it; a component only the compared run has gets its own panel."""
    against, against_raw = drawing.against or {}, drawing.against_raw or {}
    names = [c.name for c in drawing.curves]
    extra = [n for n in against if n not in names]
    own = {c.name: c for c in drawing.curves}
    own_raw = {c.name: c for c in drawing.raw or []}
    panels = []
    for name in [*names, *extra]:
        mine = [own[name]] if name in own else []
        if view != "side by side":
            panels.append(Panel(name, [*mine, *([against[name]] if name in against else [])]))
            continue
        raw = [own_raw[name]] if name in own_raw else []
        panels.append(
            Panel(f"{name} · raw", [*raw, *([against_raw[name]] if name in against_raw else [])], "raw:")
        )
        panels.append(
            Panel(f"{name} · weighted", [*mine, *([against[name]] if name in against else [])], "weighted:")
        )
    return panels


# Side by side a component takes a row of two panels: lower ones keep four components and the lr on a
# 1000-px-high screen.
SIDE_PANEL_HEIGHT = 160


def y_meaning(s: CurveSettings, window: StepWindow | None) -> str:
    """What the loss chart's y axes show: a client-side y zoom is kept while this stays the same."""
    where = "all" if window is None else f"{window.first}-{window.last}"
    return f"{s.view}|{s.layout}|{'log' if s.log_y else 'linear'}|{where}"


def loss_figure(
    drawing: Drawing,
    log: RunLog,
    key: str,
    s: CurveSettings,
    lr: tuple[np.ndarray, np.ndarray] | None,
    window: StepWindow | None = None,
) -> go.Figure:
    """Return the main chart of run `key`: a panel per component (or one axes, or raw | weighted side by
    side), showing `window` (None: the whole run), zoomed by dragging a box (inspector.zoom), keeping the
    user's view across settings (chart_style.keep_view)."""
    lr = lr if s.lr else None
    unit = step_label(log)
    compared = " — dashed: compared run" if drawing.against else ""
    if s.layout == "panels":
        panels = component_panels(drawing, s.view)
        side = s.view == "side by side"
        fig = curve_charts.panels_figure(
            panels,
            columns=2 if side else curve_charts.grid_columns(len(panels)),
            title=f"Loss components ({s.view}){compared}",
            log_y=s.log_y,
            step_label=unit,
            segments=segments(log),
            lr=lr,
            panel_height=SIDE_PANEL_HEIGHT if side else curve_charts.PANEL_HEIGHT,
        )
    elif s.view == "side by side" and drawing.raw is not None:
        fig = curve_charts.side_by_side_figure(
            drawing.raw,
            drawing.curves,
            ("raw", "weighted"),
            log_y=s.log_y,
            step_label=unit,
            segments=segments(log),
            lr=lr,
            height=420,
        )
    else:
        fig = curve_charts.curves_figure(
            [*drawing.curves, *(drawing.against or {}).values()],
            f"Loss components ({s.view}){compared}",
            log_y=s.log_y,
            step_label=unit,
            segments=segments(log),
            lr=lr,
            height=460,
        )
    return chart_style.keep_view(zoom.zoom_layout(fig, window), key, y_meaning(s, window))


def loss_chart(
    diag: Diagnosis,
    log: RunLog,
    key: str,
    s: CurveSettings,
    per_family: bool,
    window: StepWindow | None,
    against: Overlay | None = None,
) -> LossChart:
    """Return the loss chart over `window` (None: the whole run): the components as `s.view` and
    `s.layout` say, the compared run dashed, the learning rate on its own axis."""
    values = "raw" if s.view == "raw" else "weighted"
    side = s.view == "side by side"
    main = curve_set(diag, key, values, s, per_family=per_family, window=window)
    drawn = main.drawn
    known = step_epochs(log)
    drawing = Drawing(with_epochs(main.curves, known))
    if side:
        both = curve_set(diag, key, "raw", s, per_family=per_family, window=window)
        drawing, drawn = replace(drawing, raw=with_epochs(both.curves, known)), drawn + both.drawn
    # One axes side by side has no room for a compared run; panels put it beside each component.
    if against is not None and (not side or s.layout == "panels"):
        suffix = f" ({against.label})"
        colors = colors_of(diag.decomposition)
        kinds = [values, "raw"] if side else [values]
        found = []
        for kind in kinds:
            other = curve_set(
                against.diag,
                against.key,
                kind,
                s,
                colors,
                suffix,
                "dash",
                per_family=per_family,
                window=window,
            )
            found.append({c.name.removesuffix(suffix): c for c in other.curves})
            drawn += other.drawn
        drawing = replace(drawing, against=found[0], against_raw=found[1] if side else None)
    lr = lr_points(log, key, diag.components.lr, s.points, window) if s.lr else None
    return LossChart(loss_figure(drawing, log, key, s, lr, window), drawn)
