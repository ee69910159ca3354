"""Did B beat A? A verdict per K that respects the variance over seeds and episodes.

Both grids are evaluated under one protocol (fingerprint.check_comparable), so seed S draws the same episodes
for A and B: the differences are paired. Per K, with S seeds:
- S ≥ 2: Δ = mean over seeds of (B − A), with the t-interval of the per-seed differences;
- S = 1: the paired bootstrap over that seed's episodes (intervals.bootstrap_over_episodes), the only spread
  one seed measures.
An interval that includes 0 is "not distinguishable", with the seeds that would resolve a difference of this
size at the spread measured (intervals.seeds_needed; from one seed, the bootstrap's spread stands in for the
spread over seeds and the estimate says so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from inspector.errors import InspectorError
from inspector.protocol.intervals import (
    CONFIDENCE,
    RESAMPLES,
    bootstrap_over_episodes,
    seeds_needed,
    t_interval,
)
from inspector.protocol.metrics import LABELS, statistics
from inspector.protocol.report import ScoredCell, by_k, seed_matches
from inspector.protocol.split import ClassSplit


@dataclass(frozen=True)
class Verdict:
    """B − A of one metric at one K."""

    k_shot: int
    metric: str
    delta: float
    low: float
    high: float
    seeds: int
    episodes: int
    method: str  # "t over seeds" or "bootstrap over episodes"
    distinguishable: bool
    seeds_needed: int | None
    confidence: float = CONFIDENCE

    def sentence(self) -> str:
        pct = round(100 * self.confidence)
        name = LABELS.get(self.metric, self.metric)
        span = (
            f"({pct}% CI [{self.low:+.3f}, {self.high:+.3f}], "
            f"over {self.seeds} seed(s) × {self.episodes} episodes)"
        )
        if math.isnan(self.delta):
            return f"K={self.k_shot}: {name} is not measured on both."
        if self.distinguishable:
            better = "better" if self.delta > 0 else "worse"
            return f"K={self.k_shot}: B is {better} than A by Δ {name} = {self.delta:+.3f} {span}."
        need = (
            f"; about {self.seeds_needed} seeds would resolve a difference this size"
            + (" (estimated from the one seed's episode spread)" if self.seeds == 1 else "")
            if self.seeds_needed is not None
            else ""
        )
        return (
            f"K={self.k_shot}: A and B are not distinguishable on {name}: Δ = {self.delta:+.3f} {span}{need}."
        )


def default_metric(split: ClassSplit | None) -> str:
    """nAP50 with a split (the few-shot headline), else mAP@0.5."""
    return "nap50" if split is not None else "map50"


def verdicts(
    a: Sequence[ScoredCell],
    b: Sequence[ScoredCell],
    metric: str,
    split: ClassSplit | None,
    class_names: Sequence[str],
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
) -> list[Verdict]:
    """One Verdict per K of the two grids, over the (K, seed) cells both have (paired); InspectorError when
    they share none."""
    paired_b = {c.cell: c for c in b}
    a = [c for c in a if c.cell in paired_b]
    if not a:
        raise InspectorError("A and B share no (K, seed) cell to compare")
    out = []
    for k, group_a in by_k(a).items():
        group_b = [paired_b[c.cell] for c in group_a]
        diffs = [cb.numbers[metric] - ca.numbers[metric] for ca, cb in zip(group_a, group_b, strict=True)]
        episodes = int(group_a[0].summary["episodes"])
        interval = t_interval(diffs, confidence)
        if interval.n >= 2:
            low, high, method, spread = interval.low, interval.high, "t over seeds", interval.std
        else:
            found = statistics(split, class_names).get(metric)
            redrawn = (
                bootstrap_over_episodes(
                    seed_matches(group_a, group_b), {metric: found}, resamples, confidence=confidence
                )[metric]
                if found is not None
                else None
            )
            low, high = (redrawn.low, redrawn.high) if redrawn is not None else (math.nan, math.nan)
            method = "bootstrap over episodes"
            z = float(stats.norm.ppf(0.5 + confidence / 2))
            spread = (high - low) / (2 * z) if math.isfinite(high - low) else math.nan
        undecided = math.isnan(low) or math.isnan(high) or (low <= 0 <= high)
        out.append(
            Verdict(
                k,
                metric,
                interval.mean,
                low,
                high,
                interval.n,
                episodes,
                method,
                not undecided,
                seeds_needed(interval.mean, spread, confidence) if undecided else None,
                confidence,
            )
        )
    return out
