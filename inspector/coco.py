"""COCO box AP as pycocotools' COCOeval computes it (all areas, 100 detections per image and class, 101
recall points), without pycocotools: the same numbers to the last bit, ~10× faster on the demo's 26,045
detections.

COCOeval.evaluateImg's per-image greedy matching is done once (`coco_matches`: the same IoU arithmetic as
its C bbIou, the same order, the same tie rules), then either accumulated as COCOeval.accumulate does
(`accumulate`, a transcription of its arithmetic over the same arrays) or, for the bootstrap, with images
re-weighted (`weighted_map`: a resample counts an image a whole number of times; unit weights give
accumulate's numbers). `evaluate.coco_map` reports these; tests/test_coco.py checks them against pycocotools
on random and crowded cases and on the demo's evaluations.

The one rule of COCOeval not mirrored is the area range: a box whose area (w·h) is below 0 (inverted in one
dimension) or above 1e10 is "ignored" there. `exact(records)` says whether any box is, and evaluate.coco_map
hands such records to pycocotools itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from inspector.boxes import convert

if TYPE_CHECKING:
    from inspector.evaluate import ImageRecord

# COCOeval's defaults: IoU thresholds .50:.05:.95, 101 recall points, 100 detections per image and class.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
AP50_ONLY = IOU_THRESHOLDS[:1]  # 0.5: all that AP@0.5 (TIDE's AP) needs matched
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100
# Params.areaRng "all": [0², 1e5²]; evaluateImg ignores a box with an area outside it (not mirrored here).
AREA_ALL = (0.0, 1e5**2)
# Resamples accumulated together: memory (block × detections) stays bounded at thousands of episodes.
RESAMPLE_BLOCK = 256


@dataclass(frozen=True)
class CocoMatches:
    """Every detection, matched as COCOeval.evaluateImg matches it, ready for (re-weighted) accumulation.

    Per class c: det_image[c] (D,) image index; det_score[c] (D,); det_tp[c] (T, D) bool — already in
    COCO's global order (score descending, stable over images and within an image). gt_count (I, C)
    ground truths per image and class; classes (C,) the label of each column (the labels with ground truth);
    thresholds (T,) the IoU thresholds matched (COCO's ten, or a leading part of them).
    """

    classes: np.ndarray
    det_image: tuple[np.ndarray, ...]
    det_tp: tuple[np.ndarray, ...]
    gt_count: np.ndarray
    det_score: tuple[np.ndarray, ...]
    thresholds: np.ndarray = field(default_factory=lambda: IOU_THRESHOLDS)


def _coco_iou(dets_xywh: np.ndarray, gts_xywh: np.ndarray) -> np.ndarray:
    """(D, G) IoU computed as pycocotools' C bbIou does (xywh, double), so thresholds tie the same way."""
    d, g = dets_xywh[:, None, :], gts_xywh[None, :, :]
    w = np.minimum(d[..., 0] + d[..., 2], g[..., 0] + g[..., 2]) - np.maximum(d[..., 0], g[..., 0])
    h = np.minimum(d[..., 1] + d[..., 3], g[..., 1] + g[..., 3]) - np.maximum(d[..., 1], g[..., 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    union = d[..., 2] * d[..., 3] + g[..., 2] * g[..., 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=inter > 0)


def _match_image(ious: np.ndarray, thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """(T, D) bool: COCO's greedy matching of score-sorted dets against gts for each IoU threshold (each
    threshold's matching is its own: any subset of them gives those rows unchanged)."""
    n_det, n_gt = ious.shape
    tp = np.zeros((len(thresholds), n_det), bool)
    if not n_gt:
        return tp
    reach = ious.max(axis=1)  # a detection below the threshold with every gt matches none: skip it
    for t, thr in enumerate(thresholds):
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


def _labels(records: Sequence[ImageRecord], column: int) -> np.ndarray:
    """The distinct labels of one column of the records (1: ground truth, 4: predictions), ascending."""
    parts = [np.asarray(r[column], np.int64).reshape(-1) for r in records]
    return np.unique(np.concatenate([*parts, np.zeros(0, np.int64)]))


@dataclass(frozen=True)
class ImageMatches:
    """One image's part of coco_matches, per class it holds (ground truth or predictions): gt_count {class:
    ground truths}, and for a class with predictions its MAX_DETS highest-scoring ones, score order (stable):
    scores {class: (D,)} and tp {class: (T, D) bool} at the thresholds matched."""

    gt_count: dict[int, int]
    scores: dict[int, np.ndarray]
    tp: dict[int, np.ndarray]


def image_matches(record: ImageRecord, thresholds: np.ndarray = IOU_THRESHOLDS) -> ImageMatches:
    """The ImageMatches of one image (gt_boxes, gt_labels, pred_boxes, pred_scores, pred_labels), xyxy px:
    COCOeval.evaluateImg's greedy matching, class by class. It depends on this image alone, so a set of
    images changed in a few (TIDE's fixes) reuses the others' (`assemble`)."""
    gb, gl, pb, ps, pl = record
    gl, pl = np.asarray(gl, np.int64).reshape(-1), np.asarray(pl, np.int64).reshape(-1)
    ps = np.asarray(ps, np.float64).reshape(-1)
    g_xywh = convert(np.asarray(gb, np.float64).reshape(-1, 4), "xyxy", "xywh")
    p_xywh = convert(np.asarray(pb, np.float64).reshape(-1, 4), "xyxy", "xywh")
    out = ImageMatches({}, {}, {})
    for c in np.unique(np.concatenate([gl, pl])).tolist():  # a few of an episode's classes
        g_idx = np.flatnonzero(gl == c)
        out.gt_count[c] = len(g_idx)
        p_idx = np.flatnonzero(pl == c)
        p_idx = p_idx[np.argsort(-ps[p_idx], kind="mergesort")][:MAX_DETS]
        if len(p_idx):
            out.scores[c] = ps[p_idx]
            out.tp[c] = (
                _match_image(_coco_iou(p_xywh[p_idx], g_xywh[g_idx]), thresholds)
                if len(g_idx)
                else np.zeros((len(thresholds), len(p_idx)), bool)  # what matching against no gt gives
            )
    return out


def assemble(images: Sequence[ImageMatches], thresholds: np.ndarray = IOU_THRESHOLDS) -> CocoMatches:
    """The CocoMatches of images from each one's ImageMatches (at `thresholds`): every class with ground
    truth somewhere, its detections in COCO's global order; predicted classes with no ground truth anywhere
    are not scored, as COCO scores only its categories."""
    classes = np.unique(np.array([c for m in images for c, n in m.gt_count.items() if n], np.int64))
    gt_count = np.zeros((len(images), len(classes)), np.int64)
    column = {int(c): k for k, c in enumerate(classes)}
    per_class: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {int(c): [] for c in classes}
    for i, m in enumerate(images):
        for c, n in m.gt_count.items():
            if c not in column:
                continue
            gt_count[i, column[c]] = n
            if c in m.scores:
                per_class[c].append((np.full(len(m.scores[c]), i), m.scores[c], m.tp[c]))
    det_image, det_score, det_tp = [], [], []
    for c in classes:
        parts = per_class[int(c)]
        if not parts:
            det_image.append(np.zeros(0, np.int64))
            det_score.append(np.zeros(0, np.float64))
            det_tp.append(np.zeros((len(thresholds), 0), bool))
            continue
        images_of = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        tps = np.concatenate([p[2] for p in parts], axis=1)
        order = np.argsort(-scores, kind="mergesort")
        det_image.append(images_of[order])
        det_score.append(scores[order])
        det_tp.append(tps[:, order])
    return CocoMatches(classes, tuple(det_image), tuple(det_tp), gt_count, tuple(det_score), thresholds)


def coco_matches(records: Sequence[ImageRecord], thresholds: np.ndarray = IOU_THRESHOLDS) -> CocoMatches:
    """The CocoMatches of images (gt_boxes, gt_labels, pred_boxes, pred_scores, pred_labels), xyxy pixels,
    at `thresholds` (COCO's ten; AP50_ONLY matches at 0.5 alone, a tenth of the work, for AP@0.5)."""
    return assemble([image_matches(r, thresholds) for r in records], thresholds)


def exact(records: Sequence[ImageRecord]) -> bool:
    """Whether COCOeval ignores no box of the records for its area (w·h outside AREA_ALL): then coco_matches
    and accumulate give its numbers exactly."""
    for gb, _, pb, _, _ in records:
        for boxes in (gb, pb):
            b = np.asarray(boxes, np.float64).reshape(-1, 4)
            area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # COCO's w·h of the xywh it is given
            if len(b) and not ((area >= AREA_ALL[0]) & (area <= AREA_ALL[1])).all():
                return False
    return True


# ---------------------------------------------------------------------------------------------- accumulate


@dataclass(frozen=True)
class CocoAccumulation:
    """COCOeval.eval's arrays at area "all" and 100 detections per image, one column per category.

    labels (K,) every label with ground truth or predictions, ascending (COCO's catIds − 1); precision
    (T, R, K) interpolated precision at each IoU threshold and recall point; scores (T, R, K) the score of the
    detection where each recall point is first reached; recall (T, K) the recall of all detections. −1 where a
    category has no ground truth, as in pycocotools; 0 past the highest recall reached.
    """

    labels: np.ndarray
    precision: np.ndarray
    scores: np.ndarray
    recall: np.ndarray

    @property
    def map50_95(self) -> float:
        """COCOeval.stats[0]: the mean over every defined (IoU threshold, recall point, category)."""
        s = self.precision
        return float(np.mean(s[s > -1])) if (s > -1).any() else -1.0

    @property
    def map50(self) -> float:
        """COCOeval.stats[1]: the same mean at IoU 0.5."""
        s = self.precision[:1]
        return float(np.mean(s[s > -1])) if (s > -1).any() else -1.0


def accumulate(records: Sequence[ImageRecord], m: CocoMatches | None = None) -> CocoAccumulation:
    """The CocoAccumulation of images (as coco_matches takes them; `m` their coco_matches when at hand), at
    m's thresholds (T rows: COCO's ten unless m was matched at fewer).

    COCOeval.accumulate's arithmetic on the same arrays, vectorised over IoU thresholds and recall points: tp
    and fp running sums, precision tp / (tp + fp + eps) made non-increasing from the right, read at the first
    detection whose recall reaches each recall point (searchsorted, side left). Each threshold's row is
    computed from its own matches alone, so m matched at AP50_ONLY gives row 0 of the full accumulation.
    """
    m = coco_matches(records) if m is None else m
    labels = np.union1d(m.classes, _labels(records, 4))
    n_t, n_r, n_k = len(m.thresholds), len(RECALL_POINTS), len(labels)
    precision, scores = -np.ones((n_t, n_r, n_k)), -np.ones((n_t, n_r, n_k))
    recall = -np.ones((n_t, n_k))
    column = {int(c): k for k, c in enumerate(labels)}
    npig_all = m.gt_count.sum(axis=0)
    for c_index, c in enumerate(m.classes):
        k, npig = column[int(c)], int(npig_all[c_index])
        tps, dt_scores = m.det_tp[c_index], m.det_score[c_index]
        nd = tps.shape[1]
        tp_sum = np.cumsum(tps, axis=1).astype(float)  # (T, D)
        fp_sum = np.cumsum(~tps, axis=1).astype(float)
        rc = tp_sum / npig
        pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
        pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # COCO's right-to-left envelope
        recall[:, k] = rc[:, -1] if nd else 0.0
        q, ss = np.zeros((n_t, n_r)), np.zeros((n_t, n_r))
        for t in range(n_t):
            inds = np.searchsorted(rc[t], RECALL_POINTS, side="left")
            ok = inds < nd  # COCO stops at the first index past the detections (its try / except)
            q[t, ok], ss[t, ok] = pr[t, inds[ok]], dt_scores[inds[ok]]
        precision[:, :, k], scores[:, :, k] = q, ss
    return CocoAccumulation(labels, precision, scores, recall)


# ---------------------------------------------------------------------------------------------- weighted


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
