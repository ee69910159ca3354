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


@dataclass(frozen=True)
class Shares:
    """One group of bars: each term's share (K,) of a whole, in [0, 1], with an optional interval (lo, hi),
    (K,) each (NaN: none)."""

    name: str
    shares: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None


def gradient_shares_figure(
    terms: Sequence[str],
    groups: Sequence[Shares],
    *,
    title: str = "Share of the shared-layer gradient",
    interval: str = "95% CI",
    height: int = 360,
) -> go.Figure:
    """Per term, one bar per group (e.g. per checkpoint) of its share in %, with the interval as error bars,
    and a dotted line at the equal share 100/K."""
    fig = go.Figure()
    for i, g in enumerate(groups):
        y = 100 * np.asarray(g.shares, np.float64)
        error = None
        if g.lo is not None and g.hi is not None:
            error = dict(
                type="data",
                symmetric=False,
                array=100 * np.asarray(g.hi, np.float64) - y,
                arrayminus=y - 100 * np.asarray(g.lo, np.float64),
                thickness=1.5,
                width=6,
            )
        fig.add_trace(
            go.Bar(
                name=g.name,
                x=list(terms),
                y=y,
                error_y=error,
                marker_color=color(i),
                hovertemplate="%{x}: %{y:.1f}%<extra>" + g.name + "</extra>",
            )
        )
    if terms:
        fig.add_hline(
            y=100 / len(terms),
            line_dash="dot",
            line_color="#777777",
            annotation_text="equal share",
            annotation_position="top right",
        )
    has_interval = any(g.lo is not None for g in groups)
    fig.update_layout(
        barmode="group",
        title=title + (f" (error bars: {interval})" if has_interval else ""),
        yaxis_title="%",
        height=height,
        **{**LAYOUT, "hovermode": "closest"},
    )
    return fig


def cosine_heatmap_figure(
    terms: Sequence[str],
    cosine: np.ndarray,
    conflict_rate: np.ndarray,
    episodes: np.ndarray,
    *,
    title: str = "Gradient cosines · episodes where they point apart",
    height: int = 380,
) -> go.Figure:
    """A (K, K) heatmap of the terms' mean gradient cosines (NaN cells, e.g. the diagonal, left blank),
    coloured on a scale symmetric about 0 (red: apart), each cell labelled with its cosine and the share of
    its `episodes` where the cosine was negative."""
    cos = np.asarray(cosine, np.float64)
    rate = np.asarray(conflict_rate, np.float64)
    n = np.asarray(episodes)
    finite = np.abs(cos[np.isfinite(cos)])
    bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    text = [
        [
            ""
            if not np.isfinite(cos[i, j])
            else f"{cos[i, j]:+.2f}<br>{100 * rate[i, j]:.0f}% of {int(n[i, j])}"
            for j in range(cos.shape[1])
        ]
        for i in range(cos.shape[0])
    ]
    fig = go.Figure(
        go.Heatmap(
            z=cos,
            x=list(terms),
            y=list(terms),
            text=text,
            texttemplate="%{text}",
            colorscale="RdBu",
            zmin=-bound,
            zmax=bound,
            colorbar=dict(title="cosine"),
            customdata=np.stack([100 * rate, n.astype(np.float64)], axis=-1),  # (K, K, 2)
            hovertemplate="%{y} · %{x}<br>mean cosine %{z:+.3f}<br>apart on %{customdata[0]:.0f}% of "
            "%{customdata[1]} episodes<extra></extra>",
            hoverongaps=False,
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title=title,
        height=height,
        **{k: v for k, v in LAYOUT.items() if k not in ("legend", "hovermode")},
    )
    return fig


def error_breakdown_figure(daps: Mapping[str, Mapping[str, float]], height: int = 320) -> go.Figure:
    """TIDE's dAP per error type, one bar group per side ({side: {error type: dAP}}; a side named "" is
    the only one): the AP@0.5 fixing each kind of error would gain."""
    fig = go.Figure(
        [
            go.Bar(
                name=side or "dAP",
                x=list(values),
                y=[100 * v for v in values.values()],
                marker_color=color(i),
                hovertemplate="%{x}: dAP %{y:.2f} AP points<extra>" + (side or "") + "</extra>",
            )
            for i, (side, values) in enumerate(daps.items())
        ]
    )
    fig.update_layout(
        barmode="group",
        title="AP@0.5 gained by fixing each kind of error (TIDE dAP)",
        yaxis_title="AP points",
        showlegend=len(daps) > 1,
        height=height,
        **{k: v for k, v in LAYOUT.items() if k != "hovermode"},
    )
    return fig


def pr_curves_figure(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float | None]]], title: str, height: int = 380
) -> go.Figure:
    """Precision over recall, one line per {name: (recall, precision)}; missing precision (beyond a class's
    highest recall) is a gap."""
    fig = go.Figure(
        [
            go.Scatter(
                x=list(recall),
                y=[np.nan if p is None else p for p in precision],
                mode="lines",
                name=name,
                line=dict(color=color(i)),
            )
            for i, (name, (recall, precision)) in enumerate(curves.items())
        ]
    )
    fig.update_layout(
        title=title,
        xaxis_title="recall",
        yaxis_title="precision",
        xaxis_range=[0, 1],
        yaxis_range=[0, 1.02],
        height=height,
        **{k: v for k, v in LAYOUT.items() if k != "hovermode"},
    )
    return fig


def confusion_figure(
    labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str, height: int = 420
) -> go.Figure:
    """A confusion matrix (rows true, columns predicted, each with a background entry last) as counts on a
    heatmap; the colour is each row's share, so rare classes read as clearly as common ones."""
    counts = np.asarray(matrix, np.float64).reshape(len(labels), len(labels))
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=list(labels),
            y=list(labels),
            text=counts.astype(np.int64),
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar=dict(title="row share"),
            hovertemplate="true %{y} · predicted %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="true")
    fig.update_xaxes(title="predicted")
    fig.update_layout(
        title=title, height=height, **{k: v for k, v in LAYOUT.items() if k not in ("legend", "hovermode")}
    )
    return fig


def coverage_figure(
    mean_positives: Mapping[str, float], starved_fraction: Mapping[str, float], height: int = 340
) -> go.Figure:
    """Per group (a size bucket or a class): mean positive anchors per target (bars, left axis) and the share
    of its targets that are starved (markers, right axis)."""
    names = list(mean_positives)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            name="positives per target",
            x=names,
            y=[mean_positives[n] for n in names],
            marker_color=PALETTE[0],
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            name="starved share",
            x=names,
            y=[100 * starved_fraction.get(n, np.nan) for n in names],
            mode="markers",
            marker=dict(color=PALETTE[3], size=10, symbol="diamond"),
        ),
        secondary_y=True,
    )
    fig.update_yaxes(title_text="positives per target", secondary_y=False)
    fig.update_yaxes(title_text="starved %", range=[0, 100], secondary_y=True)
    fig.update_layout(
        title="Assignment coverage", height=height, **{k: v for k, v in LAYOUT.items() if k != "hovermode"}
    )
    return fig
