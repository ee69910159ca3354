"""The print precision of a logged series: the grid its values were printed on (`%.1f` → 0.1)."""

from __future__ import annotations

import numpy as np

from inspector.loss_evidence import print_bound

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
