"""Spikes: points far above their neighbours on both sides that come back down (a Hampel-type test)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inspector.stats.local import MIN_SIDE_POINTS, NOISE_QUANTA, local_levels
from inspector.stats.precision import print_quantum
from inspector.stats.regimes import REGIME_K, REGIME_MIN_CHANGE, RegimeChange, find_regime_changes

# A loss spike clears its local baseline by at least this share of it (a bad batch is a jump of
# tens of percent or more; epoch-averaged curves wiggle by 1-3 %).
SPIKE_MIN_RISE = 0.1


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
    lv = local_levels(s, v, window, quantum)
    if lv is None:
        q = print_quantum(v) if quantum is None else float(quantum)
        nan = np.full(n_in, np.nan)
        return SpikeScan(np.zeros(n_in, dtype=bool), nan, nan.copy(), 0, q, tuple(changes or ()))
    found = find_regime_changes(lv, s, REGIME_K, REGIME_MIN_CHANGE) if changes is None else list(changes)
    x, w, h = lv.x, lv.w, lv.h
    n = x.size
    # Points judged: half a window (h + 1 ≥ MIN_SIDE_POINTS points) on each side, so the level before and
    # the return after are each a median of h + 1 points at least. The first epochs of a run are its
    # noisiest and the pooled scale of a short log is set by its quieter rest: judged against 3 points, an
    # early validation epoch of a 200-epoch YOLO12 log read as a spike (measured).
    lo = max(MIN_SIDE_POINTS, h + 1)
    hi = n - lo
    mask, baseline, threshold = _outputs(n_in, lo, hi, all_finite=lv.where is None)
    # All finite: the judged points are one slice of the outputs, so they are computed in place (each
    # fresh million-point temporary costs ~1 ms of page faults); else in temporaries scattered at the end.
    if lv.where is None:
        hit, base, thr = mask[lo:hi], baseline[lo:hi], threshold[lo:hi]
    else:
        hit, base, thr = np.empty(hi - lo, dtype=bool), np.empty(hi - lo), np.empty(hi - lo)
    scratch = np.empty(hi - lo)
    np.maximum(lv.med[lo - 1 : hi - 1], lv.med[lo + 2 * h + 1 : hi + 2 * h + 1], out=base)  # before, after
    np.abs(base, out=thr)
    thr *= min_rise
    np.maximum(thr, np.multiply(lv.scale[lo:hi], k, out=scratch), out=thr)
    np.maximum(thr, NOISE_QUANTA * lv.quantum, out=thr)
    # A level of exactly 0 on both sides is a term that is off there (a gated loss with nothing to gate in,
    # e.g. a contrastive term with no proposal over its IoU gate): a non-zero point is the term switching on
    # for a step, not an excursion from a level, so it is never a spike.
    np.greater(np.subtract(x[lo:hi], base, out=scratch), thr, out=hit)
    passed = np.flatnonzero(hit)  # few: the zero-level test is read there only
    hit[passed[base[passed] == 0]] = False
    # The new level's first window: the medians before straddle the change; only the level after is its own.
    pos = np.array([c.index for c in found], dtype=np.int64)
    pos = np.sort(pos if lv.where is None else np.searchsorted(lv.where, pos))
    for m, j in enumerate(pos.tolist()):
        stop = pos[m + 1] if m + 1 < pos.size else n
        a, b = max(j - lo, 0), max(min(j + w, stop) - lo, 0)
        hit[a:b] = False
        base[a:b] = np.nan
        thr[a:b] = np.nan
    if lv.where is not None:
        at = lv.where[lo:hi]
        mask[at], baseline[at], threshold[at] = hit, base, thr
    return SpikeScan(mask, baseline, threshold, w, lv.quantum, tuple(found))


def _outputs(n: int, lo: int, hi: int, all_finite: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (mask, baseline, threshold) for n points: False and NaN outside [lo, hi), and everywhere
    unless `all_finite` (then [lo, hi) is left for the caller to fill)."""
    mask = np.zeros(n, dtype=bool)
    if not all_finite:
        return mask, np.full(n, np.nan), np.full(n, np.nan)
    baseline, threshold = np.empty(n), np.empty(n)
    for a in (baseline, threshold):
        a[:lo] = np.nan
        a[hi:] = np.nan
    return mask, baseline, threshold
