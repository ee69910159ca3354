"""Statistics over one metric's (steps, values): bands, smoothing, trend, spikes, regime changes, volatility,
print precision, shares, downsampling.

Every function is pure, NaN-tolerant (non-finite points are skipped, never propagated into
neighbours) and vectorised: the app runs them on million-step logs at every rerun.
Windows are given in STEPS, not points, so a band means the same thing on a log written every
step and on one written every 20 steps. Spikes and regime changes are judged against local robust
levels (medians of the neighbours on each side), a local robust scale and the print precision of the
values, and not at all on series of fewer than MIN_JUDGED_POINTS points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import ndimage, signal, stats
from tsdownsample import MinMaxLTTBDownsampler, NaNMinMaxLTTBDownsampler

from inspector.loss_evidence import print_bound

if TYPE_CHECKING:
    from inspector.losses import Decomposition

# 1 / Φ⁻¹(3/4) ≈ 1.4826: the MAD of a normal sample × this is its standard deviation.
MAD_TO_STD = float(1.0 / stats.norm.ppf(0.75))


@dataclass(frozen=True)
class Band:
    """A rolling centre line with a lower and upper edge, each (N,) aligned with the input steps."""

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class Volatility:
    """How much a series moves from one logged point to the next, absolute and relative to its level.

    The std-based fields are moved by a single outlier (one spike fired the high-volatility rule); the
    robust ones (median, mad_diff, rel_mad_diff) are not.
    """

    mean: float
    std: float
    diff_std: float  # std of step-to-step differences
    cv: float  # std / |mean|
    rel_diff_std: float  # diff_std / |mean|
    median: float = float("nan")
    mad_diff: float = float("nan")  # 1.4826 × MAD of the step-to-step differences (σ for Gaussian noise)
    rel_mad_diff: float = float("nan")  # mad_diff / |median|
    quantum: float = 0.0  # print step of the values (print_quantum); 0 at full float precision


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


def _regular_stride(steps: np.ndarray) -> int | None:
    """Return the constant step stride, or None when the steps are irregular."""
    if steps.shape[0] < 2:
        return 1
    d = np.diff(steps)
    return int(d[0]) if d[0] > 0 and np.all(d == d[0]) else None


def _window_bounds(
    steps: np.ndarray, window: int, center: bool, at: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return [lo, hi) point indices of the window (in steps) around/ending at each point of `at`."""
    n = steps.shape[0]
    i = np.arange(n) if at is None else np.asarray(at, dtype=np.int64)
    stride = _regular_stride(steps)
    if stride is not None:
        w = max(1, int(round(window / stride)))
        lo = i - (w // 2 if center else w - 1)
        return np.clip(lo, 0, n), np.clip(lo + w, 0, n)
    s = steps.astype(np.int64)
    here = s[i]
    if center:
        lo = np.searchsorted(s, here - window // 2, "left")
        hi = np.searchsorted(s, here + (window - window // 2) - 1, "right")
    else:
        lo = np.searchsorted(s, here - window + 1, "left")
        hi = i + 1
    return lo, hi


def _shift(c: np.ndarray, offset: int, n: int) -> np.ndarray:
    """Return c[clip(i + offset, 0, len(c) - 1)] for i in range(n), built from slices."""
    idx_lo, idx_hi = offset, offset + n
    last = c.shape[0] - 1
    left = max(0, -idx_lo)
    right = max(0, idx_hi - 1 - last)
    mid = c[max(idx_lo, 0) : min(idx_hi, last + 1)]
    if not left and not right:
        return mid
    return np.concatenate((np.full(left, c[0]), mid, np.full(right, c[last])))


def rolling_band(
    steps: np.ndarray,
    values: np.ndarray,
    window: int,
    k: float = 2.0,
    center: bool = False,
    at: np.ndarray | None = None,
) -> Band:
    """Return the rolling mean ± k·std over a window of `window` steps (trailing unless `center`).

    With `at` (point indices, e.g. the ones `downsample` keeps for drawing) the band is returned
    only at those points, which skips most of the work on long logs.
    NaN points are skipped inside windows; a window holding no finite point gives NaN. Window sums
    come from cumulative sums of the mean-centred values: one pass of numpy, measured ~6× faster than
    pandas' rolling mean+std on 1M points, and the same code handles irregular steps via searchsorted.
    """
    steps = np.asarray(steps)
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    all_finite = bool(finite.all())
    ref = float(v.mean() if all_finite else v[finite].mean()) if finite.any() else 0.0
    # Centring on the global mean keeps the cumulative sum of squares from swamping small variances.
    x = v - ref if all_finite else np.where(finite, v - ref, 0.0)
    n_pts = v.size
    c1 = np.zeros(n_pts + 1)
    c2 = np.zeros(n_pts + 1)
    np.cumsum(x, out=c1[1:])
    np.multiply(x, x, out=x)
    np.cumsum(x, out=c2[1:])
    cn = None if all_finite else np.concatenate(([0], np.cumsum(finite)))
    stride = _regular_stride(steps)
    if stride is not None and at is None:
        # Regular steps: windows are fixed offsets, so shifted slices replace gathers (~2× faster).
        w = max(1, int(round(int(window) / stride)))
        a = -(w // 2) if center else -(w - 1)
        if cn is None:
            i = np.arange(n_pts)
            n = (np.minimum(i + a + w, n_pts) - np.maximum(i + a, 0)).astype(np.float64)
        else:
            n = (_shift(cn, a + w, n_pts) - _shift(cn, a, n_pts)).astype(np.float64)
        s1 = _shift(c1, a + w, n_pts) - _shift(c1, a, n_pts)
        s2 = _shift(c2, a + w, n_pts) - _shift(c2, a, n_pts)
    else:
        lo, hi = _window_bounds(steps, int(window), center, at)
        n = (hi - lo if cn is None else cn[hi] - cn[lo]).astype(np.float64)
        s1 = c1[hi] - c1[lo]
        s2 = c2[hi] - c2[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = np.subtract(s2, s1 * mean, out=s2)
        var /= np.maximum(n - 1, 1)
    std = np.sqrt(np.maximum(var, 0.0, out=var), out=var)
    std *= k
    mean += ref
    return Band(mean, mean - std, mean + std)


def _rolling(steps: np.ndarray, values: np.ndarray, window: int, center: bool) -> pd.api.typing.Rolling:
    stride = _regular_stride(np.asarray(steps))
    if stride is not None:
        w = max(1, int(round(window / stride)))
        return pd.Series(values).rolling(w, min_periods=1, center=center)
    # Time-based rolling wants a datetime-like index: steps become nanoseconds of a TimedeltaIndex.
    idx = pd.to_timedelta(np.asarray(steps, dtype=np.int64), unit="ns")
    return pd.Series(values, index=idx).rolling(
        pd.Timedelta(int(window), unit="ns"), min_periods=1, center=center
    )


def quantile_band(
    steps: np.ndarray,
    values: np.ndarray,
    window: int,
    q: tuple[float, float] = (0.1, 0.9),
    center: bool = False,
) -> Band:
    """Return the rolling mean with rolling quantiles `q` as edges, over a window of `window` steps."""
    v = np.asarray(values, dtype=np.float64)
    r = _rolling(steps, v, window, center)
    return Band(r.mean().to_numpy(), r.quantile(q[0]).to_numpy(), r.quantile(q[1]).to_numpy())


def ema_tensorboard(values: np.ndarray, weight: float) -> np.ndarray:
    """Return TensorBoard's classic debiased EMA of `values` with smoothing `weight` in [0, 1].

    Same arithmetic as TensorBoard's scalar dashboard: last = last·w + (1−w)·v and
    out = last / (1 − w^n) over the n finite points so far; non-finite points pass through and do
    not update the state; a constant series is returned as is. Vectorised with scipy's lfilter on
    the finite subsequence (a Python loop over 1M points takes ~0.4 s; this ~10 ms).
    """
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    all_finite = bool(finite.all())
    x = v if all_finite else v[finite]
    if x.size == 0 or np.all(v == v[0]):
        return v.copy()
    w = float(weight)
    last = signal.lfilter([1.0 - w], [1.0, -w], x)
    out = last if all_finite else v.copy()
    if w == 1.0:
        out[finite] = last
        return out
    # Once w**n < 2**-54, 1 - w**n rounds to exactly 1.0: only the head needs the (slow) power.
    head = x.size if w <= 0.0 else min(x.size, int(np.ceil(-54 * np.log(2) / np.log(w))) + 1)
    last[:head] /= 1.0 - np.power(w, np.arange(1, head + 1, dtype=np.float64))
    if not all_finite:
        out[finite] = last
    return out


def ema_time_weighted(steps: np.ndarray, values: np.ndarray, half_life_steps: float) -> np.ndarray:
    """Return an EMA whose memory decays by half every `half_life_steps` steps (for irregular steps).

    s₀ = v₀; sₙ = sₙ₋₁ + αₙ(vₙ − sₙ₋₁) with αₙ = 1 − 2^−(Δstepₙ / half_life). Non-finite points pass
    through. Solved in closed form per block of ≤ 50 half-lives (so 2^50 factors stay exact in float64).
    """
    v = np.asarray(values, dtype=np.float64)
    out = v.copy()
    finite = np.isfinite(v)
    x = v[finite]
    if x.size == 0:
        return out
    t = np.asarray(steps, dtype=np.float64)[finite] / float(half_life_steps)
    alpha = np.empty_like(x)
    alpha[0] = 1.0
    alpha[1:] = -np.expm1(-np.diff(t) * np.log(2.0))
    res = np.empty_like(x)
    block = np.floor((t - t[0]) / 50.0)
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    ends = np.r_[starts[1:], x.size]
    state = 0.0
    for a, b in zip(starts, ends, strict=True):
        g = np.exp2(t[a:b] - t[a])  # ≤ 2^50
        carry = state * (1.0 - alpha[a])  # state decayed to the block's first point
        acc = carry + np.cumsum(alpha[a:b] * x[a:b] * g)
        res[a:b] = acc / g
        state = res[b - 1]
    out[finite] = res
    return out


# --- print precision ----------------------------------------------------------------------------------

# The coarsest print grid that holds at least this share of a series' non-zero values is its quantum. One
# value in ten of a log printed with `%.1f` ends in 0 and reads as an integer (0.6, 0.7, 1.0), so the grid
# is read at the 5th percentile of the per-value steps, well below that 10 %; it also tolerates up to 5 %
# of values written at a finer precision (a full-precision summary row among printed ones).
QUANTUM_FRACTION = 0.95
# A step under 1e-12 of the value is no print format (the longest seen are %.10g and float32's 9-digit
# repr): such values were written at full float64 precision, which print_bound reads as 15 decimals.
FULL_PRECISION_REL = 1e-12
# Values read to find the quantum: the 5th percentile of 4,096 evenly spaced values is off by under
# 0.4 percentage points (binomial SE), and print_bound costs ~0.15 s per million values.
QUANTUM_SAMPLE = 4096


def print_quantum(values: np.ndarray) -> float:
    """Return the step of the grid the series was printed on: 0.1 for `%.1f`, 0.0 for full float precision.

    Each non-zero finite value's own step is 2 × `loss_evidence.print_bound` (one unit in the last
    decimal it needs: 0.6 → 0.1, 0.25 → 0.01, 3.0 → 1); the series' quantum is the coarsest of those
    steps that at least QUANTUM_FRACTION of its values sit on (a step under FULL_PRECISION_REL of the
    value is full precision: 0). Zeros say nothing about the format (0 prints as "0", "0.0" or "0.0000")
    and are skipped; a series with no non-zero value gives 0.0. Long series are read on an evenly spaced
    sample of QUANTUM_SAMPLE values.
    For significant-digit formats (`%.4g`, `%.3e`) the step varies with magnitude and this is the step
    of the smallest values, the conservative choice for a noise floor.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size > QUANTUM_SAMPLE:  # sample first: filtering a million values costs more than reading 4,096
        sample = v[np.linspace(0, v.size - 1, QUANTUM_SAMPLE).astype(np.int64)]
        sample = sample[np.isfinite(sample) & (sample != 0)]
        if sample.size < QUANTUM_SAMPLE // 4:  # mostly zeros or NaN: sample the values that count instead
            sample = v[np.isfinite(v) & (v != 0)]
            keep = np.linspace(0, sample.size - 1, min(sample.size, QUANTUM_SAMPLE)).astype(np.int64)
            sample = sample[keep]
        v = sample
    else:
        v = v[np.isfinite(v) & (v != 0)]
    if v.size == 0:
        return 0.0
    step = 2.0 * print_bound(v)
    step[step <= FULL_PRECISION_REL * np.abs(v)] = 0.0
    j = int(np.floor((1.0 - QUANTUM_FRACTION) * step.size))
    return float(np.partition(step, j)[j])


# --- local levels: the neighbours' medians that spikes and regime changes are judged against ----------

# A loss spike clears its local baseline by at least this share of it (a bad batch is a jump of
# tens of percent or more; epoch-averaged curves wiggle by 1-3 %).
SPIKE_MIN_RISE = 0.1
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
# The spread of D (the difference of the medians of adjacent windows) along the series is read over 20
# windows: D at i and i + 1 share all but two points, so only values a window apart are near independent,
# and 20 of them give a MAD within ~26 %. It catches what a standard error from σ and the window size
# misses, autocorrelated noise (smoothed logs: on AR(1) noise with ρ = 0.9 that SE alone found 3 false
# changes per 1,000 points, measured; with the spread 0.003). Logs shorter than 10 windows go without:
# fewer near-independent values than that give a MAD off by > 37 %, and there D's spread mostly measures
# the curvature of the descent (used on every log, it hid all 8 changes found in tests/samples, the
# close-mosaic drop at epoch 91 of the YOLOv8 results.csv among them, measured).
SPREAD_WINDOWS = 20
MIN_SPREAD_WINDOWS = 10
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
class _Local:
    """A series' finite points with the medians and robust scale every local test reads.

    `med[c + h]` is the median of x over [c − h, c + h] ∩ [0, n) for every centre c in [−h, n + h):
    windows are truncated, never padded, at the ends. So the median of the (up to) w points before
    point i is med[i − 1], of the w points from i on med[i + 2h], of the w points after it med[i + 2h + 1].
    """

    x: np.ndarray  # (n,) finite values
    where: np.ndarray  # (n,) their indices in the input
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
    # rolling median (bottleneck is not installed); its padded ends are replaced by truncated windows.
    out[2 * h : n] = ndimage.median_filter(x, size=w, mode="nearest")[h : n - h]
    ends = np.r_[np.arange(-h, h), np.arange(n - h, n + h)]
    out[ends + h] = _truncated_medians(x, ends, h)
    return out


def _robust_scale(
    values: np.ndarray, block: int, floor: float, pooled_points: int, centred: bool
) -> np.ndarray:
    """Return (n,) a local robust σ of `values`: 1.4826 × MAD per block, pooled over neighbouring blocks.

    Blocks hold `block` points (odd; the last, partial block is measured on the last `block` points).
    Each point takes the median of the blocks' median |value| over the blocks within `pooled_points`
    around its own, at least MIN_POOLED_BLOCKS of them (all blocks when there are fewer); `centred`
    measures |value − the pooled median of the values| instead. At least `floor`. Blocks instead of a
    rolling MAD: one partition per block costs a tenth of a rolling median, and a spike cannot move
    its block's median.
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

    def block_medians(rows: np.ndarray, last: np.ndarray) -> np.ndarray:
        mid = np.partition(rows, k, axis=1)[:, k]
        return np.r_[mid, np.median(last)] if last.size else mid

    if centred:
        centre = pool(block_medians(full, tail))
        full = full - centre[: full.shape[0], None]
        tail = tail - centre[-1]
    mad = pool(block_medians(np.abs(full), np.abs(tail)))
    out = np.repeat(mad, block)[:n]
    out *= MAD_TO_STD
    return np.maximum(out, floor, out=out)


def _local(steps: np.ndarray, values: np.ndarray, window: int | None, quantum: float | None) -> _Local | None:
    """Return the local levels of the finite points of a series, or None when too short to judge."""
    v = np.asarray(values, dtype=np.float64)
    s = np.asarray(steps)
    where = np.flatnonzero(np.isfinite(v))
    n = where.size
    if n < MIN_JUDGED_POINTS:
        return None
    x = v[where] if n < v.size else v
    sf = s[where] if n < v.size else s
    stride = max(1.0, float(sf[-1] - sf[0]) / (n - 1))
    w = local_window(n, stride, window)
    if w < MIN_LOCAL_WINDOW:
        return None
    h = w // 2
    q = print_quantum(x) if quantum is None else float(quantum)
    med = _centred_medians(x, w)
    floor = max(QUANTISATION_STD * q, FLOAT_SCALE_FLOOR * max(float(np.abs(x).max()), 1e-12))
    # Residuals from the neighbours' level: the mean of the medians of the w points before (med[i − 1]) and
    # after (med[i + 2h + 1]) each point, the point itself left out (a centred median includes it, and its
    # pull made the scale read 0.73σ on Gaussian noise at w = 5: 25-point logs flagged 0.2 % of pure-noise
    # points with min_rise 0, measured). Symmetric around the point, so a straight trend leaves no
    # residual. Built in place: this runs on every component of million-step logs.
    residual = np.empty(n)
    residual[0] = x[0]
    residual[1:] = med[: n - 1]
    residual[: n - 1] += med[2 * h + 1 : n + 2 * h]
    residual[n - 1] += x[n - 1]
    residual *= -0.5
    residual += x
    scale = _robust_scale(
        residual,
        max(w, MIN_SCALE_POINTS),
        floor,
        min(SCALE_POINTS, n // LOCAL_WINDOW_FRACTION),
        centred=False,
    )
    return _Local(x, where, w, med, scale, q, floor)


# --- regime changes -------------------------------------------------------------------------------------

# A level change is real when it exceeds 6 × the noise of a difference of two window medians (the spike
# test's k: p ≈ 2e-9 per point under Gaussian noise)...
REGIME_K = 6.0
# ...and a fifth of the larger of the two levels: a lasting move inside the ±10–30% band a mini-batch loss
# wanders in is no regime a reader would act on (a noisy flat stretch turning into a decay read as a "10%
# step" on a synthetic run). Real ones are larger: the sample logs' stage switches measure 21–52% (RTMDet
# −33%, YOLOv8 close_mosaic −53% on box; its dfl moved −12% at the same epoch and is not reported).
REGIME_MIN_CHANGE = 0.2
# Standard error of the median of m normal points: √(π/2)·σ/√m (the median's efficiency is 2/π).
MEDIAN_SE = np.sqrt(np.pi / 2.0)
# A step, not a trend: at least half of the change across a point is left once the trend on either side
# (the change across the adjacent window) is taken off; on a drift d per window a step S passes when S ≥ d.
STEP_SHARE = 0.5
# ...and a jump, not a kink: a straight line fitted (Theil-Sen) to the window on each side and read at
# the split leaves a gap of STEP_SHARE of the change. Where a flat stretch starts to decay (the end of a
# warm-up) the two lines meet at the split; a smooth decay printed with 1 decimal is a staircase whose
# window medians jump by several quanta (a YOLOX cls loss at 1 dp read as "1.6 → 1.2"), but the lines
# through it meet too. A loss switched on, a stage change or an lr step leaves the gap.
# A level is "off" when it is at most 1 % of the level on the other side of the change: a term that small
# adds less to the objective than a per-iteration loss jitters by (2-5 %).
OFF_LEVEL = 0.01


@dataclass(frozen=True)
class RegimeChange:
    """A lasting step change in a series: where, the robust levels either side, and how long the new one held.

    Levels are medians of up to one local window of points on each side, bounded by the neighbouring
    changes. `relative_change` = (after − before) / |before| (±inf when the level before is 0).
    """

    step: int  # the first step at the new level
    index: int  # its index in the input arrays
    level_before: float
    level_after: float
    points_before: int  # finite points since the previous change (or the start)
    points_after: int  # finite points until the next change (or the end): how long the new level held
    relative_change: float

    @property
    def kind(self) -> str:
        """ "on" (from ~0), "off" (to ~0), "up" or "down"."""
        if abs(self.level_before) <= OFF_LEVEL * abs(self.level_after):
            return "on"
        if abs(self.level_after) <= OFF_LEVEL * abs(self.level_before):
            return "off"
        return "up" if self.level_after > self.level_before else "down"


def _change_candidates(lv: _Local, k: float, min_change: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (i, D): the points that open a new level (every test of `regime_changes` passes), D there.

    With B, A the medians of the w points before / from i, BB the w points before B and AA the w after A:
    D = A − B is the level change across i; B − BB and AA − A are the changes across the adjacent windows,
    the local trend on each side.
    """
    med, w, h, n = lv.med, lv.w, lv.h, lv.x.size
    lo, hi = w + MIN_SIDE_POINTS, n - MIN_SIDE_POINTS + 1  # BB holds ≥ 3 points; so does A
    if hi <= lo:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    b = med[lo - 1 : hi - 1]  # med[i − 1]
    a = med[lo + 2 * h : hi + 2 * h]  # med[i + 2h]
    d = a - b
    size = np.abs(d)
    least = np.abs(a)  # built in place: runs on every component
    np.maximum(least, np.abs(b), out=least)
    least *= min_change
    np.maximum(least, np.nextafter(NOISE_QUANTA * lv.quantum, np.inf), out=least)
    ok = size >= least
    if not ok.any():  # the usual case, and the cheap tests: skip the scale of D
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    # Significance: D against the larger of its standard error under independent noise (a median of m
    # points has √(π/2)·σ/√m) and its own spread along the series (SPREAD_WINDOWS).
    i = np.arange(lo, hi)
    se = MEDIAN_SE * lv.scale[lo:hi] * np.sqrt(1.0 / np.minimum(w, i) + 1.0 / np.minimum(w, n - i))
    if n >= MIN_SPREAD_WINDOWS * w:
        block, pooled = max(w, MIN_SCALE_POINTS), SPREAD_WINDOWS * w
        spread = _robust_scale(d, block, lv.floor, pooled, centred=True)
        # Also relative to the level: noise that shrinks with the loss (multiplicative, the usual case)
        # would otherwise be judged early in the run by the spread of its quieter end (0.3 false changes
        # per run on ρ = 0.9 noise whose level fell 4×, measured); the larger of the two is used.
        level = np.maximum(np.abs(a), np.abs(b))
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(level > 0, d / level, 0.0)
        np.maximum(spread, level * _robust_scale(rel, block, 0.0, pooled, centred=True), out=spread)
        np.maximum(se, spread, out=se)
    ok &= size > k * se
    keep = np.flatnonzero(ok)
    i = keep + lo
    b, a, d, size = b[keep], a[keep], d[keep], size[keep]
    # A step, not a trend: on each side, at least STEP_SHARE of D is left once the change across the
    # adjacent window is taken off (and of D's sign). BB always exists here; AA not near the end of the log.
    step_before = d - (b - med[i - w - 1])
    ok = (np.sign(step_before) == np.sign(d)) & (np.abs(step_before) >= STEP_SHARE * size)
    has_aa = n - i - w >= MIN_SIDE_POINTS
    aa = med[np.minimum(i + w + 2 * h, n + 2 * h - 1)]
    step_after = d - (aa - a)
    ok &= ~has_aa | ((np.sign(step_after) == np.sign(d)) & (np.abs(step_after) >= STEP_SHARE * size))
    return i[ok], d[ok]


def _locate(x: np.ndarray, lo: int, hi: int, before: float, after: float) -> int:
    """Return the j in [lo, hi] that best splits x into `before` then `after` (least absolute deviations)."""
    seg = x[lo:hi]
    gain = np.abs(seg - before) - np.abs(seg - after)  # cost change when a point joins "before"
    cost = np.r_[0.0, np.cumsum(gain)]  # cost[j − lo] up to a constant
    return lo + int(np.argmin(cost))


def _gap_at(x: np.ndarray, lo: int, j: int, hi: int) -> float:
    """The jump at point j between Theil-Sen lines through x[lo:j] and x[j:hi], both read at j (by index)."""
    from scipy.stats import theilslopes

    def line_at(seg: np.ndarray, offset: int) -> float:
        if seg.size < 2:
            return float(seg[0])
        fit = theilslopes(seg, np.arange(seg.size, dtype=np.float64))
        return float(fit.intercept + fit.slope * offset)

    before, after = x[lo:j], x[j:hi]
    return line_at(after, 0) - line_at(before, before.size)


def _regime_changes(lv: _Local, steps: np.ndarray, k: float, min_change: float) -> list[RegimeChange]:
    """Return the RegimeChanges of prepared local levels (see `regime_changes`)."""
    at, d = _change_candidates(lv, k, min_change)
    if at.size == 0:
        return []
    x, w, h, n = lv.x, lv.w, lv.h, lv.x.size
    # Passing points of one sign less than a window apart are one change (noise broke the run).
    sign = np.sign(d)
    new_run = np.r_[True, (np.diff(at) >= w) | (sign[1:] != sign[:-1])]
    starts = np.flatnonzero(new_run)
    ends = np.r_[starts[1:], at.size]
    cuts: list[int] = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        peak = int(at[a + int(np.argmax(np.abs(d[a:b])))])
        lo, hi = max(1, int(at[a]) - h), min(n - 1, int(at[b - 1]) + h)
        j = _locate(x, lo, hi, float(lv.med[peak - 1]), float(lv.med[peak + 2 * h]))
        if not cuts or j > cuts[-1]:
            cuts.append(j)
    bounds = [0, *cuts, n]
    out = []
    for m, j in enumerate(cuts):
        prev, nxt = bounds[m], bounds[m + 2]
        lb = float(np.median(x[max(prev, j - w) : j]))
        la = float(np.median(x[j : min(nxt, j + w)]))
        gap = _gap_at(x, max(prev, j - w), j, min(nxt, j + w))
        if abs(gap) < STEP_SHARE * abs(la - lb) or np.sign(gap) != np.sign(la - lb):
            continue  # the lines either side meet: a change of slope (or its print staircase), not of level
        rel = (la - lb) / abs(lb) if lb != 0 else float(np.copysign(np.inf, la - lb)) if la != lb else 0.0
        idx = int(lv.where[j])
        out.append(RegimeChange(int(steps[idx]), idx, lb, la, j - prev, nxt - j, rel))
    return out


def regime_changes(
    steps: np.ndarray,
    values: np.ndarray,
    window: int | None = None,
    k: float = REGIME_K,
    min_change: float = REGIME_MIN_CHANGE,
    *,
    quantum: float | None = None,
) -> list[RegimeChange]:
    """Return the lasting step changes of a series (a loss switched on or off, a stage change), in step order.

    For every point i, the level before is the median of the w points before it and the level after the
    median of the w points from i on (w = `local_window`: 51 points by default, at most a fifth of the run;
    fewer at the ends, never fewer than MIN_SIDE_POINTS). Point i opens a new level when the difference D
    - exceeds k × the larger of its standard error under independent noise, √(π/2)·σ·√(1/n_before +
      1/n_after) with σ the points' local robust scale (see `spike_scan`), and the robust spread of D
      along the series (1.4826 × its MAD over SPREAD_WINDOWS windows, absolute and relative to the
      level; on logs of at least MIN_SPREAD_WINDOWS windows): what differences of window medians of
      this series do without a change, autocorrelated noise included;
    - is at least `min_change` of the larger level and more than NOISE_QUANTA print quanta (`quantum`,
      default `print_quantum(values)`);
    - is a step, not a trend: D less the change across the adjacent window on each side (the w points
      before the before-window; the w points after the after-window, where the log goes on that long)
      keeps D's sign and at least STEP_SHARE of its size. A straight line leaves 0, a decelerating decay
      the opposite sign (so the early descent of a loss is no change), a step S on a drift d per window
      S ≥ d. The window before the before-window must exist, so no change is found in the first w + 3 points;
    - is a jump: Theil-Sen lines through the w points either side, read at the split, leave a gap of
      STEP_SHARE of the change (where a flat stretch starts to decay, or a decay is printed as a staircase,
      the lines meet);
    - persists: the level after is the median of the next w points (all of them, ≥ MIN_SIDE_POINTS, at the
      end of the log), so more than half of them hold it. Shorter excursions are spikes (`spike_scan`).
    Consecutive passing points of one sign are one change, placed where a least-absolute-deviations split
    between the two levels falls. Series with fewer than MIN_JUDGED_POINTS finite points give [].
    """
    s = np.asarray(steps)
    lv = _local(s, values, window, quantum)
    return [] if lv is None else _regime_changes(lv, s, k, min_change)


# --- spikes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpikeScan:
    """Which points are spikes and what each was measured against; arrays (N,) aligned with the input.

    `baseline` is the higher of the levels before and after the point, `threshold` the rise over it a
    point needed; both are NaN where a point was not judged (non-finite, too near an end, or right after a
    regime change).
    """

    mask: np.ndarray
    baseline: np.ndarray
    threshold: np.ndarray
    window: int  # points per side window; 0 when the series was too short to judge
    quantum: float
    changes: tuple[RegimeChange, ...]  # regime changes whose new-level points were not judged


def spike_scan(
    steps: np.ndarray,
    values: np.ndarray,
    window: int | None = None,
    k: float = 6.0,
    min_rise: float = SPIKE_MIN_RISE,
    *,
    changes: Sequence[RegimeChange] | None = None,
    quantum: float | None = None,
) -> SpikeScan:
    """Return the SpikeScan of a series: points far above their neighbours on both sides, that come back.

    A Hampel-type identifier with one-sided baselines. With w the local window (`local_window`: 51 points
    by default, at most a fifth of the run, at least MIN_LOCAL_WINDOW, or `window` steps), point i is a
    spike when

        x_i − max(median of the w points before, median of the w points after) > threshold_i,
        threshold_i = max(k·σ_i, min_rise·|baseline_i|, NOISE_QUANTA·quantum)

    - clearing the level *after* the point too is what makes it an excursion that comes back: a step that
      stays is never a spike, and a point is only judged with half a window (h + 1 ≥ MIN_SIDE_POINTS
      points) on each side;
    - σ_i is 1.4826 × the MAD of the residuals from the neighbours' level (the mean of the medians before
      and after, the point left out) per block of max(w, MIN_SCALE_POINTS) points, the median of those over
      the ~SCALE_POINTS points around i (at most a fifth of the run, at least MIN_POOLED_BLOCKS blocks),
      floored at quantum/√12 (rounding noise) and 1e-9 of the largest |x|;
    - `min_rise`: on a smooth curve (epoch averages) σ collapses and ±1 % wiggles would pass 6σ;
    - where the baseline is exactly 0 the term is off (a gated loss): a point there is never a spike;
    - `quantum` (default `print_quantum(values)`): a move of one or two print quanta is rounding;
    - `changes` (default: `regime_changes` of the same series, same window): the first w points of each new
      level (up to the next change) are not judged; their level before is the old regime's. Pass () to
      judge every point.
    Series with fewer than MIN_JUDGED_POINTS finite points have no spikes.
    """
    s = np.asarray(steps)
    v = np.asarray(values, dtype=np.float64)
    n_in = v.shape[0]
    mask = np.zeros(n_in, dtype=bool)
    baseline = np.full(n_in, np.nan)
    threshold = np.full(n_in, np.nan)
    lv = _local(s, v, window, quantum)
    if lv is None:
        q = print_quantum(v) if quantum is None else float(quantum)
        return SpikeScan(mask, baseline, threshold, 0, q, tuple(changes or ()))
    found = _regime_changes(lv, s, REGIME_K, REGIME_MIN_CHANGE) if changes is None else list(changes)
    x, w, h = lv.x, lv.w, lv.h
    n = x.size
    # Points judged: half a window (h + 1 ≥ MIN_SIDE_POINTS points) on each side, so the level before and
    # the return after are each a median of h + 1 points at least. The first epochs of a run are its
    # noisiest and the pooled scale of a short log is set by its quieter rest: judged against 3 points, an
    # early validation epoch of a 200-epoch YOLO12 log read as a spike (measured).
    lo = max(MIN_SIDE_POINTS, h + 1)
    hi = n - lo
    base = np.maximum(lv.med[lo - 1 : hi - 1], lv.med[lo + 2 * h + 1 : hi + 2 * h + 1])  # before, after
    thr = np.abs(base)
    thr *= min_rise
    np.maximum(thr, k * lv.scale[lo:hi], out=thr)
    np.maximum(thr, NOISE_QUANTA * lv.quantum, out=thr)
    # A level of exactly 0 on both sides is a term that is off there (a gated loss with nothing to gate in,
    # e.g. a contrastive term with no proposal over its IoU gate): a non-zero point is the term switching on
    # for a step, not an excursion from a level, so it is never a spike.
    hit = (x[lo:hi] - base > thr) & (base != 0)
    # The new level's first window: the medians before straddle the change; only the level after is its own.
    pos = np.sort(np.searchsorted(lv.where, [c.index for c in found]))
    for m, j in enumerate(pos.tolist()):
        stop = pos[m + 1] if m + 1 < pos.size else n
        a, b = max(j - lo, 0), max(min(j + w, stop) - lo, 0)
        hit[a:b] = False
        base[a:b] = np.nan
        thr[a:b] = np.nan
    if n == n_in:  # all finite: slices, not scatters
        mask[lo:hi], baseline[lo:hi], threshold[lo:hi] = hit, base, thr
    else:
        at = lv.where[lo:hi]
        mask[at], baseline[at], threshold[at] = hit, base, thr
    return SpikeScan(mask, baseline, threshold, w, lv.quantum, tuple(found))


# --- volatility -----------------------------------------------------------------------------------------


def _median(a: np.ndarray) -> float:
    """Return the median of a non-empty 1-D array (np.median's value).

    np.median partitions an even-sized array around two kth at once: measured 5× slower than one
    partition and a max over the lower half (4.6 vs 0.9 ms on 500k points).
    """
    k = a.size // 2
    part = np.partition(a, k)
    return float(part[k]) if a.size % 2 else 0.5 * (float(part[k]) + float(part[:k].max()))


def volatility(values: np.ndarray) -> Volatility:
    """Return the Volatility of the finite points of `values` (NaN fields when too few).

    The classic fields (std-based) need 2 points; the robust ones need 3 (two differences): `mad_diff` is
    `scipy.stats.median_abs_deviation(Δx, scale="normal")` (1/Φ⁻¹(3/4) × the MAD of the step-to-step changes,
    their standard deviation for Gaussian noise, moved by no single outlier), `rel_mad_diff` is that over
    |median level| (inf when the level is 0 and the series moves, NaN when neither).
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    nan = float("nan")
    quantum = print_quantum(x)
    if x.size < 2:
        return Volatility(
            float(x.mean()) if x.size else nan,
            nan,
            nan,
            nan,
            nan,
            float(x[0]) if x.size else nan,
            nan,
            nan,
            quantum,
        )
    mean = float(x.mean())
    std = float(x.std(ddof=1))
    d = np.diff(x)
    diff_std = float(d.std(ddof=1)) if x.size > 2 else float(abs(x[1] - x[0]))
    level = abs(mean)
    median = _median(x)
    # = scipy.stats.median_abs_deviation(d, scale="normal"), at a fifth of its time (see _median)
    mad_diff = MAD_TO_STD * _median(np.abs(d - _median(d))) if d.size >= 2 else nan
    if median != 0:
        rel_mad = mad_diff / abs(median)
    else:
        rel_mad = float("inf") if mad_diff > 0 else nan
    return Volatility(
        mean,
        std,
        diff_std,
        std / level if level else float("inf"),
        diff_std / level if level else float("inf"),
        median,
        mad_diff,
        rel_mad,
        quantum,
    )


def decorrelation_block(values: np.ndarray) -> int:
    """Return a block length (points) after which block means are nearly uncorrelated.

    The lag-1 autocorrelation ρ is read off the first differences (for AR(1) noise,
    corr(Δxₜ, Δxₜ₋₁) = −(1−ρ)/2), which a linear trend does not bias. The integrated autocorrelation
    time is τ = (1+ρ)/(1−ρ); blocks of 4τ points leave adjacent AR(1) block means correlated by ≈ 0.07.
    """
    # The most recent 100k points estimate ρ to ±0.003; more only costs time.
    x = np.asarray(values, dtype=np.float64)[-100_000:]
    if x.size < 4:
        return 1
    d = np.diff(x)
    d = d - d.mean()
    denom = float(np.dot(d, d))
    if denom == 0.0:
        return 1
    r1 = float(np.dot(d[1:], d[:-1])) / denom
    rho = float(np.clip(1.0 + 2.0 * r1, 0.0, 0.99))
    tau = (1.0 + rho) / (1.0 - rho)
    return max(1, int(np.ceil(4.0 * tau)))


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
    x = s[start:].astype(np.float64).reshape(n_blocks, b).mean(axis=1)
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


def _share_terms(decomposition: Decomposition) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return the terms (weighted components, plus residual when a total was logged) and their total."""
    terms = {c.name: decomposition.weighted[c.name] for c in decomposition.components}
    if np.isfinite(decomposition.logged_total).any():
        terms["residual"] = decomposition.residual
        total = decomposition.logged_total
    else:
        total = decomposition.total
    ok = np.isfinite(total)
    for t in terms.values():
        ok &= np.isfinite(t)
    if ok.all():
        return terms, total
    return {k: t[ok] for k, t in terms.items()}, total[ok]


# The total's step-to-step changes count as "no variance" when their standard deviation is within float
# noise of the terms' magnitude: a few float32 ulps (2^-23 ≈ 1.2e-7 relative each), since values logged from
# float32 tensors carry that much rounding. A real loss moves by 1e-4 of its level or more between logged
# steps (epoch averages); perfectly linear losses gave var(Δtotal) of pure rounding and shares of 9e12 %.
FLOAT_NOISE_REL = 1e-6


def variance_shares(decomposition: Decomposition) -> dict[str, float]:
    """Return each term's share of the total's step-to-step variance: in [0, 1], summing to 1 over the terms.

    Terms are the weighted components plus "residual" when a total was logged, so Δtotal = Σ Δterm and
    var(Δtotal) = Σ_k cov(Δterm_k, Δtotal) (the Euler allocation, which is also the Shapley value of the
    variance). That allocation is right where it matters: independent terms get var(Δterm_k)/var(Δtotal),
    and collinear terms get their share of the amplitude (a term moving 3× another in lockstep carries 3/4,
    a family of copies adds up to its real weight in the total), which var(Δterm_k)/Σ var(Δterm_j) is not.
    Its one flaw is sign: a term that moves against the total (negative covariance) damps the total's noise
    rather than making it, and its negative share pushed the others above 1. So

        share_k = max(c_k, 0) / Σ_j max(c_j, 0),   c_k = cov(Δterm_k, Δtotal)

    which is bounded by construction, sums to 1, and equals the Euler share whenever no term moves against
    the total. All NaN with fewer than 3 rows, or when the total's changes vary by no more than float noise
    (std(Δtotal) ≤ FLOAT_NOISE_REL × the largest |term| or |total|): a straight-line total has no noise
    for anyone to carry.
    """
    terms, total = _share_terms(decomposition)
    nan = {k: float("nan") for k in terms}
    if total.size < 3:
        return nan
    dt = np.diff(total)
    dt -= dt.mean()
    scale = max([float(np.abs(total).max())] + [float(np.abs(t).max()) for t in terms.values()])
    if float(np.sqrt(np.dot(dt, dt) / (dt.size - 1))) <= FLOAT_NOISE_REL * scale:
        return nan
    cov = {}
    for k, t in terms.items():
        d = np.diff(t)
        d -= d.mean()  # centred as well: an uncentred Δterm times Σ Δtotal's rounding error is not 0
        cov[k] = max(float(np.dot(d, dt)), 0.0)
    s = sum(cov.values())
    return {k: c / s for k, c in cov.items()} if s > 0 else nan


def mean_shares(decomposition: Decomposition) -> dict[str, float]:
    """Return each term's share of the objective's mean: in [0, 1], summing to 1 (terms of `variance_shares`).

    share_k = max(m_k, 0) / Σ_j max(m_j, 0) with m_k the term's mean: for non-negative terms with no
    residual, exactly m_k / mean(total). A term with a negative mean, typically a negative residual (the
    weighted components add up to more than the logged total: a weight or a term's semantics is off,
    which the total-mismatch rule reports), takes nothing from the mean and gets 0; the others are
    shares of what the positive terms add up to. All NaN when no term has a positive mean.
    """
    terms, total = _share_terms(decomposition)
    pos = {k: max(float(t.mean()), 0.0) if t.size else 0.0 for k, t in terms.items()}
    s = sum(pos.values())
    if s <= 0.0:
        return {k: float("nan") for k in terms}
    return {k: m / s for k, m in pos.items()}


def downsample(
    steps: np.ndarray, values: np.ndarray, n_out: int, keep: np.ndarray | None = None
) -> np.ndarray:
    """Return sorted indices of ~`n_out` points to draw, always including spikes and the extremes.

    MinMaxLTTB (tsdownsample; its NaN-aware variant when values hold NaN) picks the shape; the
    global min/max and every index in `keep` (default: `spike_scan(steps, values).mask`) are added on top.
    """
    s = np.asarray(steps)
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[0]
    if n <= n_out:
        return np.arange(n)
    finite = np.isfinite(v)
    downsampler = MinMaxLTTBDownsampler() if finite.all() else NaNMinMaxLTTBDownsampler()
    idx = downsampler.downsample(s, v, n_out=int(n_out)).astype(np.int64)
    if keep is None:
        keep = np.flatnonzero(spike_scan(s, v).mask)
    keep = np.asarray(keep)
    extra = [np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64)]
    if finite.any():
        extra.append(np.array([np.nanargmin(v), np.nanargmax(v)], dtype=np.int64))
    return np.union1d(idx, np.concatenate(extra))
