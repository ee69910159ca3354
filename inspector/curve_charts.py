"""Pure builders of loss-curve figures: Curves in, plotly Figure out (no Streamlit, no statistics here).

Three layouts: one set of axes (`curves_figure`), raw | weighted side by side (`side_by_side_figure`), and
one panel per component with its own y scale (`panels_figure`; `small_multiples_figure` is its plain
grid). Panels share one step axis: every x axis `matches` the first, so a zoom or window moves them all,
and only the bottom panels label it. The learning rate always has its own log axis with ticks at powers of
ten (chart_style.lr_axis): a secondary axis on one set of axes, the right panel side by side, a small
panel under the grid.

Callers downsample long series first (stats.downsample keeps every spike); these functions draw what they
are given. Traces are SVG `Scatter`, not WebGL `Scattergl`: at ~2,000 points per trace SVG is quick, and
WebGL falls back to slow software rendering in browsers without a GPU (headless servers, CI). Each trace
carries a stable key in `meta` (e.g. "raw:bbox|line"), by which a trace the user hid stays hidden when the
figure is drawn again (inspector/ui/keep_views.js).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from inspector.chart_style import (
    BAND_ALPHA,
    LAYOUT,
    LR_COLOR,
    color,
    log_axis,
    lr_axis,
    reading_hover,
    rgba,
    step_title,
    value_hover,
)

# Panel geometry in pixels: a panel, the learning rate's strip under the grid, and the gap between rows
# (room for the next panel's title; only the bottom row has step tick labels, so nothing else sits there).
PANEL_HEIGHT = 200
LR_HEIGHT = 110
ROW_GAP = 44
TOP = 80  # the legend above the first row's titles
TITLES_ONLY = 30  # no legend: room for the first row's panel titles only
BOTTOM = 50  # the step ticks and title


@dataclass(frozen=True)
class Reading:
    """What a loss component's drawn points (N,) are made of, for the hover: its raw and weighted values
    and the weight between them (None where it is not one number, e.g. a family of differently weighted
    copies summed)."""

    raw: np.ndarray
    weighted: np.ndarray
    weight: float | None

    def at(self, idx: np.ndarray) -> Reading:
        """The reading at indices `idx` of the full series."""
        return Reading(self.raw[idx], self.weighted[idx], self.weight)


@dataclass(frozen=True)
class Curve:
    """One series to draw: steps and values, plus optional band, smoothed line and spike points; `reading`
    (raw, weighted, weight) and `epochs` at the steps feed the hover."""

    name: str
    steps: np.ndarray
    values: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    smoothed: np.ndarray | None = None
    spike_steps: np.ndarray | None = None
    spike_values: np.ndarray | None = None
    band_label: str = "band"
    dash: str | None = None
    color: str | None = None  # overrides the palette slot, e.g. so an overlaid run matches its component
    reading: Reading | None = None
    epochs: np.ndarray | None = None


@dataclass(frozen=True)
class Panel:
    """One panel of a grid: its title and the curves drawn on its own y scale; `key` prefixes its traces'
    keys where a curve's name appears in two panels (side by side: "raw:", "weighted:")."""

    title: str
    curves: Sequence[Curve]
    key: str = ""


def _line_hover(curve: Curve, epoch: bool) -> dict[str, Any]:
    """The hover of a curve's line: the reading (raw, weighted, weight) when known, the epoch where asked,
    and " · spike" at its spike steps."""
    marked = curve.spike_steps if curve.spike_steps is not None else np.zeros(0)
    spikes = len(marked) > 0
    text = np.where(np.isin(curve.steps, marked), " · spike", "").tolist() if spikes else None
    if curve.reading is None:
        return dict(hovertemplate=value_hover(curve.name, spikes), text=text)
    columns = [curve.reading.raw, curve.reading.weighted]
    if epoch and curve.epochs is not None:
        columns.append(curve.epochs)
    epoch = len(columns) == 3
    return dict(
        customdata=np.column_stack(columns),  # (N, 2 or 3): raw, weighted[, epoch]
        hovertemplate=reading_hover(curve.name, curve.reading.weight, epoch, spikes),
        text=text,
    )


