"""Statistics: TensorBoard-identical EMA, bands, trend, spikes, regime changes, print quantum, volatility,
shares, spike-keeping downsampling. Each number is checked against an independent computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from inspector import stats
from inspector.loss_semantics import discover_components
from inspector.losses import Component, Decomposition, decompose
from inspector.runlog.record import assemble


def _tensorboard_reference(values, w):
    """TensorBoard's scalar-dashboard smoothing loop, written out point by point."""
    last, num_acc, out = 0.0, 0, []
    for v in values:
        if not np.isfinite(v):
            out.append(v)
            continue
        last = last * w + (1 - w) * v
        num_acc += 1
        debias = 1.0 if w == 1 else 1 - w**num_acc
        out.append(last / debias)
    return np.array(out)


@pytest.mark.parametrize("w", [0.0, 0.6, 0.9, 0.999])
def test_ema_equals_tensorboard_loop(w):
    rng = np.random.default_rng(3)
    v = rng.normal(1.0, 0.3, 2000)
    v[[0, 5, 6, 700, 1999]] = [np.nan, np.inf, np.nan, -np.inf, np.nan]
    got = stats.ema_tensorboard(v, w)
    ref = _tensorboard_reference(v, w)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert np.isnan(got[0]) and got[5] == np.inf


def test_ema_time_weighted_matches_loop_on_irregular_steps():
    rng = np.random.default_rng(4)
    steps = np.cumsum(rng.integers(1, 30, 3000))
    v = rng.normal(2.0, 0.5, 3000)
    v[100] = np.nan
    h = 7.0
    got = stats.ema_time_weighted(steps, v, h)
    s, prev, ref = None, None, []
    for t, x in zip(steps, v, strict=True):
        if not np.isfinite(x):
            ref.append(x)
            continue
        s = x if s is None else s + (1 - 2 ** (-(t - prev) / h)) * (x - s)
        prev = t
        ref.append(s)
    np.testing.assert_allclose(got, np.array(ref), rtol=1e-9, atol=1e-12)


def test_rolling_band_regular_matches_pandas_and_skips_nan():
    rng = np.random.default_rng(5)
    v = rng.normal(10, 2, 500)
    v[50] = np.nan
    steps = np.arange(0, 5000, 10)
    band = stats.rolling_band(steps, v, window=200, k=2.0)  # 20 points
    r = pd.Series(v).rolling(20, min_periods=1)
    np.testing.assert_allclose(band.mean, r.mean(), atol=1e-9)
    std = r.std().fillna(0).to_numpy()
    np.testing.assert_allclose(band.upper - band.mean, 2 * std, atol=1e-9)


def test_rolling_band_irregular_uses_steps_not_points():
    steps = np.array([0, 1, 2, 100, 101, 102])
    v = np.array([1.0, 1.0, 1.0, 5.0, 5.0, 5.0])
    band = stats.rolling_band(steps, v, window=10)
    assert band.mean[3] == 5.0  # step 100's window (91..100) holds no early point
    q = stats.quantile_band(steps, v, window=10)
    assert q.lower[3] == 5.0 and q.upper[2] == 1.0


def test_trend_detects_planted_slope():
    rng = np.random.default_rng(6)
    steps = np.arange(5000)
    v = 2.0 - 0.0001 * steps + rng.normal(0, 0.1, steps.size)  # −0.1 per 1k steps on a level ~1.75
    tr = stats.trend(steps, v)
    assert tr.direction == "down" and tr.p_value < 0.01
    assert tr.slope_low < -0.0001 < tr.slope_high
    assert tr.rel_per_1k == pytest.approx(-0.1 / 1.75, rel=0.2)


def test_trend_flat_on_ar1_noise_in_most_seeds():
    flat = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        e = rng.normal(0, 1, 4000)
        x = np.empty_like(e)
        x[0] = e[0]
        for i in range(1, e.size):
            x[i] = 0.9 * x[i - 1] + e[i]
        tr = stats.trend(np.arange(x.size), 10 + 0.1 * x)
        flat += tr.p_value > 0.05
    assert flat >= 16


def test_trend_last_n_window():
    steps = np.arange(2000)
    v = np.where(steps < 1000, 5.0 - steps * 0.004, 1.0) + np.random.default_rng(7).normal(0, 0.01, 2000)
    assert stats.trend(steps, v).direction == "down"
    assert stats.trend(steps, v, last_n=1000).direction == "flat"


