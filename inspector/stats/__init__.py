"""Statistics over one metric's (steps, values): bands, smoothing, trend, spikes, regime changes, volatility,
print precision, shares, downsampling.

Every function is pure, NaN-tolerant (non-finite points are skipped, never propagated into
neighbours) and vectorised: the app runs them on million-step logs at every rerun.
Windows are given in STEPS, not points, so a band means the same thing on a log written every
step and on one written every 20 steps. Spikes and regime changes are judged against local robust
levels (medians of the neighbours on each side), a local robust scale and the print precision of the
values, and not at all on series of fewer than MIN_JUDGED_POINTS points.

One module per job: smoothing (bands, EMA), precision (print quantum), local (the local levels and scale),
regimes (regime changes), spikes, noise (volatility), trend, shares, downsample. Callers use this package's
names: `from inspector import stats; stats.spike_scan(...)`.
"""

from inspector.stats.downsample import downsample
from inspector.stats.local import MIN_JUDGED_POINTS, local_window
from inspector.stats.noise import Volatility, decorrelation_block, volatility
from inspector.stats.precision import print_quantum
from inspector.stats.regimes import REGIME_K, REGIME_MIN_CHANGE, RegimeChange, regime_changes
from inspector.stats.shares import mean_shares, variance_shares
from inspector.stats.smoothing import Band, ema_tensorboard, ema_time_weighted, quantile_band, rolling_band
from inspector.stats.spikes import SPIKE_MIN_RISE, SpikeScan, spike_scan
from inspector.stats.trend import MIN_TREND_POINTS, Direction, Trend, trend

__all__ = [
    "MIN_JUDGED_POINTS",
    "MIN_TREND_POINTS",
    "REGIME_K",
    "REGIME_MIN_CHANGE",
    "SPIKE_MIN_RISE",
    "Band",
    "Direction",
    "RegimeChange",
    "SpikeScan",
    "Trend",
    "Volatility",
    "decorrelation_block",
    "downsample",
    "ema_tensorboard",
    "ema_time_weighted",
    "local_window",
    "mean_shares",
    "print_quantum",
    "quantile_band",
    "regime_changes",
    "rolling_band",
    "spike_scan",
    "trend",
    "variance_shares",
    "volatility",
]