def add_curve(
    fig: go.Figure,
    curve: Curve,
    i: int,
    row: int | None = None,
    col: int | None = None,
    show_legend: bool = True,
    key: str = "",
    epoch: bool = False,
) -> None:
    """Draw a Curve on `fig`: band first (underneath), then raw line, smoothed line, spikes.

    Spike markers take no hover of their own (a unified hover would list a marker steps away from the
    cursor); the line's hover says " · spike" at a spike's own step. `key` prefixes the traces' keys.
    """
    c = curve.color or color(i)
    where = {} if row is None else dict(row=row, col=col)
    group = curve.name
    meta = f"{key}{curve.name}|"
    if curve.lower is not None and curve.upper is not None:
        for edge, values, fill in (("upper", curve.upper, None), ("lower", curve.lower, "tonexty")):
            fig.add_trace(
                go.Scatter(
                    x=curve.steps,
                    y=values,
                    mode="lines",
                    line=dict(width=0),
                    fill=fill,
                    fillcolor=rgba(c, BAND_ALPHA) if fill else None,
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=group,
                    name=f"{curve.name} {curve.band_label}",
                    meta=meta + edge,
                ),
                **where,
            )
    faded = curve.smoothed is not None
    fig.add_trace(
        go.Scatter(
            x=curve.steps,
            y=curve.values,
            mode="lines",
            name=curve.name,
            legendgroup=group,
            line=dict(color=c, width=1, dash=curve.dash),
            opacity=0.45 if faded else 1.0,
            showlegend=show_legend,
            meta=meta + "line",
            **_line_hover(curve, epoch),
        ),
        **where,
    )
    if curve.smoothed is not None:
        fig.add_trace(
            go.Scatter(
                x=curve.steps,
                y=curve.smoothed,
                mode="lines",
                name=f"{curve.name} (EMA)",
                legendgroup=group,
                line=dict(color=c, width=2, dash=curve.dash),
                showlegend=False,
                hovertemplate=value_hover(f"{curve.name} (EMA)"),
                meta=meta + "ema",
            ),
            **where,
        )
    if curve.spike_steps is not None and len(curve.spike_steps):
        fig.add_trace(
            go.Scatter(
                x=curve.spike_steps,
                y=curve.spike_values,
                mode="markers",
                name=f"{curve.name} spikes",
                legendgroup=group,
                marker=dict(color=c, symbol="x", size=7, line=dict(width=1)),
                showlegend=False,
                hoverinfo="skip",
                meta=meta + "spikes",
            ),
            **where,
        )


def _axis_values(curves: Sequence[Curve]) -> list[np.ndarray | None]:
    """Every y value the curves draw (line, band, EMA, spikes): what a y axis' ticks must cover."""
    return [v for c in curves for v in (c.values, c.lower, c.upper, c.smoothed, c.spike_values)]


def lr_trace(lr: tuple[np.ndarray, np.ndarray], show_legend: bool = True) -> go.Scatter:
    """The learning rate's dotted grey line."""
    return go.Scatter(
        x=lr[0],
        y=lr[1],
        mode="lines",
        name="lr",
        line=dict(color=LR_COLOR, width=1, dash="dot"),
        hovertemplate="lr: %{y:.3g}<extra></extra>",
        showlegend=show_legend,
        meta="lr|line",
    )


def shade_segments(
    fig: go.Figure, segments: Sequence[tuple[int, int]], cells: Sequence[tuple[int, int]] = ()
) -> None:
    """Shade every other restart segment so where a run was resumed stands out: on one set of axes, or
    on each (row, col) of `cells`, labelled in the first."""
    if len(segments) < 2:
        return
    for i, (first, last) in enumerate(segments):
        if i % 2 == 0:
            continue
        shade = dict(x0=first, x1=last, fillcolor="rgba(120,120,120,0.10)", line_width=0)
        label = dict(annotation_text=f"restart {i}", annotation_position="top left")
        if not cells:
            fig.add_vrect(**shade, **label)
        for j, (row, col) in enumerate(cells):
            fig.add_vrect(**shade, **(label if j == 0 else {}), row=row, col=col)


def curves_figure(
    curves: Sequence[Curve],
    title: str,
    *,
    log_y: bool = False,
    step_label: str = "step",
    segments: Sequence[tuple[int, int]] = (),
    lr: tuple[np.ndarray, np.ndarray] | None = None,
    height: int = 380,
) -> go.Figure:
    """Curves on one set of axes, with optional learning rate on a secondary (log) axis."""
    lr_settings = None if lr is None else lr_axis(lr[1])
    fig = make_subplots(specs=[[{"secondary_y": lr_settings is not None}]])
    for i, curve in enumerate(curves):
        add_curve(fig, curve, i, epoch=i == 0)
    if lr is not None and lr_settings is not None:
        fig.add_trace(lr_trace(lr), secondary_y=True)
        fig.update_yaxes(secondary_y=True, **lr_settings)
    shade_segments(fig, segments)
    fig.update_yaxes(**(log_axis(_axis_values(curves)) if log_y else dict(type="linear")), secondary_y=False)
    fig.update_xaxes(unifiedhovertitle=step_title(step_label))
    fig.update_layout(title=title, height=height, xaxis_title=step_label, **LAYOUT)
    return fig


