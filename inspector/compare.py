"""Comparing two checkpoints: per-target gains and losses, A / B / Δ tables, a paired bootstrap CI on Δ mAP.

The bootstrap resamples episodes (the unit the sampler draws), the same resample for A and B, and needs
COCO mAP of every resample. pycocotools takes ~0.1 s per call on 400 images, so 1,000 resamples × 2
checkpoints would take minutes; instead COCO's per-image matching is done once (inspector.coco.coco_matches,
the same rules as COCOeval.evaluateImg) and each resample only re-weights images in COCOeval.accumulate's
precision / recall arithmetic (inspector.coco.weighted_map) — with unit weights it gives pycocotools' numbers
exactly (tests/test_coco.py checks that against pycocotools). All resamples are accumulated at once, at the
true positives only: the per-resample loop over every detection it replaced took 10 s on the demo and gave
the same numbers (tests/test_compare_bootstrap.py keeps it as the reference).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from inspector.coco import coco_matches, weighted_map
from inspector.evaluate import (
    CLIP_SCORE_THRESHOLD,
    ImageRecord,
    Matching,
    clip_st_iou,
    coco_map,
    match_totals,
)
from inspector.results import EpisodeResult

# 1,000 paired resamples put a 95% percentile interval's end points within about ±0.005 of their
# limit at these sample sizes; more costs time in the app without changing a conclusion.
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


# ---------------------------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class DeltaCI:
    """Δ = B − A of a metric: the point estimate and a paired percentile bootstrap interval."""

    metric: str
    delta: float
    low: float
    high: float
    resamples: int
    confidence: float


def episode_groups(positions: np.ndarray) -> tuple[np.ndarray, int]:
    """(group index per image, number of groups) from each image's episode position."""
    uniq, inverse = np.unique(np.asarray(positions), return_inverse=True)
    return inverse, len(uniq)


@dataclass(frozen=True)
class ResampledMaps:
    """One checkpoint's mAP@0.5 and mAP@0.5:0.95 (each (R + 1,)) over resamples of its episodes: row 0
    every episode once, then R resamples drawn by `seed`. Two checkpoints' rows pair up when they were drawn
    over the same `episodes` (each query image's episode, in the same order) with the same seed."""

    map50: np.ndarray
    map50_95: np.ndarray
    episodes: np.ndarray
    seed: int


def resampled_maps(
    records: Sequence[ImageRecord], episodes: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> ResampledMaps:
    """ResampledMaps of the query images `records`, records[i] in episode episodes[i]: each resample draws
    episodes with replacement (numpy default_rng(seed)) and recomputes mAP over the drawn episodes' images.
    One side's half of bootstrap_delta_map, so that A's and B's can be computed apart (the Compare page
    computes each where that side was evaluated)."""
    if len(records) != len(episodes):
        raise ValueError("records and episodes must describe the same images")
    group, n_groups = episode_groups(episodes)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(resamples, n_groups))
    counts = np.stack([np.bincount(d, minlength=n_groups) for d in draws])  # (R, E)
    weights = np.concatenate([np.ones((1, n_groups)), counts])[:, group]  # row 0: the point estimate
    m50, m95, _ = weighted_map(coco_matches(records), weights)
    return ResampledMaps(m50, m95, np.asarray(episodes).copy(), seed)


def delta_cis(a: ResampledMaps, b: ResampledMaps, confidence: float = CONFIDENCE) -> tuple[DeltaCI, DeltaCI]:
    """DeltaCIs of B − A for mAP@0.5 and mAP@0.5:0.95 from the two sides' paired ResampledMaps."""
    if a.seed != b.seed or not np.array_equal(a.episodes, b.episodes) or len(a.map50) != len(b.map50):
        raise ValueError("A's and B's resamples are not paired: other episodes, seed or count")
    tail = (1 - confidence) / 2 * 100
    resamples = len(a.map50) - 1
    out = []
    for name, x, y in (("map50", a.map50, b.map50), ("map50_95", a.map50_95, b.map50_95)):
        d = y - x
        low, high = (
            np.nanpercentile(d[1:], [tail, 100 - tail]) if np.isfinite(d[1:]).any() else (math.nan,) * 2
        )
        out.append(DeltaCI(name, float(d[0]), float(low), float(high), resamples, confidence))
    return out[0], out[1]


