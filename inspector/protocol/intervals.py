"""Confidence intervals of the few-shot protocol: over seeds (Student's t), over episodes within seeds (a
stratified bootstrap through COCO's exact arithmetic), and how many seeds a difference needs.

A seed draws its own episodes, so per-seed numbers are independent draws of the protocol's result: their mean
has a t-interval with S − 1 degrees of freedom. Within a seed, episodes are the unit the sampler draws; the
bootstrap redraws each seed's episodes (with replacement, seed by seed), recomputes every seed's mAP from
the same matched detections (coco.weighted_map: unit weights give pycocotools' numbers), and averages over
seeds, as the point estimate does. Paired, A and B get the same redraw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from inspector.coco import CocoMatches, weighted_map

CONFIDENCE = 0.95
RESAMPLES = 1000
# The most seeds `seeds_needed` searches: beyond, the difference is not worth resolving with seeds.
MAX_SEEDS = 100_000

# A statistic of one seed's resampled COCO arithmetic: weighted_map's (map50, map50_95, per-class AP@0.5)
# and the class columns of its matches → one value per resample.
IntervalMethod = Literal["basic", "percentile"]

Statistic = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Interval:
    """A mean over n values (seeds), their sample standard deviation (nan for one), and a confidence
    interval (nan ends when it cannot be formed)."""

    mean: float
    std: float
    low: float
    high: float
    n: int
    confidence: float = CONFIDENCE

    def includes_zero(self) -> bool:
        return not (self.low > 0 or self.high < 0)  # nan ends: undecided, so "includes"


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The mean of `values` (nan ones left out) with its Student-t interval:
    mean ± t(1 − α/2, n − 1) · s / √n. One value has no spread: std and the ends are nan."""
    v = np.asarray([x for x in values if not math.isnan(x)], np.float64)
    n = len(v)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, 0, confidence)
    mean = float(v.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, math.nan, 1, confidence)
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Interval(mean, std, mean - half, mean + half, n, confidence)


def seeds_needed(delta: float, std: float, confidence: float = CONFIDENCE) -> int | None:
    """The fewest seeds n ≥ 2 whose t-interval, with this per-seed spread, would exclude 0 for a mean
    difference of `delta`: t(1 − α/2, n − 1) · std / √n < |delta|. None when it cannot be said (no
    difference, no spread measured) or would take more than MAX_SEEDS."""
    if not (math.isfinite(delta) and math.isfinite(std)) or delta == 0 or std <= 0:
        return None
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    n = max(2, math.ceil((z * std / abs(delta)) ** 2))  # the normal bound: t is wider, so n only grows
    while n <= MAX_SEEDS:
        if float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n) < abs(delta):
            return n
        n += max(1, n // 50)
    return None


@dataclass(frozen=True)
class Resampled:
    """A bootstrap interval and the redraws' bias (their mean minus the estimate)."""

    low: float
    high: float
    bias: float


@dataclass(frozen=True)
class SeedMatches:
    """One seed's images matched as COCO does, under A (and B when paired), with each image's episode."""

    a: CocoMatches
    b: CocoMatches | None
    episodes: np.ndarray  # (I,) the episode position of each image


def bootstrap_over_episodes(
    seeds: Sequence[SeedMatches],
    statistics: Mapping[str, Statistic],
    resamples: int = RESAMPLES,
    rng_seed: int = 0,
    confidence: float = CONFIDENCE,
    method: IntervalMethod = "basic",
) -> dict[str, Resampled]:
    """Per statistic, a bootstrap interval of its mean over seeds (of B − A when paired), each seed's episodes
    redrawn with replacement, `resamples` times; (nan, nan) without seeds or finite resamples. Every statistic
    reads the same redraws, and each seed's COCO arithmetic runs once per side.

    method "percentile": the redraws' quantiles. "basic" (the default): those quantiles reflected about the
    estimate, [2θ − q(1 − α/2), 2θ − q(α/2)], which corrects the redraws' bias. COCO AP needs it: its
    precision envelope is a running maximum, so a redraw's noise raises it on average. On the demo (5 seeds ×
    100 episodes) the redraws' mean mAP@0.5 sat 0.015 above the estimate, and the whole percentile interval
    lay above it. A paired difference mostly cancels the bias (the Compare page's Δ uses percentiles).
    """
    none = {name: Resampled(math.nan, math.nan, math.nan) for name in statistics}
    if not seeds:
        return none
    rng = np.random.default_rng(rng_seed)
    total = {name: np.zeros(resamples + 1) for name in statistics}  # row 0: the estimate (unit weights)
    for s in seeds:
        _, group = np.unique(s.episodes, return_inverse=True)
        n_groups = int(group.max()) + 1 if len(group) else 0
        if n_groups == 0:
            return none
        draws = rng.integers(0, n_groups, size=(resamples, n_groups))
        offsets = np.arange(resamples)[:, None] * n_groups
        counts = np.bincount((draws + offsets).ravel(), minlength=resamples * n_groups)
        counts = np.concatenate([np.ones((1, n_groups), np.int64), counts.reshape(resamples, n_groups)])
        weights = counts[:, group].astype(np.float64)  # (1 + B, I)
        values = _statistics(s.a, weights, statistics)
        if s.b is not None:
            values_b = _statistics(s.b, weights, statistics)
            values = {name: values_b[name] - values[name] for name in statistics}
        for name in statistics:
            total[name] += values[name]
    return {name: _interval(summed / len(seeds), confidence, method) for name, summed in total.items()}


def _interval(values: np.ndarray, confidence: float, method: IntervalMethod) -> Resampled:
    """The interval of row 0 (the estimate) from rows 1… (the redraws)."""
    estimate, redraws = values[0], values[1:]
    if not np.isfinite(redraws).any():
        return Resampled(math.nan, math.nan, math.nan)
    tail = (1 - confidence) / 2 * 100
    low, high = (float(q) for q in np.nanpercentile(redraws, [tail, 100 - tail]))
    bias = float(np.nanmean(redraws) - estimate)
    if method == "percentile":
        return Resampled(low, high, bias)
    return Resampled(float(2 * estimate - high), float(2 * estimate - low), bias)


def _statistics(
    m: CocoMatches, weights: np.ndarray, statistics: Mapping[str, Statistic]
) -> dict[str, np.ndarray]:
    map50, map50_95, per_class = weighted_map(m, weights)
    return {name: f(map50, map50_95, per_class, m.classes) for name, f in statistics.items()}
