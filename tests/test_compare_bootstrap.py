"""inspector/coco.py's vectorised COCO matching and bootstrap against the loops they replaced (kept here,
verbatim, as the reference: the per-detection, per-resample `searchsorted` loop of COCOeval.accumulate), and
the bootstrap's two sides computed apart.

bench/bench_compare.py times the two (`reference_bootstrap_delta_map` against `bootstrap_delta_map`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pytest

from inspector.boxes import convert
from inspector.coco import IOU_THRESHOLDS, MAX_DETS, RECALL_POINTS, CocoMatches, coco_matches, weighted_map
from inspector.compare import (
    BOOTSTRAP_RESAMPLES,
    CONFIDENCE,
    DeltaCI,
    bootstrap_delta_map,
    delta_cis,
    episode_groups,
    resampled_maps,
)
from inspector.evaluate import ImageRecord, pycocotools_map

# ---------------------------------------------------------------------------------------------- reference


def _reference_iou(dets_xywh: np.ndarray, gts_xywh: np.ndarray) -> np.ndarray:
    d, g = dets_xywh[:, None, :], gts_xywh[None, :, :]
    w = np.minimum(d[..., 0] + d[..., 2], g[..., 0] + g[..., 2]) - np.maximum(d[..., 0], g[..., 0])
    h = np.minimum(d[..., 1] + d[..., 3], g[..., 1] + g[..., 3]) - np.maximum(d[..., 1], g[..., 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    union = d[..., 2] * d[..., 3] + g[..., 2] * g[..., 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=inter > 0)


def _reference_match_image(ious: np.ndarray) -> np.ndarray:
    n_det, n_gt = ious.shape
    tp = np.zeros((len(IOU_THRESHOLDS), n_det), bool)
    for t, thr in enumerate(IOU_THRESHOLDS):
        taken = np.zeros(n_gt, bool)
        for d in range(n_det):
            best, m = min(thr, 1 - 1e-10), -1
            for g in range(n_gt):
                if taken[g] or ious[d, g] < best:
                    continue
                best, m = ious[d, g], g
            if m >= 0:
                taken[m] = True
                tp[t, d] = True
    return tp


def reference_coco_matches(records: Sequence[ImageRecord]) -> CocoMatches:
    """coco_matches as it was: every image against every class, every detection through the greedy loop."""
    classes = np.unique(
        np.concatenate([np.asarray(r[1], np.int64).reshape(-1) for r in records] + [np.zeros(0, np.int64)])
    )
    gt_count = np.zeros((len(records), len(classes)), np.int64)
    per_class: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {int(c): [] for c in classes}
    for i, (gb, gl, pb, ps, pl) in enumerate(records):
        gl, pl = np.asarray(gl, np.int64).reshape(-1), np.asarray(pl, np.int64).reshape(-1)
        ps = np.asarray(ps, np.float64).reshape(-1)
        g_xywh = convert(np.asarray(gb, np.float64).reshape(-1, 4), "xyxy", "xywh")
        p_xywh = convert(np.asarray(pb, np.float64).reshape(-1, 4), "xyxy", "xywh")
        for k, c in enumerate(classes):
            g_idx = np.flatnonzero(gl == c)
            gt_count[i, k] = len(g_idx)
            p_idx = np.flatnonzero(pl == c)
            p_idx = p_idx[np.argsort(-ps[p_idx], kind="mergesort")][:MAX_DETS]
            if len(p_idx):
                tp = _reference_match_image(_reference_iou(p_xywh[p_idx], g_xywh[g_idx]))
                per_class[int(c)].append((np.full(len(p_idx), i), ps[p_idx], tp))
    det_image, det_score, det_tp = [], [], []
    for c in classes:
        parts = per_class[int(c)]
        if not parts:
            det_image.append(np.zeros(0, np.int64))
            det_score.append(np.zeros(0, np.float64))
            det_tp.append(np.zeros((len(IOU_THRESHOLDS), 0), bool))
            continue
        images = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        tps = np.concatenate([p[2] for p in parts], axis=1)
        order = np.argsort(-scores, kind="mergesort")
        det_image.append(images[order])
        det_score.append(scores[order])
        det_tp.append(tps[:, order])
    return CocoMatches(classes, tuple(det_image), tuple(det_tp), gt_count, tuple(det_score))


def reference_weighted_map(m: CocoMatches, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """weighted_map as it was: a cumsum over every detection and one searchsorted per resample and class."""
    weights = np.atleast_2d(np.asarray(weights, np.float64))
    n_b, n_t, n_c = len(weights), len(IOU_THRESHOLDS), len(m.classes)
    ap = np.full((n_b, n_t, n_c), np.nan)
    n_gt = weights @ m.gt_count
    first = np.full((n_t, len(RECALL_POINTS), n_c), -1.0)
    for k in range(n_c):
        w = weights[:, m.det_image[k]]
        seen = np.cumsum(w, axis=1) + np.spacing(1)
        for t in range(n_t):
            tp = np.cumsum(w * m.det_tp[k][t], axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                rc = tp / n_gt[:, k : k + 1]
            pr = tp / seen
            pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
            pr = np.concatenate([pr, np.zeros((n_b, 1))], axis=1)
            for b in range(n_b):
                if n_gt[b, k] > 0:
                    q = pr[b, np.searchsorted(rc[b], RECALL_POINTS, side="left")]
                    ap[b, t, k] = q.mean()
                    if b == 0:
                        first[t, :, k] = q
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        map50, map50_95 = np.nanmean(ap[:, 0], axis=1), np.nanmean(ap, axis=(1, 2))
    if (first > -1).any():
        map50[0], map50_95[0] = first[0][first[0] > -1].mean(), first[first > -1].mean()
    return map50, map50_95, ap[:, 0]


def reference_bootstrap_delta_map(
    records_a: Sequence[ImageRecord],
    records_b: Sequence[ImageRecord],
    episodes: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> tuple[DeltaCI, DeltaCI]:
    """bootstrap_delta_map as it was, on the reference matching and accumulation."""
    group, n_groups = episode_groups(episodes)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(resamples, n_groups))
    counts = np.stack([np.bincount(d, minlength=n_groups) for d in draws])
    weights = np.concatenate([np.ones((1, n_groups)), counts])[:, group]
    a50, a95, _ = reference_weighted_map(reference_coco_matches(records_a), weights)
    b50, b95, _ = reference_weighted_map(reference_coco_matches(records_b), weights)
    tail = (1 - confidence) / 2 * 100
    out = []
    for name, a, b in (("map50", a50, b50), ("map50_95", a95, b95)):
        d = b - a
        low, high = (
            np.nanpercentile(d[1:], [tail, 100 - tail]) if np.isfinite(d[1:]).any() else (math.nan,) * 2
        )
        out.append(DeltaCI(name, float(d[0]), float(low), float(high), resamples, confidence))
    return out[0], out[1]


# ---------------------------------------------------------------------------------------------- records


def crowded_records(seed: int, n: int = 60, classes: int = 5) -> list[ImageRecord]:
    """Images like a weak detector's: several boxes per target (duplicates at every IoU), boxes of classes
    with no ground truth anywhere, tied scores, images without targets and images without predictions."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        g = int(rng.integers(0, 4)) if i % 7 else 0
        xy = rng.uniform(0, 200, (g, 2))
        gt = np.concatenate([xy, xy + rng.uniform(10, 80, (g, 2))], 1)
        gl = rng.integers(0, classes, g)
        copies = rng.integers(0, 5, g)
        pred = np.repeat(gt, copies, axis=0) + rng.normal(0, 8, (int(copies.sum()), 4))
        pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
        pl = np.repeat(gl, copies)
        extra = int(rng.integers(0, 6)) if i % 11 else 0
        exy = rng.uniform(0, 200, (extra, 2))
        pred = np.concatenate([pred, np.concatenate([exy, exy + 30], 1)])
        pl = np.concatenate([pl, rng.integers(0, classes + 1, extra)])  # class `classes` has no ground truth
        scores = np.round(rng.random(len(pred)), 1)  # ties
        records.append((gt.astype(np.float32), gl, pred.astype(np.float32), scores.astype(np.float32), pl))
    if not any(len(r[1]) for r in records):
        raise AssertionError("a seed without ground truth")
    return records


