"""Trend: Mann-Kendall on decorrelated block means and a Theil-Sen slope with its 95% CI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from inspector.stats.noise import decorrelation_block

Direction = Literal["down", "up", "flat"]


@dataclass(frozen=True)
class Trend:
    """Monotonic trend of a series: Mann-Kendall on block means plus a Theil-Sen slope with 95% CI.

    Relative numbers are divided by |median level| of the analysed window: `rel_per_1k` is the
    relative change per 1,000 steps, `rel_change` over the analysed window (first to last step).
    """

    direction: Direction  # at the alpha it was computed with
    p_value: float
    tau: float
    slope: float  # value units per step
    slope_low: float
    slope_high: float
    rel_per_1k: float
    rel_per_1k_low: float
    rel_per_1k_high: float
    rel_change: float
    level: float
    first_step: int
    last_step: int
    block_size: int  # points per block
    n_blocks: int


def _finite(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(values, dtype=np.float64)
    s = np.asarray(steps)
    keep = np.isfinite(v)
    if keep.all():
        return s, v
    return s[keep], v[keep]


# Mann-Kendall on fewer than 6 points cannot reach p < 0.05 at all (n = 5: the smallest two-sided p is 0.083).
MIN_TREND_POINTS = 6


def trend(
    steps: np.ndarray,
    values: np.ndarray,
    last_n: int | None = None,
    max_blocks: int = 200,
    min_blocks: int = 8,
    alpha: float = 0.05,
) -> Trend:
    """Return the Trend of the series over all steps, or over the last `last_n` steps.

    Points are averaged in blocks of the decorrelation length (see `decorrelation_block`), at most
    `max_blocks` blocks (Theil-Sen is O(blocks²)) and at least `min_blocks` when there are enough
    points; Mann-Kendall (scipy's kendalltau of block mean vs block centre) gives p and direction at
    `alpha` (the rules pass Thresholds.trend_alpha); Theil-Sen (scipy's theilslopes) gives the slope and
    its 95% CI.
    """
    s, v = _finite(steps, values)
    if last_n is not None and s.size:
        keep = s > s[-1] - int(last_n)
        first = int(keep.argmax())
        if keep[first:].all():  # increasing steps: the last steps are a suffix, taken as views
            s, v = s[first:], v[first:]
        else:
            s, v = s[keep], v[keep]
    nan = float("nan")
    if v.size < MIN_TREND_POINTS:
        first = int(s[0]) if s.size else 0
        last = int(s[-1]) if s.size else 0
        level = float(np.median(v)) if v.size else nan
        return Trend("flat", nan, nan, nan, nan, nan, nan, nan, nan, nan, level, first, last, 1, int(v.size))
    b = decorrelation_block(v)
    b = max(b, int(np.ceil(v.size / max_blocks)))
    if v.size // b < min_blocks:
        b = max(1, v.size // min_blocks)
    n_blocks = v.size // b
    # Drop the oldest remainder so the newest points are always in a full block.
    start = v.size - n_blocks * b
    y = v[start:].reshape(n_blocks, b).mean(axis=1)
    x = s[start:].reshape(n_blocks, b).mean(axis=1, dtype=np.float64)
    tau, p = stats.kendalltau(x, y)
    tau, p = float(tau), float(p)
    if not np.isfinite(p):  # a constant series has no trend
        tau, p = 0.0, 1.0
    ts = stats.theilslopes(y, x, alpha=0.95)
    slope, low, high = float(ts.slope), float(ts.low_slope), float(ts.high_slope)
    level = float(np.median(y))  # median of block means: the level without a 1M-point sort
    scale = abs(level) if level != 0 else float("nan")
    span = float(s[-1] - s[0])
    direction: Direction = "flat" if p >= alpha else ("down" if tau < 0 else "up")
    return Trend(
        direction,
        p,
        tau,
        slope,
        low,
        high,
        slope * 1000 / scale,
        low * 1000 / scale,
        high * 1000 / scale,
        slope * span / scale,
        level,
        int(s[0]),
        int(s[-1]),
        b,
        n_blocks,
    )
