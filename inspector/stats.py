"""Statistics over one metric's (steps, values): bands, smoothing, trend, spikes, shares, downsampling.

Every function is pure, NaN-tolerant (non-finite points are skipped, never propagated into
neighbours) and vectorised: the app runs them on million-step logs at every rerun.
Windows are given in STEPS, not points, so a band means the same thing on a log written every
step and on one written every 20 steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage, signal, stats
from tsdownsample import MinMaxLTTBDownsampler, NaNMinMaxLTTBDownsampler

MAD_TO_STD = 1.4826  # 1 / Φ⁻¹(3/4): MAD of a normal sample × this = its standard deviation.


@dataclass(frozen=True)
class Band:
    """A rolling centre line with a lower and upper edge, each (N,) aligned with the input steps."""

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class Volatility:
    """How much a series moves from one logged point to the next, absolute and relative to its level."""

    mean: float
    std: float
    diff_std: float  # std of step-to-step differences
    cv: float  # std / |mean|
    rel_diff_std: float  # diff_std / |mean|


@dataclass(frozen=True)
class Trend:
    """Monotonic trend of a series: Mann-Kendall on block means plus a Theil-Sen slope with 95% CI.

    Relative numbers are divided by |median level| of the analysed window: `rel_per_1k` is the
    relative change per 1,000 steps, `rel_change` over the analysed window (first to last step).
    """

    direction: str  # "down", "up" or "flat"
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


def _window_bounds(steps: np.ndarray, window: int, center: bool,
                   at: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
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
    mid = c[max(idx_lo, 0):min(idx_hi, last + 1)]
    if not left and not right:
        return mid
    return np.concatenate((np.full(left, c[0]), mid, np.full(right, c[last])))


def rolling_band(steps: np.ndarray, values: np.ndarray, window: int, k: float = 2.0,
                 center: bool = False, at: np.ndarray | None = None) -> Band:
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


def _rolling(steps: np.ndarray, values: np.ndarray, window: int, center: bool):
    stride = _regular_stride(np.asarray(steps))
    if stride is not None:
        w = max(1, int(round(window / stride)))
        return pd.Series(values).rolling(w, min_periods=1, center=center)
    # Time-based rolling wants a datetime-like index: steps become nanoseconds of a TimedeltaIndex.
    idx = pd.to_timedelta(np.asarray(steps, dtype=np.int64), unit="ns")
    return pd.Series(values, index=idx).rolling(pd.Timedelta(int(window), unit="ns"), min_periods=1,
                                                center=center)


def quantile_band(steps: np.ndarray, values: np.ndarray, window: int, q: tuple[float, float] = (0.1, 0.9),
                  center: bool = False) -> Band:
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
    for a, b in zip(starts, ends):
        g = np.exp2(t[a:b] - t[a])  # ≤ 2^50
        carry = state * (1.0 - alpha[a])  # state decayed to the block's first point
        acc = carry + np.cumsum(alpha[a:b] * x[a:b] * g)
        res[a:b] = acc / g
        state = res[b - 1]
    out[finite] = res
    return out


# A loss spike clears its rolling baseline by at least this share of it (a bad batch is a jump of
# tens of percent or more; epoch-averaged curves wiggle by 1-3 %).
SPIKE_MIN_RISE = 0.1


def spikes(steps: np.ndarray, values: np.ndarray, window: int | None = None, k: float = 6.0,
           min_rise: float = SPIKE_MIN_RISE) -> np.ndarray:
    """Return a bool mask (N,) of points more than k·MAD·1.4826 above the rolling median.

    The baseline is a centred rolling median over `window` steps (default: 51 logged points). The MAD
    is the median |deviation| per block of that many points — a block-wise scale instead of a second
    rolling median halves the cost and still ignores a spike inside its own block. A spike is a jump up
    (a loss's bad batch), and it must also clear the baseline by `min_rise` of the baseline's size: on a
    smooth curve (epoch averages) the rolling median of a monotone stretch is the point itself, the MAD
    collapses, and ±1 % wiggles would otherwise pass 6σ (measured on every epoch-level sample log).
    Points in the first half-window are never flagged.
    """
    s = np.asarray(steps)
    v = np.asarray(values, dtype=np.float64)
    mask = np.zeros(v.shape[0], dtype=bool)
    finite = np.flatnonzero(np.isfinite(v))
    if finite.size < 20:  # too few points for a local median and a scale to mean anything
        return mask
    x = v[finite] if finite.size < v.size else v
    sf = s[finite] if finite.size < v.size else s
    stride = max(1.0, float(sf[-1] - sf[0]) / (sf.size - 1))
    w = 51 if window is None else max(3, int(round(window / stride)))
    w = min(w | 1, (x.size - 1) | 1)
    baseline = ndimage.median_filter(x, size=w, mode="nearest")
    rise = x - baseline
    dev = np.abs(rise)
    # Floor for flat stretches (MAD 0): any move beyond 1e-9 of the series' scale counts.
    floor = 1e-9 * max(float(np.abs(x).max()), 1e-12)
    hit = np.empty(dev.size, dtype=bool)
    n_full = (dev.size // w) * w
    if n_full:  # w is odd: the middle order statistic is the block median
        blocks = dev[:n_full].reshape(-1, w)
        mad = np.partition(blocks, w // 2, axis=1)[:, w // 2]
        thr = k * np.maximum(MAD_TO_STD * mad, floor)
        hit[:n_full] = (blocks > thr[:, None]).ravel()
    if n_full < dev.size:
        mad_tail = float(np.median(dev[max(0, dev.size - w):]))
        hit[n_full:] = dev[n_full:] > k * max(MAD_TO_STD * mad_tail, floor)
    hit &= rise > min_rise * np.abs(baseline)
    # The first half-window has no centred baseline: the steep early descent of a loss would read as spikes.
    hit[: w // 2] = False
    mask[finite] = hit
    return mask


def volatility(values: np.ndarray) -> Volatility:
    """Return the Volatility of the finite points of `values` (NaN fields when fewer than 2)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        nan = float("nan")
        return Volatility(float(x.mean()) if x.size else nan, nan, nan, nan, nan)
    mean = float(x.mean())
    std = float(x.std(ddof=1))
    diff_std = float(np.diff(x).std(ddof=1)) if x.size > 2 else float(abs(x[1] - x[0]))
    level = abs(mean)
    return Volatility(mean, std, diff_std, std / level if level else float("inf"),
                      diff_std / level if level else float("inf"))


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


def trend(steps: np.ndarray, values: np.ndarray, last_n: int | None = None,
          max_blocks: int = 200, min_blocks: int = 8) -> Trend:
    """Return the Trend of the series over all steps, or over the last `last_n` steps.

    Points are averaged in blocks of the decorrelation length (see `decorrelation_block`), at most
    `max_blocks` blocks (Theil-Sen is O(blocks²)) and at least `min_blocks` when there are enough
    points; Mann-Kendall (scipy's kendalltau of block mean vs block centre) gives p and direction at
    α = 0.05; Theil-Sen (scipy's theilslopes) gives the slope and its 95% CI.
    """
    s, v = _finite(steps, values)
    if last_n is not None and s.size:
        keep = s > s[-1] - int(last_n)
        s, v = s[keep], v[keep]
    nan = float("nan")
    if v.size < 6:
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
    direction = "flat" if p >= 0.05 else ("down" if tau < 0 else "up")
    return Trend(direction, p, tau, slope, low, high, slope * 1000 / scale, low * 1000 / scale,
                 high * 1000 / scale, slope * span / scale, level, int(s[0]), int(s[-1]), b, n_blocks)


def _share_terms(decomposition) -> tuple[dict[str, np.ndarray], np.ndarray]:
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


def variance_shares(decomposition) -> dict[str, float]:
    """Return each term's share of the total's step-to-step variance: cov(Δterm, Δtotal) / var(Δtotal).

    Terms are the weighted components plus "residual" when a total was logged; because
    Δtotal = ΣΔterm the shares sum to 1 (a share can be negative: that term moves against the rest).
    """
    terms, total = _share_terms(decomposition)
    if total.size < 3:
        return {k: float("nan") for k in terms}
    dt = np.diff(total)
    dt = dt - dt.mean()
    var = float(np.dot(dt, dt))
    if var == 0.0:
        return {k: float("nan") for k in terms}
    return {k: float(np.dot(np.diff(t), dt)) / var for k, t in terms.items()}


def mean_shares(decomposition) -> dict[str, float]:
    """Return each term's share of the total's mean (same terms as `variance_shares`; sums to 1)."""
    terms, total = _share_terms(decomposition)
    m = float(total.mean()) if total.size else 0.0
    if m == 0.0:
        return {k: float("nan") for k in terms}
    return {k: float(t.mean()) / m for k, t in terms.items()}


def downsample(steps: np.ndarray, values: np.ndarray, n_out: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Return sorted indices of ~`n_out` points to draw, always including spikes and the extremes.

    MinMaxLTTB (tsdownsample; its NaN-aware variant when values hold NaN) picks the shape; the
    global min/max and every index in `keep` (default: `spikes(steps, values)`) are added on top.
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
        keep = np.flatnonzero(spikes(s, v))
    keep = np.asarray(keep)
    extra = [np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64)]
    if finite.any():
        extra.append(np.array([np.nanargmin(v), np.nanargmax(v)], dtype=np.int64))
    return np.union1d(idx, np.concatenate(extra))
