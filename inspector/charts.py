"""Pure chart builders: arrays in, plotly Figure out (no Streamlit, no statistics here).

The loss-curve figures (one set of axes, side by side, per-component panels) live in
inspector/curve_charts.py, the palette, layout, ticks and hover text in inspector/chart_style.py; their
names are re-exported here. This module holds the other figures: contributions, shares, metrics, gradient
shares and cosines, TIDE, PR curves, confusion matrices, coverage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from inspector.chart_style import BAND_ALPHA as BAND_ALPHA
from inspector.chart_style import LAYOUT as LAYOUT
from inspector.chart_style import PALETTE as PALETTE
from inspector.chart_style import color as color
from inspector.chart_style import step_title, value_hover
from inspector.curve_charts import Curve as Curve
from inspector.curve_charts import Panel as Panel
from inspector.curve_charts import Reading as Reading
from inspector.curve_charts import add_curve as add_curve
from inspector.curve_charts import curves_figure as curves_figure
from inspector.curve_charts import panels_figure as panels_figure
from inspector.curve_charts import shade_segments as shade_segments
from inspector.curve_charts import side_by_side_figure as side_by_side_figure
from inspector.curve_charts import small_multiples_figure as small_multiples_figure


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
                hovertemplate=f"{name}: %{{y:.4g}}<extra></extra>",
                meta=name,
            )
        )
    fig.update_xaxes(unifiedhovertitle=step_title(step_label))
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
                hovertemplate="share of mean total: %{y:.3g}%<extra></extra>",
                meta="mean",
            ),
            go.Bar(
                name="share of the total's step-to-step variance (last half of the run)",
                x=names,
                y=[100 * variance_share.get(n, np.nan) for n in names],
                marker_color=PALETTE[3],
                hovertemplate="share of step-to-step variance: %{y:.3g}%<extra></extra>",
                meta="variance",
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
                hovertemplate=value_hover(curve.name),
                meta=curve.name,
            )
        )
    fig.update_xaxes(unifiedhovertitle=step_title(step_label))
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