def _assert_same(new: Sequence[np.ndarray], old: Sequence[np.ndarray]) -> None:
    for x, y in zip(new, old, strict=True):
        assert x.shape == y.shape
        assert np.array_equal(np.isnan(x), np.isnan(y))
        assert np.nanmax(np.abs(x - y), initial=0.0) <= 1e-12


# ---------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_coco_matches_equal_the_loop_they_replaced(seed: int) -> None:
    records = crowded_records(seed)
    new, old = coco_matches(records), reference_coco_matches(records)
    assert np.array_equal(new.classes, old.classes) and np.array_equal(new.gt_count, old.gt_count)
    for name in ("det_image", "det_tp", "det_score"):
        assert all(np.array_equal(x, y) for x, y in zip(getattr(new, name), getattr(old, name), strict=True))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_weighted_map_equals_the_loop_it_replaced(seed: int) -> None:
    records = crowded_records(seed)
    m = coco_matches(records)
    rng = np.random.default_rng(seed)
    # unit weights first (the point estimate), then counts with zeros (images and whole classes left out),
    # more than one RESAMPLE_BLOCK of them
    weights = np.concatenate([np.ones((1, len(records))), rng.integers(0, 4, (300, len(records)))])
    weights[1, :] = 0  # a resample with no image at all
    _assert_same(weighted_map(m, weights), reference_weighted_map(m, weights))
    assert weighted_map(m, weights[:1])[0][0] == pycocotools_map(records)[0].map50  # pycocotools to the bit


