"""How every chart looks and reads: palette, layout, axis ticks, hover text, and the revision that keeps a
user's view of a chart across reruns (pure: values in, plotly settings out).

Ticks are explicit where plotly's own read badly: on a log axis spanning under a few decades plotly labels
its minor ticks as bare digits ("2, 10, 5, 2, 1, 5…"), and a learning rate's auto ticks land on values like
3.4e-4 with its peak above the top one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import plotly.graph_objects as go

# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
BAND_ALPHA = 0.18
LR_COLOR = "#777777"
# t=80: room for the title above a horizontal legend (at t=40 they overlap).
LAYOUT = dict(
    template="plotly_white",
    margin=dict(l=50, r=20, t=80, b=40),
    hovermode="x unified",
    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
)
# Beyond the outer ticks of a log axis, in decades: the line at a power of ten is not cut by the edge.
LOG_PAD = 0.05
# 4 significant digits: what a loss curve's reader compares (TensorBoard shows 4).
VALUE = ":.4g"


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def rgba(hex_color: str, alpha: float) -> str:
    """'#0072B2' at `alpha` as a CSS rgba() colour."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


# ------------------------------------------------------------------------------------------------ ticks


def tick_label(v: float) -> str:
    """A tick value in at most 4 significant digits, exponents without padding: 0.002, 2e-5, 1e4."""
    text = f"{v:.4g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"


def _positive(values: Iterable[np.ndarray | None]) -> np.ndarray:
    arrays = [np.asarray(v, np.float64).ravel() for v in values if v is not None]
    if not arrays:
        return np.zeros(0)
    joined = np.concatenate(arrays)
    return joined[np.isfinite(joined) & (joined > 0)]


def _even_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """About `count` ticks at multiples of 1, 2 or 5 × 10^k over [lo, hi], one beyond each end."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    size = 10.0 ** math.floor(math.log10(raw))
    step = next(m * size for m in (1, 2, 5, 10) if m * size >= raw)
    first = math.floor(lo / step) - 1
    return [v for v in ((first + i) * step for i in range(count + 4)) if v > 0 and v <= hi + step]


Ticks = tuple[list[float], list[str]]  # tick values and their labels


def log_ticks(values: Iterable[np.ndarray | None], max_ticks: int = 12) -> Ticks | None:
    """Return (tick values, labels) for a log axis over the positive values given: 1–2–5 in each decade,
    or every power of ten (every k-th where that is too many) when 1–2–5 would pass `max_ticks`; each
    label once. None when there is no positive value.

    Ticks cover the data's decades; plotly draws those inside the shown range only.
    """
    pos = _positive(values)
    if not pos.size:
        return None
    lo, hi = float(pos.min()), float(pos.max())
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    between = [m * 10.0**k for k in range(k0, k1 + 1) for m in (1, 2, 5)]
    inside = [v for v in between if lo <= v * (1 + 1e-9) and v <= hi * (1 + 1e-9)]
    if len(inside) < 2:  # narrower than a 1–2–5 step: even steps of a round size (0.52, 0.54, …)
        ticks = _even_ticks(lo, hi)
    elif len(inside) <= max_ticks:
        ticks = between
    else:
        step = max(1, math.ceil((k1 - k0 + 1) / max_ticks))
        ticks = [10.0**k for k in range(k0, k1 + 1) if k % step == 0]
    ticks = [float(f"{v:.12g}") for v in ticks]  # 3 × 0.1 → 0.3, not 0.30000000000000004
    return ticks, [tick_label(v) for v in ticks]


def log_axis(values: Iterable[np.ndarray | None], max_ticks: int = 12) -> dict[str, Any]:
    """plotly settings of a log y axis over `values`: type log and log_ticks' ticks where there are any."""
    ticks = log_ticks(values, max_ticks)
    axis: dict[str, Any] = dict(type="log")
    if ticks is not None:
        axis.update(tickmode="array", tickvals=ticks[0], ticktext=ticks[1])
    return axis


def power_label(k: int) -> str:
    """10^k as "1e-4" ("1" and "10" for k = 0, 1)."""
    return {0: "1", 1: "10"}.get(k, f"1e{k}")


def lr_axis(values: np.ndarray, max_ticks: int = 6) -> dict[str, Any] | None:
    """plotly settings of the learning rate's log axis: ticks at powers of ten only, labelled "1e-4", the
    range from the power of ten at or below the smallest rate to the one at or above the largest (padded by
    LOG_PAD), so the peak lies inside the top tick; no grid, so it is not read against the loss axis'
    gridlines. None when no rate is positive."""
    pos = _positive([values])
    if not pos.size:
        return None
    k0, k1 = math.floor(math.log10(pos.min())), math.ceil(math.log10(pos.max()))
    step = max(1, math.ceil((k1 - k0 + 1) / max_ticks))
    powers = [k for k in range(k0, k1 + 1) if (k - k1) % step == 0]
    return dict(
        type="log",
        range=[k0 - LOG_PAD, k1 + LOG_PAD],
        tickmode="array",
        tickvals=[10.0**k for k in powers],
        ticktext=[power_label(k) for k in powers],
        showgrid=False,
        title_text="lr",
    )


# ------------------------------------------------------------------------------------------------ hover


def step_title(step_label: str) -> dict[str, str]:
    """The header of a unified hover: "step 1,234" (an x axis' `unifiedhovertitle`)."""
    return dict(text=f"{step_label} %{{x:,}}")


def value_hover(name: str, spikes: bool = False) -> str:
    """A plain series' hover row: "bbox (EMA): 0.9255", with " · spike" (the trace's text) where asked."""
    return f"{name}: %{{y{VALUE}}}" + ("%{text}" if spikes else "") + "<extra></extra>"


def reading_hover(name: str, weight: float | None, epoch: bool = False, spikes: bool = False) -> str:
    """A loss component's hover row, "bbox: weighted 0.9255 = raw 0.1234 × 7.5", from customdata columns
    [raw, weighted, epoch]; with the epoch ("· epoch 3") and " · spike" (the trace's text) where asked."""
    times = "" if weight is None else f" × {weight:.4g}"
    row = f"{name}: weighted %{{customdata[1]{VALUE}}} = raw %{{customdata[0]{VALUE}}}{times}"
    if epoch:
        row += " · epoch %{customdata[2]:.4~g}"  # ~: epoch 3, not 3.000
    if spikes:
        row += "%{text}"
    return row + "<extra></extra>"


# ------------------------------------------------------------------------------------------------ views


def view_revision(run_key: str) -> str:
    """A short `uirevision` for a run's charts: the same for the same run whatever the settings."""
    return hashlib.blake2b(run_key.encode(), digest_size=8).hexdigest()


def keep_view(fig: go.Figure, run_key: str, y: str = "") -> go.Figure:
    """Mark `fig` as a view of run `run_key` (layout.uirevision), so a zoom, pan or a trace hidden in the
    legend survives reruns until the run changes; `y` names what the y axes show (e.g. values, scale,
    window): a y zoom survives only while it is the same.

    Plotly keeps a user-changed attribute only while the figure's own value for it is unchanged, so a
    range the figure sets (the loss chart's step window) still applies. Streamlit 1.67 mounts a new plot
    for every changed figure; inspector/ui/keep_views.js carries these revisions over to it.
    """
    rev = view_revision(run_key)
    fig.update_layout(uirevision=rev)
    if y:
        fig.update_yaxes(uirevision=f"{rev}|{y}")
    return fig