def test_spikes_found_and_none_on_clean_noise():
    rng = np.random.default_rng(8)
    steps = np.arange(20000)
    v = np.exp(-steps / 8000) * (1 + 0.05 * rng.normal(size=steps.size))
    assert not stats.spike_scan(steps, v).mask.any()
    v[[1234, 9000, 15000]] *= 4
    assert np.flatnonzero(stats.spike_scan(steps, v).mask).tolist() == [1234, 9000, 15000]


def test_volatility():
    vol = stats.volatility(np.array([1.0, 3.0, 1.0, 3.0, np.nan]))
    assert vol.mean == 2.0
    assert vol.diff_std == pytest.approx(np.std([2, -2, 2], ddof=1))
    assert vol.rel_diff_std == pytest.approx(vol.diff_std / 2)


def test_shares_sum_to_one():
    rng = np.random.default_rng(9)
    n = 1000
    cols = {"loss/bbox": rng.uniform(0.5, 1, n), "loss/cls": rng.uniform(0.5, 1, n)}
    cols["loss/total"] = 7.5 * cols["loss/bbox"] + 0.5 * cols["loss/cls"] + rng.normal(0, 0.01, n)
    log = assemble("s", "t", "native", np.arange(n), cols, config={"loss_weights": {"bbox": 7.5, "cls": 0.5}})
    dec = decompose(log, discover_components(log))
    vs, ms = stats.variance_shares(dec), stats.mean_shares(dec)
    assert set(vs) == {"bbox", "cls", "residual"}
    assert sum(vs.values()) == pytest.approx(1.0)
    assert sum(ms.values()) == pytest.approx(1.0)
    assert vs["bbox"] > 0.95 and ms["bbox"] > 0.85


def test_downsample_keeps_extremes_and_spikes():
    rng = np.random.default_rng(10)
    n = 1_000_000
    steps = np.arange(n)
    v = np.exp(-steps / 3e5) + 0.02 * rng.normal(size=n)
    planted = [123_457, 500_001, 777_777]
    v[planted] += 0.6
    v[5] = np.nan
    idx = stats.downsample(steps, v, 2000)
    assert idx.size < 2600
    assert np.all(np.diff(idx) > 0)
    assert set(planted) <= set(idx.tolist())
    assert np.nanargmax(v) in idx and np.nanargmin(v) in idx


@pytest.mark.parametrize(
    "steps", [np.arange(0, 3000, 3), np.cumsum(np.random.default_rng(11).integers(1, 9, 1000))]
)
def test_rolling_band_at_points_equals_full_band(steps):
    v = np.random.default_rng(12).normal(5, 1, steps.size)
    v[17] = np.nan
    full = stats.rolling_band(steps, v, window=60, center=True)
    at = np.array([0, 17, 18, 500, steps.size - 1])
    part = stats.rolling_band(steps, v, window=60, center=True, at=at)
    np.testing.assert_allclose(part.mean, full.mean[at], atol=1e-12)
    np.testing.assert_allclose(part.upper, full.upper[at], atol=1e-12)


def test_spikes_are_rises_that_clear_the_baseline_by_a_tenth():
    # An epoch-averaged loss: a smooth decay with ±1 % wiggles is not spiky.
    steps = np.arange(200)
    smooth = 2.0 * np.exp(-steps / 60) + 0.5
    wiggly = smooth * (1 + 0.01 * np.sin(steps * 1.7))
    assert not stats.spike_scan(steps, wiggly).mask.any()
    v = wiggly.copy()
    v[120] *= 1.5  # a bad epoch: a spike
    v[150] *= 0.5  # a dip (an easy batch) is not a spike
    v[170] *= 1.05  # 5 % up: under the level before it, and within the 10 % floor
    assert np.flatnonzero(stats.spike_scan(steps, v).mask).tolist() == [120]


def test_min_rise_is_what_stops_a_small_bump_on_a_smooth_curve():
    # Flat ±1 % wiggles: robust σ ≈ 1.4826 × 0.01 × median|sin| ≈ 0.0105, so 6σ ≈ 0.063 < an 8 % bump < 10 %.
    steps = np.arange(300)
    v = 1.0 + 0.01 * np.sin(steps * 1.7)
    v[150] += 0.08
    assert not stats.spike_scan(steps, v).mask.any()
    assert np.flatnonzero(stats.spike_scan(steps, v, min_rise=0.0).mask).tolist() == [150]