def test_weighted_map_of_classes_without_detections_or_true_positives() -> None:
    box = np.array([[0, 0, 10, 10]], np.float32)
    far = np.array([[50, 50, 60, 60]], np.float32)
    records = [
        (
            box,
            np.array([0]),
            far,
            np.array([0.9], np.float32),
            np.array([0]),
        ),  # class 0: only a false positive
        (box, np.array([1]), np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)),
        (box, np.array([2]), box, np.array([0.5], np.float32), np.array([2])),  # class 2: found
    ]
    m = coco_matches(records)
    weights = np.array([[1, 1, 1], [2, 0, 1], [0, 3, 0]], float)
    _assert_same(weighted_map(m, weights), reference_weighted_map(m, weights))
    for bad in ([[0.5, 1, 1]], [[-1, 1, 1]]):  # weights count images
        with pytest.raises(ValueError, match="whole numbers"):
            weighted_map(m, np.array(bad, float))


def test_bootstrap_equals_the_loop_it_replaced() -> None:
    a = crowded_records(5, n=45)
    b = [(g, gl, *r[2:]) for (g, gl, *_), r in zip(a, crowded_records(6, n=45), strict=True)]
    episodes = np.repeat(np.arange(15), 3)
    new = bootstrap_delta_map(a, b, episodes, resamples=200, seed=3)
    old = reference_bootstrap_delta_map(a, b, episodes, resamples=200, seed=3)
    for x, y in zip(new, old, strict=True):
        assert x.metric == y.metric
        assert max(abs(x.delta - y.delta), abs(x.low - y.low), abs(x.high - y.high)) <= 1e-12


def test_each_sides_resamples_apart_give_the_paired_bootstrap() -> None:
    """The Compare page computes A's and B's resampled mAPs where each side was evaluated (compare_worker):
    combined they are bootstrap_delta_map's numbers exactly, and only paired halves combine."""
    a = crowded_records(5, n=45)
    b = [(g, gl, *r[2:]) for (g, gl, *_), r in zip(a, crowded_records(6, n=45), strict=True)]
    episodes = np.repeat(np.arange(15), 3)
    ra, rb = (resampled_maps(r, episodes, resamples=200, seed=3) for r in (a, b))
    together = bootstrap_delta_map(a, b, episodes, resamples=200, seed=3)
    assert delta_cis(ra, rb) == together
    assert ra.map50.shape == (201,) and together[0].resamples == 200
    for other in (
        resampled_maps(b, episodes, resamples=200, seed=4),  # another draw
        resampled_maps(b, np.repeat(np.arange(9), 5), resamples=200, seed=3),  # other episodes
        resampled_maps(b, episodes, resamples=100, seed=3),
    ):
        with pytest.raises(ValueError, match="not paired"):
            delta_cis(ra, other)
    with pytest.raises(ValueError, match="same images"):
        resampled_maps(a, episodes[:-1])