def bootstrap_delta_map(
    records_a: Sequence[ImageRecord],
    records_b: Sequence[ImageRecord],
    episodes: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> tuple[DeltaCI, DeltaCI]:
    """Returns DeltaCIs for mAP@0.5 and mAP@0.5:0.95 of B − A, resampling episodes with replacement.

    records_a[i] and records_b[i] are the same query image (same targets) under A and B; episodes[i]
    is its episode. Each resample draws episodes (numpy default_rng(seed)), applies the same draw to A
    and B (paired), and recomputes both mAPs over the drawn episodes' images.
    """
    if len(records_a) != len(records_b) or len(records_a) != len(episodes):
        raise ValueError("A, B and episodes must describe the same images")
    a = resampled_maps(records_a, episodes, resamples, seed)
    return delta_cis(a, resampled_maps(records_b, episodes, resamples, seed), confidence)


# ---------------------------------------------------------------------------------------------- tables


def delta_table(a: dict, b: dict, rows: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """A / B / Δ rows for (label, key) pairs of two summaries; keys may be dotted ('losses.total')."""

    def get(summary: dict, key: str) -> float:
        value = summary
        for part in key.split("."):
            value = value.get(part, math.nan) if isinstance(value, dict) else math.nan
        return float(value) if isinstance(value, (int, float)) and value is not None else math.nan

    out = []
    for label, key in rows:
        va, vb = get(a, key), get(b, key)
        out.append({"metric": label, "A": va, "B": vb, "Δ (B − A)": vb - va})
    return pd.DataFrame(out, columns=["metric", "A", "B", "Δ (B − A)"])


SUMMARY_ROWS = (
    ("mAP@0.5", "map50"),
    ("mAP@0.5:0.95", "map50_95"),
    ("ST-IoU (clips)", "st_iou"),
    ("mean IoU of TPs", "mean_iou_tp"),
    ("precision @0.5", "precision"),
    ("recall @0.5", "recall"),
    ("positives per target", "positives_per_target"),
    ("targets with no positive", "targets_without_positive"),
    ("loss total", "losses.total"),
)


def summary_delta_table(a: dict, b: dict) -> pd.DataFrame:
    """The aggregate A / B / Δ table: headline metrics, per-class AP@0.5, and every loss raw and weighted."""
    rows = list(SUMMARY_ROWS)
    rows += [
        (f"AP@0.5 · {name}", f"per_class.{name}")
        for name in dict.fromkeys([*a["per_class"], *b["per_class"]])
    ]
    for kind in ("raw", "weighted"):
        names = dict.fromkeys([*a["losses"].get(kind, {}), *b["losses"].get(kind, {})])
        rows += [(f"loss {name} ({kind})", f"losses.{kind}.{name}") for name in names]
    return delta_table(a, b, rows)


# ---------------------------------------------------------------------------------------------- per box


@dataclass(frozen=True)
class TargetComparison:
    """One target of a query under A and B: matched IoU in each (nan: missed) and what changed."""

    target: int
    label: int
    iou_a: float
    iou_b: float
    change: str  # "kept", "gained" (B finds it, A not), "lost" (A finds it, B not), "missed by both"


def matched_iou(m: Matching) -> np.ndarray:
    """Returns (G,) float64 each target's IoU with the prediction matched to it (nan: missed)."""
    out = np.full(len(m.gt_matched), np.nan)
    tp = np.flatnonzero(m.pred_tp)
    out[m.pred_gt[tp]] = m.pred_iou[tp]
    return out


def compare_targets(a: Matching, b: Matching, target_labels: np.ndarray) -> list[TargetComparison]:
    """Returns per target of a query its matched IoU under A and B and the change, from the two matchings of
    the same query (A and B saw the same targets, labelled `target_labels`)."""
    ia, ib = matched_iou(a), matched_iou(b)
    if len(ia) != len(ib) or len(ia) != len(target_labels):
        raise ValueError(f"A matched {len(ia)} targets, B {len(ib)}, the query has {len(target_labels)}")
    out = []
    for t, (x, y) in enumerate(zip(ia, ib, strict=True)):
        found_a, found_b = not math.isnan(x), not math.isnan(y)
        change = (
            "kept"
            if found_a and found_b
            else "gained"
            if found_b
            else "lost"
            if found_a
            else "missed by both"
        )
        out.append(TargetComparison(t, int(target_labels[t]), float(x), float(y), change))
    return out


# ---------------------------------------------------------------------------------------------- episode


def episode_metrics(
    result: EpisodeResult, iou_threshold: float = 0.5, clip_score_threshold: float = CLIP_SCORE_THRESHOLD
) -> dict[str, float]:
    """Returns one EpisodeResult's {AP@0.5, TP, FP, FN, mean IoU of TPs, ST-IoU, loss total, positives}
    (AP over the episode's queries alone — for stepping through episodes, not for the aggregate; ST-IoU is
    evaluate.clip_st_iou at the given score gate, the mean over its clips)."""
    records = [(q.target_boxes, q.target_labels, q.pred_boxes, q.scores, q.labels) for q in result.queries]
    totals = match_totals(records, iou_threshold)
    tp, fp, fn, ious = totals.tp, totals.fp, totals.fn, totals.tp_ious
    clips = [v for v in (clip_st_iou(c, clip_score_threshold) for c in result.clips) if not math.isnan(v)]
    losses = result.losses
    return {
        "AP@0.5": coco_map(records).map50 if records else math.nan,
        "TP": tp,
        "FP": fp,
        "FN": fn,
        "mean IoU of TPs": float(np.mean(ious)) if ious else math.nan,
        "ST-IoU": float(np.mean(clips)) if clips else math.nan,
        "loss total": losses.total if losses else math.nan,
        "positives": losses.positives if losses else math.nan,
    }


def metrics_delta_table(a: dict[str, float], b: dict[str, float]) -> pd.DataFrame:
    """A / B / Δ rows of two flat metric dicts with the same keys."""
    return pd.DataFrame(
        [
            {"metric": k, "A": float(a[k]), "B": float(b[k]), "Δ (B − A)": float(b[k]) - float(a[k])}
            for k in a
        ],
        columns=["metric", "A", "B", "Δ (B − A)"],
    )
