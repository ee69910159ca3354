"""Regime changes: lasting step changes in a series (a loss switched on or off, a stage change)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspector.stats.local import (
    MIN_SCALE_POINTS,
    MIN_SIDE_POINTS,
    NOISE_QUANTA,
    LocalLevels,
    local_levels,
    robust_scale,
)

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
# Points per block of the screen that rules out most of a series before the level-change tests (`_screen`):
# block extremes cost 0.3 ms per million points at 1,024 (0.54 ms at 256, measured), and over 1,024 points
# a loss drifts far less than REGIME_MIN_CHANGE, so the quiet blocks are still ruled out.
SCREEN_BLOCK = 1024


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


def _large(a: np.ndarray, b: np.ndarray, min_change: float, floor: float) -> np.ndarray:
    """Where the change a − b is at least `min_change` of the larger level and at least `floor`."""
    least = np.abs(a)
    np.maximum(least, np.abs(b), out=least)
    least *= min_change
    np.maximum(least, floor, out=least)
    return np.abs(a - b) >= least


def _screen(a: np.ndarray, b: np.ndarray, min_change: float, floor: float) -> np.ndarray:
    """Return the indices where `_large(a, b, …)` may hold: all but the blocks whose extremes rule it out.

    In a block of SCREEN_BLOCK points every |a − b| is at most U = max(max a − min b, max b − min a) and every
    max(|a|, |b|) at least L (the larger of the least |a| and the least |b|; 0 where a range spans 0), so a
    block with U < max(min_change · L, floor) holds no such point. Rounding is monotone, so the bounds hold
    for the computed values too. The last, partial block is always looked at. Four reads of a and b instead
    of eight million-point passes of the test itself (1.3 vs 7 ms per million points, measured).
    """
    nb = a.size // SCREEN_BLOCK
    full = nb * SCREEN_BLOCK
    ab, bb = a[:full].reshape(nb, SCREEN_BLOCK), b[:full].reshape(nb, SCREEN_BLOCK)
    a_hi, a_lo, b_hi, b_lo = ab.max(axis=1), ab.min(axis=1), bb.max(axis=1), bb.min(axis=1)
    most = np.maximum(a_hi - b_lo, b_hi - a_lo)
    least = np.maximum(_least_abs(a_lo, a_hi), _least_abs(b_lo, b_hi))
    blocks = np.flatnonzero(most >= np.maximum(min_change * least, floor))
    inside = (blocks[:, None] * SCREEN_BLOCK + np.arange(SCREEN_BLOCK)).ravel()
    return np.r_[inside, np.arange(full, a.size)]


def _least_abs(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The least |x| over each range [lo, hi]: 0 where it spans 0."""
    return np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))


def _change_candidates(lv: LocalLevels, k: float, min_change: float) -> tuple[np.ndarray, np.ndarray]:
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
    # The cheap tests (size), on the points the block screen leaves: usually none.
    floor = np.nextafter(NOISE_QUANTA * lv.quantum, np.inf)
    look = _screen(a, b, min_change, floor)
    ok = np.zeros(a.size, dtype=bool)
    ok[look] = _large(a[look], b[look], min_change, floor)
    if not ok.any():  # the usual case: skip the scale of D
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    d = a - b
    size = np.abs(d)
    # Significance: D against the larger of its standard error under independent noise (a median of m
    # points has √(π/2)·σ/√m) and its own spread along the series (SPREAD_WINDOWS).
    i = np.arange(lo, hi)
    se = MEDIAN_SE * lv.scale[lo:hi] * np.sqrt(1.0 / np.minimum(w, i) + 1.0 / np.minimum(w, n - i))
    if n >= MIN_SPREAD_WINDOWS * w:
        block, pooled = max(w, MIN_SCALE_POINTS), SPREAD_WINDOWS * w
        spread = robust_scale(d, block, lv.floor, pooled, centred=True)
        # Also relative to the level: noise that shrinks with the loss (multiplicative, the usual case)
        # would otherwise be judged early in the run by the spread of its quieter end (0.3 false changes
        # per run on ρ = 0.9 noise whose level fell 4×, measured); the larger of the two is used.
        level = np.maximum(np.abs(a), np.abs(b))
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(level > 0, d / level, 0.0)
        np.maximum(spread, level * robust_scale(rel, block, 0.0, pooled, centred=True), out=spread)
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


def find_regime_changes(
    lv: LocalLevels, steps: np.ndarray, k: float, min_change: float
) -> list[RegimeChange]:
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
        idx = j if lv.where is None else int(lv.where[j])
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
    lv = local_levels(s, values, window, quantum)
    return [] if lv is None else find_regime_changes(lv, s, k, min_change)
