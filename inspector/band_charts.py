"""Pure plotly builders for many runs: one mean line and one filled band per group (arrays in, figure out).

Apart from `inspector/charts.py` (one run's curves) but in its look: the same palette, layout and SVG
traces. A group's band is two traces, its upper edge (no line) and its lower edge filled up to it
(`fill="tonexty"`), drawn before its mean line, all three in one legend group, so clicking a group's name
hides its band with its line. A group of one run draws its line; its band is empty (a single run has
no spread).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from inspector.charts import BAND_ALPHA, LAYOUT, color
from inspector.sweep.bands import BAND_LABELS, Band, BandKind

# The band in a chart title: "eval/map50: each group's mean, ± 1 std across its runs".
BAND_TITLES: dict[BandKind, str] = {"std": "± 1 std", "minmax": "min to max"}


@dataclass(frozen=True)
class GroupBand:
    """One group to draw: its name and its band of one metric."""

    name: str
    band: Band


def rgba(hex_color: str, alpha: float) -> str:
    """'#0072B2' at `alpha` as a CSS rgba() colour."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _finite_or_none(x: np.ndarray) -> list[float | None]:
    """Values for plotly: NaN becomes None, which plotly leaves as a gap."""
    return [float(v) if np.isfinite(v) else None for v in x]


def add_group_band(fig: go.Figure, group: GroupBand, i: int, kind: BandKind) -> None:
    """Draw one group on `fig`: band upper edge, filled lower edge, then the mean line (hover: count)."""
    b, c = group.band, color(i)
    label = BAND_LABELS[kind]
    steps = b.steps.tolist()
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=_finite_or_none(b.upper(kind)),
            mode="lines",
            line=dict(width=0, color=c),
            hoverinfo="skip",
            showlegend=False,
            legendgroup=group.name,
            name=f"{group.name} {label} upper",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=_finite_or_none(b.lower(kind)),
            mode="lines",
            line=dict(width=0, color=c),
            fill="tonexty",
            fillcolor=rgba(c, BAND_ALPHA),
            hoverinfo="skip",
            showlegend=False,
            legendgroup=group.name,
            name=f"{group.name} {label}",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=_finite_or_none(b.mean),
            mode="lines",
            line=dict(width=2, color=c),
            legendgroup=group.name,
            name=f"{group.name} (n={b.members})",
            customdata=b.count,
            hovertemplate=f"{group.name}: %{{y:.4g}} (%{{customdata}} runs)<extra></extra>",
        )
    )


def bands_figure(
    groups: Sequence[GroupBand],
    kind: BandKind,
    metric: str,
    *,
    step_label: str = "step",
    log_y: bool = False,
    height: int = 460,
) -> go.Figure:
    """One mean line and one filled `kind` band per group, for `metric`."""
    fig = go.Figure()
    for i, group in enumerate(groups):
        if len(group.band):
            add_group_band(fig, group, i, kind)
    fig.update_layout(
        **LAYOUT,
        height=height,
        title=f"{metric}: each group's mean, {BAND_TITLES[kind]} across its runs",
        xaxis_title=step_label,
        yaxis_title=metric,
    )
    if log_y:
        fig.update_yaxes(type="log")
    return fig
