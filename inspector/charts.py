"""Pure chart builders: arrays in, plotly Figure out (no Streamlit, no statistics here).

Callers downsample long series first (stats.downsample keeps every spike); these functions draw
what they are given. Traces are SVG `Scatter`, not WebGL `Scattergl`: at ~2,000 points per trace SVG is
quick, and WebGL falls back to slow software rendering in browsers without a GPU (headless servers, CI).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
BAND_ALPHA = 0.18
# t=80: room for the title above a horizontal legend (at t=40 they overlap).
LAYOUT = dict(
    template="plotly_white",
    margin=dict(l=50, r=20, t=80, b=40),
    hovermode="x unified",
    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
)


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


@dataclass(frozen=True)
class Curve:
    """One series to draw: steps and values, plus optional band, smoothed line and spike points."""

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


def add_curve(
    fig: go.Figure,
    curve: Curve,
    i: int,
    row: int | None = None,
    col: int | None = None,
    show_legend: bool = True,
) -> None:
    """Draw a Curve on `fig`: band first (underneath), then raw line, smoothed line, spikes."""
    c = curve.color or color(i)
    where = {} if row is None else dict(row=row, col=col)
    group = curve.name
    if curve.lower is not None and curve.upper is not None:
        fig.add_trace(
            go.Scatter(
                x=curve.steps,
                y=curve.upper,
                mode="lines",
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=group,
                name=f"{curve.name} {curve.band_label}",
            ),
            **where,
        )
        fig.add_trace(
            go.Scatter(
                x=curve.steps,
                y=curve.lower,
                mode="lines",
                line=dict(width=0),
                fill="tonexty",
                fillcolor=_rgba(c, BAND_ALPHA),
                hoverinfo="skip",
                legendgroup=group,
                name=f"{curve.name} {curve.band_label}",
                showlegend=False,
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
            ),
            **where,
        )


def shade_segments(fig: go.Figure, segments: Sequence[tuple[int, int]]) -> None:
    """Shade every other restart segment so where a run was resumed stands out."""
    if len(segments) < 2:
        return
    for i, (first, last) in enumerate(segments):
        if i % 2 == 1:
            fig.add_vrect(
                x0=first,
                x1=last,
                fillcolor="rgba(120,120,120,0.10)",
                line_width=0,
                annotation_text=f"restart {i}",
                annotation_position="top left",
            )


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
    fig = make_subplots(specs=[[{"secondary_y": lr is not None}]])
    for i, curve in enumerate(curves):
        add_curve(fig, curve, i)
    if lr is not None:
        fig.add_trace(
            go.Scatter(
                x=lr[0], y=lr[1], mode="lines", name="lr", line=dict(color="#777777", width=1, dash="dot")
            ),
            secondary_y=True,
        )
        # Explicit exponents: on a log axis spanning under a decade plotly labels minor ticks as bare digits.
        fig.update_yaxes(title_text="lr", type="log", secondary_y=True, showgrid=False, tickformat=".1e")
    shade_segments(fig, segments)
    fig.update_yaxes(type="log" if log_y else "linear", secondary_y=False)
    fig.update_layout(title=title, height=height, xaxis_title=step_label, **LAYOUT)
    return fig


def side_by_side_figure(
    left: Sequence[Curve],
    right: Sequence[Curve],
    titles: tuple[str, str],
    *,
    log_y: bool = False,
    step_label: str = "step",
    height: int = 380,
) -> go.Figure:
    """Two panels sharing the step axis (e.g. raw on the left, weighted on the right)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, shared_xaxes=True)
    for i, curve in enumerate(left):
        add_curve(fig, curve, i, row=1, col=1)
    for i, curve in enumerate(right):
        add_curve(fig, curve, i, row=1, col=2, show_legend=False)
    fig.update_yaxes(type="log" if log_y else "linear")
    fig.update_xaxes(title_text=step_label)
    fig.update_layout(height=height, **LAYOUT)
    return fig


def stacked_contributions_figure(
    steps: np.ndarray,
    weighted: Mapping[str, np.ndarray],
    *,
    percent: bool = True,
    step_label: str = "step",
    height: int = 340,
) -> go.Figure:
    """Weighted components stacked: their sum is the modelled total; with percent=True, shares of it."""
    fig = go.Figure()
    for i, (name, values) in enumerate(weighted.items()):
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=np.clip(values, 0, None),
                mode="lines",
                name=name,
                stackgroup="total",
                groupnorm="percent" if percent else None,
                line=dict(width=0.5, color=color(i)),
            )
        )
    fig.update_layout(
        title="Weighted contributions" + (" (share of total, %)" if percent else ""),
        height=height,
        xaxis_title=step_label,
        **LAYOUT,
    )
    return fig


def share_bars_figure(
    mean_share: Mapping[str, float], variance_share: Mapping[str, float], height: int = 300
) -> go.Figure:
    """Per component: share of the total's mean vs share of the total's recent step-to-step variance."""
    names = list(mean_share)
    fig = go.Figure(
        [
            go.Bar(
                name="share of mean total",
                x=names,
                y=[100 * mean_share[n] for n in names],
                marker_color=PALETTE[0],
            ),
            go.Bar(
                name="share of the total's step-to-step variance (last half of the run)",
                x=names,
                y=[100 * variance_share.get(n, np.nan) for n in names],
                marker_color=PALETTE[3],
            ),
        ]
    )
    fig.update_layout(
        barmode="group",
        title="Who makes the total, and who makes it jitter",
        yaxis_title="%",
        height=height,
        **LAYOUT,
    )
    return fig


def small_multiples_figure(
    curves: Sequence[Curve], *, columns: int = 3, step_label: str = "step", height_per_row: int = 200
) -> go.Figure:
    """One small panel per curve, each with its own y scale."""
    n = max(len(curves), 1)
    rows = (n + columns - 1) // columns
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[c.name for c in curves],
        horizontal_spacing=0.06,
        vertical_spacing=0.12 if rows > 1 else 0.2,
    )
    for i, curve in enumerate(curves):
        add_curve(fig, curve, i, row=i // columns + 1, col=i % columns + 1, show_legend=False)
    fig.update_layout(
        height=max(rows, 1) * height_per_row + 60,
        showlegend=False,
        **{k: v for k, v in LAYOUT.items() if k != "legend"},
    )
    fig.update_xaxes(title_text=None)
    return fig


def metrics_figure(curves: Sequence[Curve], *, step_label: str = "step", height: int = 320) -> go.Figure:
    """Evaluation metrics (mAP, ST-IoU, …) by step: sparse points, so lines with markers."""
    fig = go.Figure()
    for i, curve in enumerate(curves):
        fig.add_trace(
            go.Scatter(
                x=curve.steps,
                y=curve.values,
                mode="lines+markers",
                name=curve.name,
                line=dict(color=curve.color or color(i), width=1.5, dash=curve.dash),
            )
        )
    fig.update_layout(title="Validation metrics", height=height, xaxis_title=step_label, **LAYOUT)
    return fig
