"""Statistics: TensorBoard-identical EMA, bands, trend, spikes, shares, spike-keeping downsampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from inspector import stats
from inspector.loss_semantics import discover_components
from inspector.losses import decompose
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
        debias = 1.0 if w == 1 else 1 - w ** num_acc
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
    for t, x in zip(steps, v):
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
    assert not stats.spikes(steps, v).any()
    v[[1234, 9000, 15000]] *= 4
    assert np.flatnonzero(stats.spikes(steps, v)).tolist() == [1234, 9000, 15000]


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


@pytest.mark.parametrize("steps", [np.arange(0, 3000, 3), np.cumsum(np.random.default_rng(11).integers(1, 9, 1000))])
def test_rolling_band_at_points_equals_full_band(steps):
    v = np.random.default_rng(12).normal(5, 1, steps.size)
    v[17] = np.nan
    full = stats.rolling_band(steps, v, window=60, center=True)
    at = np.array([0, 17, 18, 500, steps.size - 1])
    part = stats.rolling_band(steps, v, window=60, center=True, at=at)
    np.testing.assert_allclose(part.mean, full.mean[at], atol=1e-12)
    np.testing.assert_allclose(part.upper, full.upper[at], atol=1e-12)


def test_spikes_are_rises_that_clear_the_baseline_by_a_tenth():
    # An epoch-averaged loss: a smooth decay with ±1 % wiggles. Its rolling median follows it exactly, so the
    # robust σ collapses and the wiggles would pass 6σ; they are not spikes.
    steps = np.arange(200)
    smooth = 2.0 * np.exp(-steps / 60) + 0.5
    wiggly = smooth * (1 + 0.01 * np.sin(steps * 1.7))
    assert not stats.spikes(steps, wiggly).any()
    v = wiggly.copy()
    v[120] *= 1.5    # a bad epoch: a spike
    v[150] *= 0.5    # a dip (an easy batch) is not a spike
    v[170] *= 1.05   # 5 % up: within the 10 % floor
    assert np.flatnonzero(stats.spikes(steps, v)).tolist() == [120]
    # Without the floor the wiggles themselves pass 6 robust σ: the failure this guards against.
    assert stats.spikes(steps, wiggly, min_rise=0.0).sum() > 5
