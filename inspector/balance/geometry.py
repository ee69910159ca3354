"""Gradient geometry over episodes: Gram matrices, norms, shares, cosines, predicted shares, and the
bootstrap estimates and pair conflicts built from them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats as sps

if TYPE_CHECKING:
    # only a type here: inspector.data imports torch, which the Loss curves page (log levels) does not need
    pass


CI_LEVEL = 0.95


# Efron & Tibshirani (1993) ask for at least ~1,000 resamples for percentile intervals; 2,000 over 50 episodes
# takes ~3 ms per quantity here (8 per checkpoint of 4 terms), nothing beside the gradients.
BOOTSTRAP_RESAMPLES = 2000


BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Estimate:
    """A per-episode quantity over episodes: mean, spread (sample sd), and the 95% bootstrap CI of the mean
    (NaN when fewer than two episodes); n is the number of episodes where it was defined."""

    mean: float
    sd: float
    lo: float
    hi: float
    n: int


@dataclass(frozen=True)
class PairConflict:
    """Two terms' gradients: mean cosine, and the fraction of episodes where it is negative, over the
    `episodes` where both gradients are non-zero (NaN when there is none)."""

    a: str
    b: str
    cosine: float
    conflict_rate: float
    episodes: int


def gram(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """Returns the (K, K) float64 matrix of pairwise dot products of K flat gradient vectors of one length."""
    sizes = {int(np.size(v)) for v in vectors}
    if len(sizes) > 1:
        raise ValueError(f"gradient vectors of different lengths {sorted(sizes)}")
    if not vectors:
        return np.zeros((0, 0))
    stacked = np.stack([np.asarray(v, np.float64).reshape(-1) for v in vectors])  # (K, P)
    return stacked @ stacked.T


def norms_of(grams: np.ndarray) -> np.ndarray:
    """(…, K, K) Gram matrices → (…, K) the vectors' L2 norms."""
    return np.sqrt(np.clip(np.diagonal(grams, axis1=-2, axis2=-1), 0.0, None))


def shares_of(norms: np.ndarray) -> np.ndarray:
    """(…, K) norms → (…, K) each norm's share of their sum (of the norms, not the norm of the vectors'
    sum); NaN where every norm is 0."""
    norms = np.asarray(norms, np.float64)
    total = norms.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, norms / np.where(total > 0, total, 1.0), np.nan)


def cosines_of(grams: np.ndarray) -> np.ndarray:
    """(…, K, K) Gram matrices → (…, K, K) cosines between the vectors; NaN where either vector is zero."""
    norms = norms_of(grams)
    outer = norms[..., :, None] * norms[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(outer > 0, grams / np.where(outer > 0, outer, 1.0), np.nan)
    return np.clip(cos, -1.0, 1.0)


def predicted_shares(norms: np.ndarray, weights: np.ndarray, new_weights: np.ndarray) -> np.ndarray:
    """Returns the gradient shares (…, K) that `new_weights` (K,) would give where `weights` (K,) gave the
    weighted gradients' `norms` (…, K): ‖g_i'‖ = ‖g_i‖·w_i'/w_i, then each one's share of their sum.

    A term measured at weight 0 has no measured gradient to scale: its predicted norm is 0 if its new weight
    is 0 too, else unknown, which makes every share of that row NaN.
    """
    norms = np.asarray(norms, np.float64)
    w = np.asarray(weights, np.float64)
    w_new = np.asarray(new_weights, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(w > 0, w_new / np.where(w > 0, w, 1.0), np.where(w_new == 0, 0.0, np.nan))
    return shares_of(norms * scale)


def bootstrap_ci(
    values: np.ndarray,
    level: float = CI_LEVEL,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Returns the percentile-bootstrap CI (lo, hi) of the mean of `values` (non-finite ones dropped);
    (NaN, NaN) with fewer than two values."""
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])  # every resample has the same mean
    # random_state (not scipy ≥ 1.15's rng) keeps scipy 1.13, the oldest requirements-dev.txt allows, working
    ci = sps.bootstrap(
        (x,),
        np.mean,
        confidence_level=level,
        n_resamples=resamples,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(seed),
    ).confidence_interval
    return float(ci.low), float(ci.high)


def estimate(values: np.ndarray) -> Estimate:
    """Returns the Estimate (mean, sd, bootstrap CI of the mean) of one quantity's per-episode values."""
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    if not len(x):
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0)
    lo, hi = bootstrap_ci(x)
    sd = float(np.std(x, ddof=1)) if len(x) > 1 else math.nan
    return Estimate(float(x.mean()), sd, lo, hi, len(x))


def pair_conflicts(names: Sequence[str], grams: np.ndarray) -> tuple[PairConflict, ...]:
    """Returns every pair of terms' mean cosine and conflict rate over the episodes' (E, K, K) Gram
    matrices."""
    cos = cosines_of(np.asarray(grams, np.float64))  # (E, K, K)
    out = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            c = cos[:, i, j]
            c = c[np.isfinite(c)]
            mean = float(c.mean()) if len(c) else math.nan
            rate = float((c < 0).mean()) if len(c) else math.nan
            out.append(PairConflict(names[i], names[j], mean, rate, len(c)))
    return tuple(out)


def nanmean_columns(x: np.ndarray) -> np.ndarray:
    """(E, K) → (K,) column means over finite values; NaN for a column with none (no RuntimeWarning)."""
    x = np.asarray(x, np.float64)
    finite = np.isfinite(x)
    count = finite.sum(0)
    total = np.where(finite, x, 0.0).sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
