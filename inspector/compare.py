"""Comparing two checkpoints: per-target gains and losses, A / B / Δ tables, a paired bootstrap CI on Δ mAP.

The bootstrap resamples episodes (the unit the sampler draws), the same resample for A and B, and needs
COCO mAP of every resample. pycocotools takes ~0.1 s per call on 400 images, so 1,000 resamples × 2
checkpoints would take minutes; instead COCO's per-image matching is done once (`coco_matches`, the same
rules as COCOeval.evaluateImg) and each resample only re-weights images in COCOeval.accumulate's
precision / recall arithmetic (`weighted_map`) — with unit weights it gives pycocotools' numbers exactly
(tests/test_compare.py checks that against pycocotools). All resamples are accumulated at once, at the
true positives only (`_class_precisions`): the per-resample loop over every detection it replaced took
10 s on the demo and gave the same numbers (tests/test_compare_bootstrap.py keeps it as the reference).
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from inspector.batch import EpisodePlan, EvalSettings
from inspector.boxes import convert
from inspector.data import Dataset, Episode
from inspector.evaluate import (
    CLIP_SCORE_THRESHOLD,
    ImageRecord,
    Matching,
    clip_st_iou,
    coco_map,
    match_totals,
)
from inspector.results import EpisodeResult

# COCOeval's defaults: IoU thresholds .50:.05:.95, 101 recall points, 100 detections per image and class.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100
# 1,000 paired resamples put a 95% percentile interval's end points within about ±0.005 of their
# limit at these sample sizes; more costs time in the app without changing a conclusion.
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95
# Resamples accumulated together: memory (block × detections) stays bounded at thousands of episodes.
RESAMPLE_BLOCK = 256


# ---------------------------------------------------------------------------------------------- COCO AP


@dataclass(frozen=True)
class CocoMatches:
    """Every detection, matched as COCOeval.evaluateImg matches it, ready for re-weighted accumulation.

    Per class c: det_image[c] (D,) image index; det_score[c] (D,); det_tp[c] (T, D) bool — already in
    COCO's global order (score descending, stable over images and within an image). gt_count (I, C)
    ground truths per image and class; classes (C,) the label of each column.
    """

    classes: np.ndarray
    det_image: tuple[np.ndarray, ...]
    det_tp: tuple[np.ndarray, ...]
    gt_count: np.ndarray


def _coco_iou(dets_xywh: np.ndarray, gts_xywh: np.ndarray) -> np.ndarray:
    """(D, G) IoU computed as pycocotools' C bbIou does (xywh, double), so thresholds tie the same way."""
    d, g = dets_xywh[:, None, :], gts_xywh[None, :, :]
    w = np.minimum(d[..., 0] + d[..., 2], g[..., 0] + g[..., 2]) - np.maximum(d[..., 0], g[..., 0])
    h = np.minimum(d[..., 1] + d[..., 3], g[..., 1] + g[..., 3]) - np.maximum(d[..., 1], g[..., 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    union = d[..., 2] * d[..., 3] + g[..., 2] * g[..., 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=inter > 0)


def _match_image(ious: np.ndarray) -> np.ndarray:
    """(T, D) bool: COCO's greedy matching of score-sorted dets against gts for each IoU threshold."""
    n_det, n_gt = ious.shape
    tp = np.zeros((len(IOU_THRESHOLDS), n_det), bool)
    if not n_gt:
        return tp
    reach = ious.max(axis=1)  # a detection below the threshold with every gt matches none: skip it
    for t, thr in enumerate(IOU_THRESHOLDS):
        taken = np.zeros(n_gt, bool)
        floor = min(thr, 1 - 1e-10)
        for d in np.flatnonzero(reach >= floor).tolist():
            best, m = floor, -1
            for g in range(n_gt):
                # COCO keeps the LAST gt reaching the best IoU (it moves on only when strictly below).
                if taken[g] or ious[d, g] < best:
                    continue
                best, m = ious[d, g], g
            if m >= 0:
                taken[m] = True
                tp[t, d] = True
    return tp


def coco_matches(records: Sequence[ImageRecord]) -> CocoMatches:
    """The CocoMatches of images (gt_boxes, gt_labels, pred_boxes, pred_scores, pred_labels), xyxy pixels."""
    classes = np.unique(
        np.concatenate([np.asarray(r[1], np.int64).reshape(-1) for r in records] + [np.zeros(0, np.int64)])
    )
    gt_count = np.zeros((len(records), len(classes)), np.int64)
    per_class: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {int(c): [] for c in classes}
    column = {int(c): k for k, c in enumerate(classes)}
    for i, (gb, gl, pb, ps, pl) in enumerate(records):
        gl, pl = np.asarray(gl, np.int64).reshape(-1), np.asarray(pl, np.int64).reshape(-1)
        ps = np.asarray(ps, np.float64).reshape(-1)
        g_xywh = convert(np.asarray(gb, np.float64).reshape(-1, 4), "xyxy", "xywh")
        p_xywh = convert(np.asarray(pb, np.float64).reshape(-1, 4), "xyxy", "xywh")
        # only the classes this image has (a few of an episode's); predicted classes with no ground truth
        # anywhere are not scored, as COCO scores only its categories
        present = [c for c in np.unique(np.concatenate([gl, pl])).tolist() if c in column]
        for c in present:
            k = column[c]
            g_idx = np.flatnonzero(gl == c)
            gt_count[i, k] = len(g_idx)
            p_idx = np.flatnonzero(pl == c)
            p_idx = p_idx[np.argsort(-ps[p_idx], kind="mergesort")][:MAX_DETS]
            if len(p_idx):
                tp = _match_image(_coco_iou(p_xywh[p_idx], g_xywh[g_idx]))
                per_class[c].append((np.full(len(p_idx), i), ps[p_idx], tp))
    det_image, det_tp = [], []
    for c in classes:
        parts = per_class[int(c)]
        if not parts:
            det_image.append(np.zeros(0, np.int64))
            det_tp.append(np.zeros((len(IOU_THRESHOLDS), 0), bool))
            continue
        images = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        tps = np.concatenate([p[2] for p in parts], axis=1)
        order = np.argsort(-scores, kind="mergesort")
        det_image.append(images[order])
        det_tp.append(tps[:, order])
    return CocoMatches(classes, tuple(det_image), tuple(det_tp), gt_count)


def _need(n_gt: np.ndarray) -> np.ndarray:
    """(B, R) the fewest true positives whose recall tp / n_gt reaches each recall point, in float64 as
    COCOeval divides (an integer tp reaches the point exactly when tp ≥ this); n_gt (B,) > 0."""
    n = n_gt[:, None]
    need = np.maximum(np.ceil(RECALL_POINTS * n) - 2, 0.0)  # at most 2 below: rounding moves it by < 1
    for _ in range(4):
        need = np.where(need / n < RECALL_POINTS, need + 1, need)
    return need


def _running_weight(det_image: np.ndarray, pos: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B, U) the summed weight of the detections up to and including each of `pos` (ascending), per resample.

    Detections are grouped into the stretches ending at each of pos and, within one, by image; each group
    adds its count times its image's weight. Resamples go in blocks, so memory stays (block, groups).
    """
    n_i = weights.shape[1]
    segment = np.searchsorted(pos, np.arange(pos[-1] + 1))  # the stretch each detection ends in
    groups, count = np.unique(segment * n_i + det_image[: pos[-1] + 1], return_counts=True)
    stretch, image = np.divmod(groups, n_i)
    starts = np.searchsorted(stretch, np.arange(len(pos)))  # every stretch holds its own last detection
    out = np.empty((len(weights), len(pos)))
    for lo in range(0, len(weights), RESAMPLE_BLOCK):
        added = weights[lo : lo + RESAMPLE_BLOCK, image] * count  # whole numbers: exact in any order
        out[lo : lo + RESAMPLE_BLOCK] = np.add.reduceat(added, starts, axis=1).cumsum(axis=1)
    return out


def _class_precisions(
    det_image: np.ndarray, det_tp: np.ndarray, weights: np.ndarray, n_gt: np.ndarray
) -> np.ndarray:
    """(B, T, R) one class's interpolated precision at each recall point, per resample and IoU threshold.

    The same numbers as COCOeval.accumulate's loop over every detection, from the true positives alone:
    recall rises only at a true positive, so the first detection reaching a recall point is one, and the
    precision envelope (best precision at that recall or beyond) is a maximum over true positives, since
    after each one precision only falls until the next. tp and the detection counts are whole numbers
    (weights are counts), so they are exact however they are summed. det_image (D,), det_tp (T, D) in
    COCO's order, weights (B, I), n_gt (B,) > 0.
    """
    n_b, n_t = len(weights), len(det_tp)
    q = np.zeros((n_b, n_t, len(RECALL_POINTS)))
    pos = np.flatnonzero(det_tp.any(axis=0))  # (U,) detections that are a TP at some threshold
    if not len(pos):
        return q  # recall stays 0: precision 0 at every recall point
    seen = _running_weight(det_image, pos, weights) + np.spacing(1)  # (B, U): COCO's tp + fp + eps
    need = _need(n_gt).astype(np.int64)  # (B, R)
    levels = int(n_gt.max()) + 1  # tp and need are whole numbers in 0..n_gt
    offsets = np.arange(n_b)[:, None] * levels
    for t in range(n_t):
        j = np.flatnonzero(det_tp[t, pos])  # (J,) this threshold's true positives among pos
        if not len(j):
            continue
        tp = np.cumsum(weights[:, det_image[pos[j]]], axis=1)  # (B, J)
        pr = tp / seen[:, j]
        envelope = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
        envelope = np.concatenate([envelope, np.zeros((n_b, 1))], axis=1)  # recall never reached → 0
        # the first true positive with tp ≥ need is the number with tp < need (tp never falls): counted
        # per row from a histogram of the tp levels, every row at once
        hist = np.bincount((tp.astype(np.int64) + offsets).ravel(), minlength=n_b * levels)
        below = np.cumsum(hist.reshape(n_b, levels), axis=1) - hist.reshape(n_b, levels)  # (B, levels)
        first = np.take_along_axis(below, need, axis=1)  # (B, R)
        q[:, t] = np.take_along_axis(envelope, first, axis=1)
    return q


def weighted_map(m: CocoMatches, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (map50 (B,), map50_95 (B,), per-class AP@0.5 (B, C)) with images weighted by weights (B, I).

    A weight of k counts an image k times (a bootstrap resample; weights are whole counts ≥ 0); unit weights
    reproduce COCOeval. Classes without ground truth in a resample are left out of its mean (nan per class),
    as COCO does.
    """
    weights = np.atleast_2d(np.asarray(weights, np.float64))
    if (weights < 0).any() or not np.array_equal(weights, np.floor(weights)):
        raise ValueError("weights count images: whole numbers ≥ 0")
    n_b, n_t, n_c = len(weights), len(IOU_THRESHOLDS), len(m.classes)
    ap = np.full((n_b, n_t, n_c), np.nan)
    n_gt = weights @ m.gt_count  # (B, C)
    # Row 0's recall-point precisions, kept whole so its means are taken in COCOeval.summarize's order
    # (a flat mean over (T, R, K)) and agree with pycocotools to the last bit; -1 marks "no ground truth".
    first = np.full((n_t, len(RECALL_POINTS), n_c), -1.0)
    for k in range(n_c):
        has = n_gt[:, k] > 0
        if not has.any():
            continue
        q = _class_precisions(m.det_image[k], m.det_tp[k], weights[has], n_gt[has, k])  # (B', T, R)
        ap[has, :, k] = q.mean(axis=2)
        if has[0]:
            first[:, :, k] = q[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no ground truth at all → nan
        map50, map50_95 = np.nanmean(ap[:, 0], axis=1), np.nanmean(ap, axis=(1, 2))
    if (first > -1).any():
        map50[0], map50_95[0] = first[0][first[0] > -1].mean(), first[first > -1].mean()
    return map50, map50_95, ap[:, 0]


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
    group, n_groups = episode_groups(episodes)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(resamples, n_groups))
    counts = np.stack([np.bincount(d, minlength=n_groups) for d in draws])  # (B, E)
    weights = np.concatenate([np.ones((1, n_groups)), counts])[:, group]  # row 0: the point estimate
    ma, mb = coco_matches(records_a), coco_matches(records_b)
    a50, a95, _ = weighted_map(ma, weights)
    b50, b95, _ = weighted_map(mb, weights)
    tail = (1 - confidence) / 2 * 100
    out = []
    for name, a, b in (("map50", a50, b50), ("map50_95", a95, b95)):
        d = b - a
        low, high = (
            np.nanpercentile(d[1:], [tail, 100 - tail]) if np.isfinite(d[1:]).any() else (math.nan,) * 2
        )
        out.append(DeltaCI(name, float(d[0]), float(low), float(high), resamples, confidence))
    return out[0], out[1]


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


# ---------------------------------------------------------------------------------------------- one plan


class SharedPlan(EpisodePlan):
    """One EpisodePlan read by `readers` threads at once (A's and B's evaluations): each episode is decoded
    once and kept only until every reader has had it (decoding is ~15% of an episode's time on the demo)."""

    def __init__(self, data: Dataset, clips: Dataset | None, s: EvalSettings, readers: int = 2):
        super().__init__(data, clips, s)
        self.readers = readers  # set before the readers start
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[Episode, int]] = {}  # position → (episode, readers still to come)

    def episode(self, position: int) -> Episode:
        with self._lock:
            kept = self._waiting.pop(position, None)
            episode, left = kept if kept is not None else (super().episode(position), self.readers)
            if left > 1:
                self._waiting[position] = (episode, left - 1)
            return episode