# --- print precision -------------------------------------------------------------------------------------


@pytest.mark.parametrize("decimals, expected", [(0, 1.0), (1, 0.1), (2, 0.01), (4, 1e-4)])
def test_print_quantum_of_rounded_series(decimals, expected):
    v = np.round(np.random.default_rng(20).uniform(0.2, 3.0, 5000), decimals)
    assert stats.print_quantum(v) == pytest.approx(expected, rel=1e-12)


def test_print_quantum_full_precision_zeros_and_strays():
    rng = np.random.default_rng(21)
    assert stats.print_quantum(rng.normal(1, 0.1, 1000)) == 0.0  # full float precision
    assert stats.print_quantum(np.zeros(100)) == 0.0  # nothing but zeros: no evidence
    assert stats.print_quantum(np.array([np.nan, np.inf])) == 0.0
    # A loss switched on late: 285 zeros say nothing about the format;
    # the 15 values printed with 3 decimals do.
    late = np.r_[np.zeros(285), np.round(rng.uniform(1, 2, 15), 3)]
    assert stats.print_quantum(late) == pytest.approx(1e-3)
    # 3 % of values at full precision among %.1f ones: the grid still holds 97 % ≥ QUANTUM_FRACTION.
    mixed = np.round(rng.uniform(0.2, 3.0, 1000), 1)
    mixed[::33] = rng.uniform(0.2, 3.0, mixed[::33].size)
    assert stats.print_quantum(mixed) == pytest.approx(0.1)
    mixed[::5] = rng.uniform(0.2, 3.0, mixed[::5].size)  # 20 %: no longer one grid
    assert stats.print_quantum(mixed) == 0.0


def test_print_quantum_reads_a_sample_of_long_series():
    v = np.round(np.random.default_rng(22).uniform(0, 5, 2_000_000), 2)
    assert stats.print_quantum(v) == pytest.approx(0.01)


# --- local window --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, window, stride, expected",
    [
        (10, None, 1, 0),
        (20, None, 1, 0),
        (24, None, 1, 0),  # below MIN_JUDGED_POINTS: not judged
        (25, None, 1, 5),
        (31, None, 1, 5),
        (40, None, 1, 7),  # a fifth of the run, rounded down to odd
        (200, None, 1, 39),
        (1000, None, 1, 51),
        (10**6, None, 1, 51),
        (1000, 110, 10, 11),
        (1000, 120, 10, 11),
        (1000, 10, 10, 5),
        (1000, 10**5, 10, 199),
    ],
)
def test_local_window(n, window, stride, expected):
    assert stats.local_window(n, stride, window) == expected


# --- spikes: an independent, loop-by-loop reference ----------------------------------------------------


