"""Local levels: the neighbours' medians and the robust scale that spikes and regime changes are judged
against, and the window they are read over."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, stats

from inspector.stats.precision import print_quantum

# 1 / Φ⁻¹(3/4) ≈ 1.4826: the MAD of a normal sample × this is its standard deviation.
MAD_TO_STD = float(1.0 / stats.norm.ppf(0.75))


# The default local window: 51 logged points (a centred median over ±25 points, the historical default).
LOCAL_WINDOW_POINTS = 51
# A local window spans at most a fifth of the run, so a point is always compared with its neighbours and
# never with the run as a whole: with a 51-point window on a 31-point D-FINE epoch log the "baseline" was
# the whole-run median and 29 of the 31 points read as spikes.
LOCAL_WINDOW_FRACTION = 5
# ...and at least 5 points: the median of 5 is not moved by 2 outliers among them (a spike and the
# neighbour it dragged up); Hampel identifiers (Pearson 1999) use windows of 5-7 points for that reason.
MIN_LOCAL_WINDOW = 5
# Hence the fewest finite points on which spikes and regime changes are judged at all: a 5-point window
# that is at most a fifth of the run needs 25. Below that, there are no neighbours to speak of.
MIN_JUDGED_POINTS = LOCAL_WINDOW_FRACTION * MIN_LOCAL_WINDOW
# A level on one side of a point is the median of at least 3 points, the fewest whose median one outlier
# cannot move: a new level must hold that long, a spike's return (half a window) at least that long.
MIN_SIDE_POINTS = 3
# The robust scale is the MAD of the residuals in blocks of at least 25 points, pooled over the ~1,000
# points around each point (the median of the block MADs there), at most a fifth of the run. The
# normal-scaled MAD of n points has a relative standard error of ≈ 1.17/√n (asymptotic efficiency 37 %):
# 16 % for one 51-point block, so ~0.6 % of blocks read below 0.6σ and a 6σ test there passes 3.6σ noise
# (29 of the 69 points flagged on the 1M-point × 8 bench log, 40 planted, were Gaussian noise, measured;
# the median over 5 blocks still let 2 through); the median of ~21 block MADs errs by ~4 %. Not more
# than a fifth of the run, because noise shrinks with the loss: pooled over a whole 1,000-point log whose
# level fell 4×, the quiet end set the scale for the noisy start (0.1 false spikes per run, measured).
MIN_SCALE_POINTS = 25
SCALE_POINTS = 1000
# ...but over 5 blocks at least, whatever the fifth: a level change disturbs the residuals for a window on
# either side of it (2 blocks at most), and the median of 5 ignores 2.
MIN_POOLED_BLOCKS = 5
# A move of one or two print quanta is rounding, never a spike or a new level (a loss printed with 1
# decimal flips 0.6 ↔ 0.7: the MAD collapses to 0 and a 6σ test flagged 380 points). The test sits at
# 2.5 quanta so float rounding of the decimals (0.9 − 0.7 = 0.20000000000000007) cannot tip a two-quantum
# move over it, while three quanta clear it.
NOISE_QUANTA = 2.5
# Rounding to a grid of step q adds variance q²/12 (Sheppard's correction): the robust scale of a printed
# series is never below q/√12, however many of its values are equal.
QUANTISATION_STD = 1.0 / np.sqrt(12.0)
# On flat full-precision stretches (MAD 0) the scale floor is 1e-9 of the series' largest magnitude: far
# above float64 rounding (1e-16), far below any printed precision.
FLOAT_SCALE_FLOOR = 1e-9


@dataclass(frozen=True)
class LocalLevels:
    """A series' finite points with the medians and robust scale every local test reads.

    `med[c + h]` is the median of x over [c − h, c + h] ∩ [0, n) for every centre c in [−h, n + h):
    windows are truncated, never padded, at the ends. So the median of the (up to) w points before
    point i is med[i − 1], of the w points from i on med[i + 2h], of the w points after it med[i + 2h + 1].
    """

    x: np.ndarray  # (n,) finite values
    where: np.ndarray | None  # (n,) their indices in the input; None when every point is finite (x is it)
    w: int  # points per window (odd)
    med: np.ndarray  # (n + 2h,) centred medians, truncated at the ends
    scale: np.ndarray  # (n,) robust σ of the residuals from the neighbours' level (pooled block MADs)
    quantum: float
    floor: float  # the least σ: rounding (quantum/√12) or float resolution

    @property
    def h(self) -> int:
        return self.w // 2


def local_window(n: int, stride: float = 1.0, window: int | None = None) -> int:
    """Return the points (odd) of the local window for a series of n points, or 0 when n is too short.

    `window` is in steps (None: LOCAL_WINDOW_POINTS points); `stride` is the mean step between points.
    The window is at least MIN_LOCAL_WINDOW points and at most n / LOCAL_WINDOW_FRACTION, rounded down
    to odd; a series shorter than MIN_JUDGED_POINTS gets 0 (not judged).
    """
    if n < MIN_JUDGED_POINTS:
        return 0
    w = LOCAL_WINDOW_POINTS if window is None else int(round(window / max(stride, 1e-12)))
    w = min(max(w, MIN_LOCAL_WINDOW), n // LOCAL_WINDOW_FRACTION)
    return w if w % 2 else w - 1


def _truncated_medians(x: np.ndarray, centres: np.ndarray, h: int) -> np.ndarray:
    """Medians of x over [c − h, c + h] ∩ [0, n) for each centre c (a few dozen, at the ends)."""
    idx = centres[:, None] + np.arange(-h, h + 1)  # (C, w)
    inside = (idx >= 0) & (idx < x.size)
    return np.nanmedian(np.where(inside, x[np.clip(idx, 0, x.size - 1)], np.nan), axis=1)


def _centred_medians(x: np.ndarray, w: int) -> np.ndarray:
    """Return (n + 2h,) medians over windows of w points centred at −h … n + h − 1, truncated at the ends."""
    n, h = x.size, w // 2
    out = np.empty(n + 2 * h)
    # scipy's 1-D median filter: 0.04-0.06 s per million points at w = 51, measured ~4× faster than pandas'
    # rolling median and 6× faster than polars' (bottleneck's move_median: as fast); its padded ends are
    # replaced by truncated windows. Written in place: a fresh 8 MB output costs ~1 ms of page faults.
    ndimage.median_filter(x, size=w, mode="nearest", output=out[h : n + h])
    ends = np.r_[np.arange(-h, h), np.arange(n - h, n + h)]
    out[ends + h] = _truncated_medians(x, ends, h)
    return out


def robust_scale(
    values: np.ndarray, block: int, floor: float, pooled_points: int, centred: bool, overwrite: bool = False
) -> np.ndarray:
    """Return (n,) a local robust σ of `values`: 1.4826 × MAD per block, pooled over neighbouring blocks.

    Blocks hold `block` points (odd; the last, partial block is measured on the last `block` points).
    Each point takes the median of the blocks' median |value| over the blocks within `pooled_points`
    around its own, at least MIN_POOLED_BLOCKS of them (all blocks when there are fewer); `centred`
    measures |value − the pooled median of the values| instead. At least `floor`. Blocks instead of a
    rolling MAD: one partition per block costs a tenth of a rolling median, and a spike cannot move
    its block's median. `overwrite`: `values` is the caller's temporary and may be used as scratch (one
    million-point copy less).
    """
    n = values.size
    block = min(block, n if n % 2 else n - 1)
    k = block // 2
    full = values[: n // block * block].reshape(-1, block)  # (blocks, block)
    tail = values[n - block :] if full.size < n else values[:0]  # the last, partial block's points
    pooled = max(MIN_POOLED_BLOCKS, int(np.ceil(pooled_points / block))) | 1

    def pool(per_block: np.ndarray) -> np.ndarray:
        if per_block.size <= pooled:
            return np.full(per_block.size, np.median(per_block))
        return ndimage.median_filter(per_block, size=pooled, mode="mirror")

    def block_medians(rows: np.ndarray, last: np.ndarray, scratch: bool) -> np.ndarray:
        # `scratch`: rows is a temporary of ours, partitioned in place (no second million-point copy)
        if scratch:
            rows.partition(k, axis=1)
        mid = (rows if scratch else np.partition(rows, k, axis=1))[:, k]
        return np.r_[mid, np.median(last)] if last.size else mid

    if centred:
        centre = pool(block_medians(full, tail, scratch=False))
        full = full - centre[: full.shape[0], None]
        tail = tail - centre[-1]
        np.abs(full, out=full)
    elif overwrite:
        tail = np.abs(tail)  # before the full blocks it overlaps are partitioned
        np.abs(full, out=full)
    else:
        full = np.abs(full)
    mad = pool(block_medians(full, np.abs(tail), scratch=True))
    mad *= MAD_TO_STD  # per block, before the repeat: the same numbers for a fraction of the work
    np.maximum(mad, floor, out=mad)
    return np.repeat(mad, block)[:n]


def local_levels(
    steps: np.ndarray, values: np.ndarray, window: int | None, quantum: float | None
) -> LocalLevels | None:
    """Return the local levels of the finite points of a series, or None when too short to judge."""
    v = np.asarray(values, dtype=np.float64)
    s = np.asarray(steps)
    finite = np.isfinite(v)
    where = None if finite.all() else np.flatnonzero(finite)
    n = v.size if where is None else where.size
    if n < MIN_JUDGED_POINTS:
        return None
    x = v if where is None else v[where]
    sf = s if where is None else s[where]
    stride = max(1.0, float(sf[-1] - sf[0]) / (n - 1))
    w = local_window(n, stride, window)
    if w < MIN_LOCAL_WINDOW:
        return None
    h = w // 2
    q = print_quantum(x) if quantum is None else float(quantum)
    med = _centred_medians(x, w)
    floor = max(QUANTISATION_STD * q, FLOAT_SCALE_FLOOR * max(float(x.max()), -float(x.min()), 1e-12))
    # Residuals from the neighbours' level: the mean of the medians of the w points before (med[i − 1]) and
    # after (med[i + 2h + 1]) each point, the point itself left out (a centred median includes it, and its
    # pull made the scale read 0.73σ on Gaussian noise at w = 5: 25-point logs flagged 0.2 % of pure-noise
    # points with min_rise 0, measured). Symmetric around the point, so a straight trend leaves no
    # residual. Built in place: this runs on every component of million-step logs.
    residual = np.empty(n)
    np.add(med[: n - 2], med[2 * h + 2 : n + 2 * h], out=residual[1 : n - 1])
    residual[0] = x[0] + med[2 * h + 1]
    residual[n - 1] = med[n - 2] + x[n - 1]
    residual *= -0.5
    residual += x
    scale = robust_scale(
        residual,
        max(w, MIN_SCALE_POINTS),
        floor,
        min(SCALE_POINTS, n // LOCAL_WINDOW_FRACTION),
        centred=False,
        overwrite=True,
    )
    return LocalLevels(x, where, w, med, scale, q, floor)
