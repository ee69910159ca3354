"""The fast paths inside inspector/stats: each gives what the plain computation it replaces gives.

The block screen of the regime test, window sums over a few windows, the chunked stride check, in-place
scratch use (robust scale, volatility), the finite-sum shortcut of the shares.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import median_abs_deviation

from inspector import stats
from inspector.losses import Component, Decomposition
from inspector.stats import local, noise, regimes, shares, smoothing


def _large_by_hand(a: np.ndarray, b: np.ndarray, min_change: float, floor: float) -> np.ndarray:
    return np.abs(a - b) >= np.maximum(min_change * np.maximum(np.abs(a), np.abs(b)), floor)


@pytest.mark.parametrize("seed", range(6))
def test_screen_keeps_every_point_that_passes(seed):
    rng = np.random.default_rng(seed)
    n = 10_000 + seed * 777
    level = rng.choice([1.0, -1.0, 1e-6, 1e6]) * (1 + 0.3 * rng.normal(size=n).cumsum() / np.sqrt(n))
    a = level * (1 + 0.05 * rng.normal(size=n))
    b = level * (1 + 0.05 * rng.normal(size=n))
    b[rng.integers(0, n, 20)] *= rng.choice([0.0, -1.0, 3.0], 20)  # zeros, sign flips, jumps
    a[n // 2 :] += rng.normal() * 0.5 * abs(level[n // 2])  # a level change in the middle
    for min_change, floor in [(0.2, 0.0), (0.2, 1e-3), (0.0, 0.0), (1.0, 0.0)]:
        exact = np.flatnonzero(_large_by_hand(a, b, min_change, floor))
        looked = regimes._screen(a, b, min_change, floor)
        assert set(exact.tolist()) <= set(looked.tolist())
        np.testing.assert_array_equal(
            regimes._large(a, b, min_change, floor), _large_by_hand(a, b, min_change, floor)
        )


def test_screen_rules_out_quiet_blocks_and_always_looks_at_the_tail():
    rng = np.random.default_rng(1)
    n = 5 * regimes.SCREEN_BLOCK + 17
    a = 1.0 + 0.01 * rng.normal(size=n)
    b = 1.0 + 0.01 * rng.normal(size=n)
    a[2 * regimes.SCREEN_BLOCK + 5] = 2.0  # one change of 100 % in the third block
    looked = regimes._screen(a, b, 0.2, 0.0)
    third = np.arange(2 * regimes.SCREEN_BLOCK, 3 * regimes.SCREEN_BLOCK)
    tail = np.arange(5 * regimes.SCREEN_BLOCK, n)
    np.testing.assert_array_equal(looked, np.r_[third, tail])


def test_least_abs_of_ranges():
    lo = np.array([1.0, -3.0, -5.0, 0.0])
    hi = np.array([4.0, 2.0, -2.0, 0.0])
    np.testing.assert_array_equal(regimes._least_abs(lo, hi), [1.0, 0.0, 2.0, 0.0])


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("regular", [False, True])
def test_rolling_band_at_points_equals_the_full_band(center, regular):
    rng = np.random.default_rng(3)
    n = 40_000
    steps = np.arange(0, 2 * n, 2) if regular else np.cumsum(rng.integers(1, 5, n))
    v = 100.0 + rng.normal(0, 1, n)
    v[rng.integers(0, n, 50)] = np.nan
    at = np.r_[0, 1, rng.integers(0, n, 300), n - 1, 17, 17]  # unsorted, repeated, both ends
    full = stats.rolling_band(steps, v, 500, center=center)
    part = stats.rolling_band(steps, v, 500, center=center, at=at)
    for got, want in [(part.mean, full.mean), (part.lower, full.lower), (part.upper, full.upper)]:
        np.testing.assert_allclose(got, want[at], rtol=1e-9)


def test_band_at_a_point_does_not_depend_on_the_other_points():
    """A zoomed view and the whole run draw the same band where they meet: bit for bit."""
    rng = np.random.default_rng(8)
    v = 1.0 + 0.1 * rng.normal(size=30_000)
    steps = np.arange(v.size)
    few = np.array([5, 999, 12_345, 29_999])
    many = np.union1d(few, rng.integers(0, v.size, 3000))
    a = stats.rolling_band(steps, v, 400, at=few)
    b = stats.rolling_band(steps, v, 400, at=many)
    where = np.searchsorted(many, few)
    for got, want in [(a.mean, b.mean[where]), (a.lower, b.lower[where]), (a.upper, b.upper[where])]:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 1000, 1024])
def test_prefix_sums_by_hand(n):
    x = np.random.default_rng(n).normal(size=n)
    points = np.unique(np.r_[0, n, np.random.default_rng(0).integers(0, n + 1, 40)])
    np.testing.assert_allclose(smoothing._prefix_sums(x, points), [x[:p].sum() for p in points], atol=1e-12)
    finite = np.arange(n) % 3 != 0
    np.testing.assert_array_equal(smoothing._prefix_sums(finite, points), [finite[:p].sum() for p in points])
    assert smoothing._prefix_sums(x, np.zeros(0, dtype=np.int64)).size == 0


def test_window_sums_by_hand():
    x = np.arange(10, dtype=np.float64) ** 2
    lo, hi = np.array([0, 3, 3, 9, 5]), np.array([4, 3, 10, 10, 6])
    got = smoothing._window_sums(x, *smoothing._bounds(lo, hi))
    np.testing.assert_array_equal(got, [x[a:b].sum() for a, b in zip(lo, hi, strict=True)])


def test_regular_stride_reads_every_chunk():
    n = 3 * smoothing.CHUNK + 5
    steps = np.arange(n, dtype=np.int64) * 4
    assert smoothing._regular_stride(steps) == 4
    for at in (1, smoothing.CHUNK, smoothing.CHUNK + 1, n - 1):  # a gap at each chunk edge and at the end
        gapped = steps.copy()
        gapped[at:] += 1
        assert smoothing._regular_stride(gapped) is None
    assert smoothing._regular_stride(steps[::-1]) is None
    assert smoothing._regular_stride(steps[:1]) == 1


def test_robust_scale_overwriting_its_input_gives_the_same_scale():
    rng = np.random.default_rng(4)
    values = rng.normal(size=10_037)
    kept = values.copy()
    plain = local.robust_scale(values, 51, 1e-9, 1000, centred=False)
    np.testing.assert_array_equal(values, kept)  # untouched unless told
    scratch = local.robust_scale(values, 51, 1e-9, 1000, centred=False, overwrite=True)
    np.testing.assert_array_equal(scratch, plain)


def test_local_levels_of_a_finite_series_has_no_index_map():
    x = np.random.default_rng(5).normal(size=300)
    assert local.local_levels(np.arange(300), x, None, None).where is None
    x[7] = np.nan
    lv = local.local_levels(np.arange(300), x, None, None)
    assert lv.where is not None and 7 not in lv.where and lv.x.size == 299


@pytest.mark.parametrize("n", [2, 3, 4, 5, 1000, 100_001])
def test_std_and_median_are_numpys(n):
    a = np.random.default_rng(n).normal(size=n)
    assert noise._std(a, np.empty(n)) == float(a.std(ddof=1))
    b = a.copy()
    assert noise._median(b, overwrite=True) == float(np.median(a))
    assert noise._median(a) == float(np.median(a))


def test_volatility_leaves_its_input_alone_and_equals_the_reference():
    x = 2.0 + np.random.default_rng(6).normal(size=20_001).cumsum() * 0.01
    x[[5, 600]] = np.nan
    kept = x.copy()
    v = stats.volatility(x)
    np.testing.assert_array_equal(x, kept)
    f = x[np.isfinite(x)]
    assert v.std == float(f.std(ddof=1)) and v.diff_std == float(np.diff(f).std(ddof=1))
    assert v.median == float(np.median(f))
    assert v.mad_diff == pytest.approx(median_abs_deviation(np.diff(f), scale="normal"), rel=1e-12)


def _decomposition(a: np.ndarray, b: np.ndarray, logged: np.ndarray) -> Decomposition:
    comps = (Component("a", "loss/a", 1.0, "weighted"), Component("b", "loss/b", 1.0, "weighted"))
    total = a + b
    return Decomposition(
        np.arange(a.size), comps, {"a": a, "b": b}, {"a": a, "b": b}, total, logged, logged - total
    )


def test_shares_skip_rows_where_any_term_is_not_finite():
    rng = np.random.default_rng(7)
    a, b = 1.0 + rng.normal(0, 0.1, 500), 3.0 + rng.normal(0, 0.3, 500)
    logged = a + b + 0.5
    clean = _decomposition(a[2:], b[2:], logged[2:])
    a2 = a.copy()
    a2[:2] = [np.nan, np.inf]
    dirty = _decomposition(a2, b, logged)
    assert stats.mean_shares(dirty) == pytest.approx(stats.mean_shares(clean), rel=1e-12)
    assert stats.variance_shares(dirty) == pytest.approx(stats.variance_shares(clean), rel=1e-12)
    assert shares._abs_max(np.array([-5.0, 2.0])) == 5.0 and shares._abs_max(np.array([1.0, 4.0])) == 4.0