def side_by_side_figure(
    left: Sequence[Curve],
    right: Sequence[Curve],
    titles: tuple[str, str],
    *,
    log_y: bool = False,
    step_label: str = "step",
    segments: Sequence[tuple[int, int]] = (),
    lr: tuple[np.ndarray, np.ndarray] | None = None,
    height: int = 380,
) -> go.Figure:
    """Two panels on one linked step axis (e.g. raw on the left, weighted on the right); the learning rate
    on the right panel's secondary axis."""
    lr_settings = None if lr is None else lr_axis(lr[1])
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=titles, specs=[[{}, {"secondary_y": lr_settings is not None}]]
    )
    for i, curve in enumerate(left):
        add_curve(fig, curve, i, row=1, col=1, key="raw:", epoch=i == 0)
    for i, curve in enumerate(right):
        add_curve(fig, curve, i, row=1, col=2, show_legend=False, key="weighted:", epoch=i == 0)
    if lr is not None and lr_settings is not None:
        fig.add_trace(lr_trace(lr), row=1, col=2, secondary_y=True)
        fig.update_yaxes(row=1, col=2, secondary_y=True, **lr_settings)
    shade_segments(fig, segments, [(1, 1), (1, 2)])
    for col, curves in ((1, left), (2, right)):
        y = log_axis(_axis_values(curves)) if log_y else dict(type="linear")
        fig.update_yaxes(row=1, col=col, secondary_y=False, **y)
    fig.update_xaxes(title_text=step_label, unifiedhovertitle=step_title(step_label))
    fig.update_xaxes(matches="x", row=1, col=2)
    fig.update_layout(height=height, **LAYOUT)
    fig.update_layout(legend_y=1 + 24 / (height - 120))  # above the panels' titles (margins: 120 px)
    return fig


def grid_columns(n: int) -> int:
    """Columns of a grid of `n` panels: one for one, two up to six (a 1600-px screen shows them at a
    readable width), then three."""
    return 1 if n <= 1 else 2 if n <= 6 else 3


def panels_figure(
    panels: Sequence[Panel],
    *,
    columns: int = 2,
    title: str = "",
    log_y: bool = False,
    step_label: str = "step",
    segments: Sequence[tuple[int, int]] = (),
    lr: tuple[np.ndarray, np.ndarray] | None = None,
    panel_height: int = PANEL_HEIGHT,
    legend: bool = True,
) -> go.Figure:
    """One panel per Panel, row by row in `columns`, each on its own y scale, all on one linked step axis
    (every x axis `matches` the first), with the learning rate in a strip under them.

    Only the bottom panel of each column (and the strip) labels the steps, and rows are ROW_GAP apart, so
    a panel's title never sits on tick labels; the step axis' title is under the bottom row.
    """
    n = max(len(panels), 1)
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    lr_settings = None if lr is None else lr_axis(lr[1])
    specs: list[list[dict | None]] = [
        [{} if r * columns + c < len(panels) else None for c in range(columns)] for r in range(rows)
    ]
    heights = [panel_height] * rows
    titles = [p.title for p in panels]
    if lr_settings is not None:  # titled by its axis ("lr"): the gap above it holds the steps' labels
        specs.append([{"colspan": columns}] + [None] * (columns - 1))
        heights.append(LR_HEIGHT)
        titles.append("")
    plot = sum(heights) + ROW_GAP * (len(heights) - 1)
    top = (TOP if legend else TITLES_ONLY) + (30 if title else 0)
    fig = make_subplots(
        rows=len(heights),
        cols=columns,
        specs=specs,
        subplot_titles=titles,
        row_heights=heights,
        vertical_spacing=ROW_GAP / plot,
        horizontal_spacing=0.07,
    )
    seen: set[str] = set()
    cells = []
    for i, panel in enumerate(panels):
        row, col = i // columns + 1, i % columns + 1
        cells.append((row, col))
        for j, curve in enumerate(panel.curves):
            add_curve(fig, curve, j, row, col, legend and curve.name not in seen, key=panel.key, epoch=j == 0)
            seen.add(curve.name)
        y = log_axis(_axis_values(panel.curves), max_ticks=8) if log_y else dict(type="linear")
        fig.update_yaxes(row=row, col=col, **y)
        # Each column labels its steps under its bottom panel (columns are narrower than the lr strip).
        bottom = i + columns >= len(panels)
        named = step_label if bottom and lr_settings is None else None
        fig.update_xaxes(row=row, col=col, showticklabels=bottom, title_text=named)
    if lr is not None and lr_settings is not None:
        lr_row = len(heights)
        fig.add_trace(lr_trace(lr, show_legend=False), row=lr_row, col=1)
        fig.update_yaxes(row=lr_row, col=1, **lr_settings)
        fig.update_xaxes(row=lr_row, col=1, title_text=step_label)
        cells.append((lr_row, 1))
    shade_segments(fig, segments, cells)
    fig.update_xaxes(matches="x", unifiedhovertitle=step_title(step_label))
    fig.layout.xaxis.matches = None  # the first axis is the one the others follow
    fig.update_layout(
        **{**LAYOUT, "margin": dict(l=50, r=20, t=top, b=BOTTOM)},
        title=title or None,
        height=plot + top + BOTTOM,
        showlegend=legend,
    )
    # The legend just above the first row's titles (they take ~20 px above its plot area).
    fig.update_layout(legend_y=1 + 24 / plot)
    return fig


def small_multiples_figure(
    curves: Sequence[Curve], *, columns: int = 3, step_label: str = "step", height_per_row: int = 200
) -> go.Figure:
    """One small panel per curve, each with its own y scale, on one linked step axis."""
    return panels_figure(
        [Panel(c.name, [c]) for c in curves],
        columns=columns,
        step_label=step_label,
        panel_height=height_per_row,
        legend=False,
    )
