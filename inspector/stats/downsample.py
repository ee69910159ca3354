"""Downsampling for drawing: MinMaxLTTB, with spikes and the extremes always kept."""

from __future__ import annotations

import numpy as np
from tsdownsample import MinMaxLTTBDownsampler, NaNMinMaxLTTBDownsampler

from inspector.stats.spikes import spike_scan


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
    all_finite = bool(finite.all())
    downsampler = MinMaxLTTBDownsampler() if all_finite else NaNMinMaxLTTBDownsampler()
    idx = downsampler.downsample(s, v, n_out=int(n_out)).astype(np.int64)
    if keep is None:
        keep = np.flatnonzero(spike_scan(s, v).mask)
    keep = np.asarray(keep)
    extra = [np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64)]
    if all_finite:  # np.nanargmin copies the values to fill NaN first: 2 × 8 MB per million points
        extra.append(np.array([np.argmin(v), np.argmax(v)], dtype=np.int64))
    elif finite.any():
        extra.append(np.array([np.nanargmin(v), np.nanargmax(v)], dtype=np.int64))
    return np.union1d(idx, np.concatenate(extra))