def _reference_scan(x, w, k=6.0, min_rise=0.1, q=0.0):
    """(mask, baseline, threshold) of the spike test written
    out point by point (finite x, no regime changes)."""
    n, h = x.size, w // 2
    pre = np.array([x[0] if i == 0 else np.median(x[max(0, i - w) : i]) for i in range(n)])
    post = np.array([x[-1] if i == n - 1 else np.median(x[i + 1 : i + 1 + w]) for i in range(n)])
    residual = np.abs(x - (pre + post) / 2)
    block = min(max(w, 25), n if n % 2 else n - 1)
    starts = list(range(0, n - block + 1, block))
    mads = [np.median(residual[s : s + block]) for s in starts]
    if starts[-1] + block < n:
        mads.append(np.median(residual[n - block :]))
    pooled = max(5, int(np.ceil(min(1000, n // 5) / block))) | 1
    nb, r = len(mads), pooled // 2
    if nb <= pooled:
        pooled_mad = [np.median(mads)] * nb
    else:  # scipy's "mirror" ends: d c b | a b c d | c b a
        mirror = [abs(j) if j < 0 else (2 * (nb - 1) - j if j >= nb else j) for j in range(-r, nb + r)]
        pooled_mad = [np.median([mads[mirror[b + o + r]] for o in range(-r, r + 1)]) for b in range(nb)]
    floor = max(q / np.sqrt(12), 1e-9 * np.abs(x).max())
    normal = 1 / norm.ppf(0.75)  # MAD → σ for normal noise
    sigma = np.array([max(normal * pooled_mad[min(i // block, nb - 1)], floor) for i in range(n)])
    lo = max(3, h + 1)
    mask, base, thr = np.zeros(n, bool), np.full(n, np.nan), np.full(n, np.nan)
    for i in range(lo, n - lo):
        base[i] = max(pre[i], post[i])
        thr[i] = max(k * sigma[i], min_rise * abs(base[i]), 2.5 * q)
        mask[i] = x[i] - base[i] > thr[i]
    return mask, base, thr


@pytest.mark.parametrize("n", [40, 125, 300, 3000])
def test_spike_scan_matches_the_reference(n):
    rng = np.random.default_rng(n)
    steps = np.arange(n)
    x = (0.3 + np.exp(-steps / (n / 3))) * (1 + 0.05 * rng.normal(size=n))
    planted = [n // 3, n // 2 + 1, (4 * n) // 5]
    x[planted] *= 3
    scan = stats.spike_scan(steps, x, changes=())
    w = stats.local_window(n)
    mask, base, thr = _reference_scan(x, w)
    assert scan.window == w and scan.quantum == 0.0
    np.testing.assert_array_equal(scan.mask, mask)
    np.testing.assert_allclose(scan.baseline, base, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(scan.threshold, thr, rtol=1e-12, equal_nan=True)
    assert np.flatnonzero(scan.mask).tolist() == planted


def test_spike_scan_matches_the_reference_on_a_printed_series():
    rng = np.random.default_rng(30)
    steps = np.arange(400)
    x = np.round(1.0 + 0.04 * rng.normal(size=400), 2)
    x[200] += 0.5
    scan = stats.spike_scan(steps, x, changes=())
    mask, base, thr = _reference_scan(x, 51, q=0.01)
    assert scan.quantum == pytest.approx(0.01)
    np.testing.assert_array_equal(scan.mask, mask)
    np.testing.assert_allclose(scan.baseline, base, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(scan.threshold, thr, rtol=1e-12, equal_nan=True)


def test_spike_of_known_height_among_known_noise():
    # Gaussian noise σ = 0.01 on a level of 1: the baseline is the medians' max, the threshold 6σ̂ < 0.1·level.
    rng = np.random.default_rng(31)
    steps = np.arange(0, 50_000, 10)  # a point every 10 steps
    x = 1.0 + 0.01 * rng.normal(size=steps.size)
    x[2500] += 0.2  # 20 σ
    x[3700] += 0.04  # 4 σ: noise-sized, and under the 10 % floor
    scan = stats.spike_scan(steps, x)
    assert np.flatnonzero(scan.mask).tolist() == [2500]
    assert scan.baseline[2500] == max(np.median(x[2449:2500]), np.median(x[2501:2552]))
    assert scan.threshold[2500] == pytest.approx(0.1 * scan.baseline[2500])
    # The robust σ itself: 6σ̂ must be within 10 % of 6 × 0.01 (it is below the 10 % floor here).
    six_sigma = stats.spike_scan(steps, x, min_rise=0.0).threshold[2500]
    assert six_sigma == pytest.approx(0.06, rel=0.1)


@pytest.mark.parametrize("n, judged", [(10, False), (20, False), (24, False), (25, True), (40, True)])
def test_spikes_need_enough_points(n, judged):
    steps = np.arange(n)
    x = 1.0 + 0.005 * np.sin(steps * 2.1)
    x[n // 2] = 2.0
    scan = stats.spike_scan(steps, x)
    assert scan.mask.tolist() == [judged and i == n // 2 for i in range(n)]
    assert scan.window == (0 if not judged else stats.local_window(n))
    assert np.isnan(scan.baseline).all() != judged


def test_short_epoch_log_is_compared_with_its_neighbours_not_the_run():
    # 31 epochs of a decaying loss with 1 % noise: the old whole-run window flagged 29 of 31 points.
    steps = np.arange(31)
    x = (2.0 * np.exp(-steps / 8) + 0.8) * (1 + 0.01 * np.random.default_rng(32).normal(size=31))
    assert not stats.spike_scan(steps, x).mask.any()
    x[15] *= 1.5
    assert np.flatnonzero(stats.spike_scan(steps, x).mask).tolist() == [15]
    # Its baseline is the larger of the medians of the 5 epochs before and the 5 after.
    assert stats.spike_scan(steps, x).baseline[15] == max(np.median(x[10:15]), np.median(x[16:21]))


def test_one_or_two_print_quanta_are_never_spikes():
    # Printed with 1 decimal: a level of 0.6 that reads 0.7
    # a third of the time, and 0.8 (2 quanta) now and then.
    rng = np.random.default_rng(33)
    n = 2000
    x = np.where(rng.uniform(size=n) < 0.3, 0.7, 0.6)
    x[rng.choice(n, 20, replace=False)] = 0.8
    x[1000] = 1.0  # 4 quanta: a spike
    steps = np.arange(n)
    scan = stats.spike_scan(steps, x)
    assert scan.quantum == pytest.approx(0.1)
    assert np.flatnonzero(scan.mask).tolist() == [1000]
    judged = np.isfinite(scan.threshold)
    np.testing.assert_allclose(scan.threshold[judged], 0.25)  # 2.5 quanta > 6σ̂ (σ̂ floored at 0.1/√12)
    # Without the print floor every 0.7 and 0.8 is a "spike": the MAD is 0 (the failure this guards against).
    assert stats.spike_scan(steps, x, quantum=0.0).mask.sum() > 100


def test_a_step_that_stays_is_not_a_spike_and_one_that_comes_back_is():
    rng = np.random.default_rng(34)
    steps = np.arange(4000)
    noise = 0.01 * rng.normal(size=4000)
    stays = np.where(steps < 2000, 1.0, 1.6) + noise
    assert not stats.spike_scan(steps, stays, changes=()).mask.any()
    back = 1.0 + noise
    back[2000:2003] += 0.6  # three points up, then back down
    assert np.flatnonzero(stats.spike_scan(steps, back).mask).tolist() == [2000, 2001, 2002]


def test_a_loss_switched_on_late_is_a_regime_change_not_a_spike():
    # YOLOX turns its L1 loss on for the last 15 of 300 epochs, from exactly 0.
    steps = np.arange(300)
    x = np.zeros(300)
    x[285:] = 1.9 * np.exp(-np.arange(15) / 20)
    scan = stats.spike_scan(steps, x)
    assert not scan.mask.any()
    assert len(scan.changes) == 1 and scan.changes[0].index == 285 and scan.changes[0].kind == "on"


def test_points_right_after_a_regime_change_are_not_judged():
    # A second-stage loss switched on mid-run that decays fast: its first point towers over the level after.
    steps = np.arange(300)
    x = np.zeros(300)
    x[150:] = 1.9 * np.exp(-np.arange(150) / 5) + 0.3
    scan = stats.spike_scan(steps, x)
    assert not scan.mask.any()
    assert [(c.index, c.kind) for c in scan.changes] == [(150, "on")]
    assert np.isnan(scan.baseline[150 : 150 + scan.window]).all() and np.isfinite(scan.baseline[149])
    # Judged anyway (no changes excluded), the switch-on reads as the run's largest spike.
    assert stats.spike_scan(steps, x, changes=()).mask[150]


def test_spikes_skip_nan_and_map_back_to_input_indices():
    rng = np.random.default_rng(35)
    steps = np.arange(600)
    x = 1.0 + 0.01 * rng.normal(size=600)
    x[::7] = np.nan
    x[300] = 1.5
    scan = stats.spike_scan(steps, x)
    assert np.flatnonzero(scan.mask).tolist() == [300]
    assert np.isnan(scan.baseline[::7]).all()
    finite = np.flatnonzero(np.isfinite(x))
    j = int(np.searchsorted(finite, 300))
    assert scan.baseline[300] == max(np.median(x[finite[j - 51 : j]]), np.median(x[finite[j + 1 : j + 52]]))


# --- regime changes ------------------------------------------------------------------------------------


def test_regime_change_at_a_known_step():
    rng = np.random.default_rng(40)
    steps = np.arange(0, 30_000, 10)
    x = np.where(np.arange(3000) < 1800, 2.0, 1.5) + 0.02 * rng.normal(size=3000)
    (c,) = stats.regime_changes(steps, x)
    assert (c.step, c.index, c.points_before, c.points_after) == (18_000, 1800, 1800, 1200)
    assert c.level_before == np.median(x[1749:1800]) and c.level_after == np.median(x[1800:1851])
    assert c.relative_change == pytest.approx((c.level_after - c.level_before) / c.level_before)
    assert c.kind == "down" and c.level_before == pytest.approx(2.0, abs=0.01)


def test_regime_change_on_a_trend_and_none_for_the_trend_alone():
    rng = np.random.default_rng(41)
    steps = np.arange(5000)
    decay = 0.3 + np.exp(-steps / 1500)
    noisy = decay * (1 + 0.03 * rng.normal(size=5000))
    assert stats.regime_changes(steps, noisy) == []  # a decelerating descent
    assert stats.regime_changes(steps, 2.0 - 2e-4 * steps) == []  # a straight line
    dropped = noisy * np.where(steps < 3500, 1.0, 0.7)  # an lr drop: −30 % at step 3500
    (c,) = stats.regime_changes(steps, dropped)
    assert c.index == 3500 and c.kind == "down"
    assert c.level_after == np.median(dropped[3500:3551])


def test_regime_change_switch_on_and_off():
    steps = np.arange(300)
    on = np.zeros(300)
    on[285:] = 1.9 * np.exp(-np.arange(15) / 20)
    (c,) = stats.regime_changes(steps, on)
    assert (c.index, c.level_before, c.points_after, c.kind) == (285, 0.0, 15, "on")
    assert c.level_after == np.median(on[285:]) and c.relative_change == np.inf
    off = np.where(steps < 120, 0.8 + 0.01 * np.sin(steps), 0.0)
    (c,) = stats.regime_changes(steps, off)
    assert (c.index, c.level_after, c.kind, c.relative_change) == (120, 0.0, "off", -1.0)


def test_regime_changes_up_then_down_for_a_lasting_excursion_only():
    rng = np.random.default_rng(42)
    steps = np.arange(1000)
    base = 1.0 + 0.02 * rng.normal(size=1000)
    held = base.copy()
    held[400:440] += 0.5  # 40 points: more than half of a 51-point window holds the new level
    up, down = stats.regime_changes(steps, held)
    assert (up.index, up.kind, up.points_after) == (400, "up", 40)
    assert (down.index, down.kind, down.points_before) == (440, "down", 40)
    short = base.copy()
    short[400:410] += 0.5  # 10 points: an excursion that comes back, i.e. spikes
    assert stats.regime_changes(steps, short) == []
    assert np.flatnonzero(stats.spike_scan(steps, short).mask).tolist() == list(range(400, 410))


@pytest.mark.parametrize("n, found", [(10, False), (20, False), (40, True)])
def test_regime_changes_need_enough_points(n, found):
    steps = np.arange(n)
    x = np.where(steps < 3 * n // 4, 1.0, 0.5) + 0.002 * np.sin(steps * 2.1)
    changes = stats.regime_changes(steps, x)
    assert [c.index for c in changes] == ([3 * n // 4] if found else [])


def test_one_quantum_staircase_is_no_regime_change():
    # Printed with 1 decimal, the level goes 0.7 → 0.5: two quanta (29 % of the level), still rounding.
    steps = np.arange(1000)
    x = np.where(steps < 500, 0.7, 0.5)
    assert stats.regime_changes(steps, x) == []
    assert [c.index for c in stats.regime_changes(steps, x, quantum=0.0)] == [500]


def test_a_lasting_move_inside_the_noise_band_is_no_regime_change():
    # 0.7 → 0.6 at full precision: 14 % of the level, inside the band a mini-batch loss wanders in.
    steps = np.arange(1000)
    assert stats.regime_changes(steps, np.where(steps < 500, 0.7, 0.6), quantum=0.0) == []


def test_autocorrelated_noise_is_no_regime_change():
    # A smoothed log: AR(1) noise with ρ = 0.9 (5 % of the level) wanders by ±10 % over a window's length.
    from scipy import signal

    rng = np.random.default_rng(43)
    ar = signal.lfilter([1.0], [1.0, -0.9], rng.normal(size=20_000)) * np.sqrt(1 - 0.81)
    steps = np.arange(20_000)
    x = (0.3 + np.exp(-steps / 7000)) * (1 + 0.05 * ar)
    assert stats.regime_changes(steps, x) == []
    x[12_000:] *= 0.6  # a real −40 % step is still found
    assert [c.index for c in stats.regime_changes(steps, x)] == [12_000]


# --- volatility ----------------------------------------------------------------------------------------


def test_volatility_robust_fields_by_hand():
    x = np.array([1.0, 2.0, 4.0, 4.5, 3.5, 100.0, 3.0, np.nan])
    vol = stats.volatility(x)
    # Δ = [1, 2, 0.5, −1, 96.5, −97]: median 0.75,
    # |Δ − 0.75| = [.25, 1.25, .25, 1.75, 95.75, 97.75], median 1.5.
    normal = 1 / norm.ppf(0.75)
    assert vol.median == 3.5
    assert vol.mad_diff == pytest.approx(1.5 * normal, rel=1e-12)
    assert vol.rel_mad_diff == pytest.approx(1.5 * normal / 3.5, rel=1e-12)
    assert vol.quantum == pytest.approx(0.1)
    assert vol.diff_std > 20 * vol.mad_diff  # the std-based field is run by the one outlier


def test_volatility_one_outlier_moves_only_the_classic_fields():
    rng = np.random.default_rng(44)
    x = 2.0 + 0.1 * rng.normal(size=2000)
    clean = stats.volatility(x)
    x[1000] = 50.0
    spiked = stats.volatility(x)
    assert clean.mad_diff == pytest.approx(0.1 * np.sqrt(2), rel=0.05)  # Δ of iid noise: σ√2
    assert spiked.rel_mad_diff == pytest.approx(clean.rel_mad_diff, rel=0.01)
    assert spiked.rel_diff_std > 5 * clean.rel_diff_std


def test_volatility_edge_cases():
    assert np.isnan(stats.volatility(np.array([1.0, 2.0])).mad_diff)  # one difference has no spread
    zero = stats.volatility(np.zeros(10))
    assert zero.median == 0.0 and zero.mad_diff == 0.0 and np.isnan(zero.rel_mad_diff)
    moving = stats.volatility(np.array([0.0, 1.0, -1.0, 0.0, 2.0, 0.0, -2.0]))
    assert moving.median == 0.0 and moving.rel_mad_diff == np.inf


# --- shares --------------------------------------------------------------------------------------------


def _decomposition(weighted: dict[str, np.ndarray], logged_total: np.ndarray | None = None) -> Decomposition:
    comps = tuple(Component(k, f"loss/{k}", 1.0, "weighted") for k in weighted)
    total = sum(weighted.values())
    n = total.size
    logged = np.full(n, np.nan) if logged_total is None else logged_total
    return Decomposition(np.arange(n), comps, dict(weighted), dict(weighted), total, logged, logged - total)


def test_variance_shares_collinear_components_share_by_amplitude():
    a = np.cumsum(np.random.default_rng(50).normal(size=2000)) * 0.01 + 5
    shares = stats.variance_shares(_decomposition({"a": a, "b": 3 * a + 2}))  # b moves 3× a, in lockstep
    assert shares["a"] == pytest.approx(0.25, abs=1e-12) and shares["b"] == pytest.approx(0.75, abs=1e-12)
    # A family of 4 identical copies next to an independent term of the same noise: the family carries
    # 16/17 of the total's variance (its amplitude adds up), not 4/5.
    rng = np.random.default_rng(51)
    u, v = rng.normal(size=200_000), rng.normal(size=200_000)
    terms = {f"copy{i}": np.cumsum(u) for i in range(4)} | {"other": np.cumsum(v)}
    shares = stats.variance_shares(_decomposition(terms))
    assert sum(shares[f"copy{i}"] for i in range(4)) == pytest.approx(16 / 17, abs=0.01)


def test_variance_shares_independent_terms_are_variance_ratios():
    rng = np.random.default_rng(52)
    a, b = np.cumsum(rng.normal(0, 2, 100_000)), np.cumsum(rng.normal(0, 1, 100_000))
    shares = stats.variance_shares(_decomposition({"a": a, "b": b}))
    assert shares["a"] == pytest.approx(4 / 5, abs=0.01) and shares["b"] == pytest.approx(1 / 5, abs=0.01)


def test_variance_shares_term_moving_against_the_total_gets_zero():
    # b = −u/2 + small noise moves against a = u: cov(Δb, Δtotal) < 0. The old share gave a > 1 and b < 0.
    rng = np.random.default_rng(53)
    u, e = np.cumsum(rng.normal(size=5000)), np.cumsum(rng.normal(0, 0.1, 5000))
    shares = stats.variance_shares(_decomposition({"a": u + 10, "b": -0.5 * u + e + 10}))
    assert shares == {"a": 1.0, "b": 0.0}


def test_variance_shares_bounded_and_summing_to_one():
    for seed in range(10):
        rng = np.random.default_rng(60 + seed)
        base = rng.normal(size=(4, 500))
        mix = rng.normal(size=(4, 4))  # correlated terms, some moving against others
        terms = {f"t{i}": np.cumsum(row) + 20 for i, row in enumerate(mix @ base)}
        shares = stats.variance_shares(_decomposition(terms, sum(terms.values()) + rng.normal(0, 0.1, 500)))
        assert set(shares) == set(terms) | {"residual"}
        assert all(0.0 <= s <= 1.0 for s in shares.values())
        assert sum(shares.values()) == pytest.approx(1.0)


def test_variance_shares_nan_when_the_total_is_a_straight_line():
    steps = np.arange(1000, dtype=np.float64)
    terms = {"box": 2.0 - 1e-3 * steps, "cls": 1.0 - 3e-4 * steps}
    logged = 3.0 - 1.3e-3 * steps  # float rounding only (the 9e12 % case)
    assert all(np.isnan(s) for s in stats.variance_shares(_decomposition(terms, logged)).values())
    assert all(np.isnan(s) for s in stats.variance_shares(_decomposition(terms)).values())
    # Noisy terms whose noise cancels in the logged total: no variance to share either.
    noise = np.random.default_rng(54).normal(0, 0.1, 1000)
    cancelling = {"box": terms["box"] + noise, "cls": terms["cls"] - noise}
    assert all(np.isnan(s) for s in stats.variance_shares(_decomposition(cancelling, logged)).values())
    assert all(np.isnan(s) for s in stats.variance_shares(_decomposition({"a": np.ones(2)})).values())


def test_mean_shares_negative_residual_gets_zero():
    n = 100
    terms = {"box": np.full(n, 3.0), "cls": np.full(n, 1.0)}
    under = _decomposition(terms, np.full(n, 3.5))  # logged total 0.5 below Σ: residual −0.5
    assert stats.mean_shares(under) == {"box": 0.75, "cls": 0.25, "residual": 0.0}
    over = _decomposition(terms, np.full(n, 5.0))  # residual +1: shares of the logged total
    assert stats.mean_shares(over) == pytest.approx({"box": 0.6, "cls": 0.2, "residual": 0.2})
    assert all(np.isnan(s) for s in stats.mean_shares(_decomposition({"a": np.zeros(n)})).values())


def test_print_quantum_of_a_long_series_that_is_mostly_zeros():
    # 1 % of a million points printed with 3 decimals, the rest exactly 0: the evenly spaced sample holds
    # few non-zero values, so the non-zero ones are sampled instead.
    v = np.zeros(1_000_000)
    v[::100] = np.round(np.random.default_rng(23).uniform(0.5, 2.0, 10_000), 3)
    assert stats.print_quantum(v) == pytest.approx(1e-3)


@pytest.mark.parametrize("n", [3, 4, 101, 10_000])
def test_volatility_mad_diff_equals_scipy(n):
    from scipy.stats import median_abs_deviation

    x = np.cumsum(np.random.default_rng(n).standard_t(3, n)) + 50
    vol = stats.volatility(x)
    assert vol.mad_diff == pytest.approx(median_abs_deviation(np.diff(x), scale="normal"), rel=1e-12)
    assert vol.median == np.median(x)
    assert vol.rel_mad_diff == pytest.approx(vol.mad_diff / abs(np.median(x)), rel=1e-12)


def test_an_intermittent_term_off_around_a_point_has_no_spike_there():
    # a gated loss: 0 at most steps, on (~0.5) at a few; with both neighbour levels 0 nothing is a spike,
    # while the same bursts on a level of 0.1 are
    rng = np.random.default_rng(0)
    steps = np.arange(2000)
    on = rng.random(2000) < 0.05
    gated = np.where(on, 0.5 + 0.1 * rng.random(2000), 0.0)
    assert not stats.spike_scan(steps, gated).mask.any()
    level = 0.1 + 0.001 * rng.standard_normal(2000)
    assert stats.spike_scan(steps, np.where(on, gated, level)).mask[on].mean() > 0.9


def test_trend_direction_follows_the_alpha_it_is_given():
    # a weak drift: significant at 0.05, not at 1e-6 (p ≈ 2e-5); the rules pass Thresholds.trend_alpha
    rng = np.random.default_rng(3)
    steps = np.arange(2000)
    v = 1.0 - 3e-6 * steps + 0.02 * rng.standard_normal(steps.size)
    loose, strict = stats.trend(steps, v, alpha=0.05), stats.trend(steps, v, alpha=1e-6)
    assert loose.p_value == strict.p_value and 1e-6 < loose.p_value < 0.05
    assert loose.direction == "down" and strict.direction == "flat"
