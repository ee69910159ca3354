"""Matching, COCO mAP (checked against pycocotools run directly) and ST-IoU on hand-computed cases."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from inspector.evaluate import (
    CLIP_SCORE_THRESHOLD,
    clip_st_iou,
    clip_track,
    coco_map,
    coco_map_with_pr,
    evaluate,
    match,
    st_iou,
)
from inspector.results import ClipResult, QueryResult

E = np.zeros((0, 4), np.float32)


def test_match_hand_case():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    gt_labels = np.array([0, 0, 1])
    pred = np.array(
        [
            [0, 0, 10, 10],  # class 0, perfect → TP with gt 0
            [1, 1, 10, 10],  # class 0, also overlaps gt 0 but lower score → FP (gt 0 taken)
            [20, 20, 30, 25],  # class 0, IoU 0.5 with gt 1 → TP (threshold is inclusive)
            [0, 0, 10, 10],  # class 2: no gt of that class → FP
        ],
        np.float32,
    )
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    labels = np.array([0, 0, 0, 2])
    m = match(pred, scores, labels, gt, gt_labels)
    assert (m.tp, m.fp, m.fn) == (2, 2, 1)
    assert m.pred_tp.tolist() == [True, False, True, False]
    assert m.pairs.tolist() == [[0, 0], [2, 1]]
    assert m.pred_iou[2] == pytest.approx(0.5)
    assert (m.per_class[0].tp, m.per_class[0].fp, m.per_class[0].fn) == (2, 1, 0)
    assert m.per_class[1].fn == 1 and m.per_class[2].fp == 1


def test_match_higher_score_wins_the_gt():
    gt = np.array([[0, 0, 10, 10]], np.float32)
    pred = np.array([[0, 0, 10, 8], [0, 0, 10, 10]], np.float32)  # IoU 0.8 and 1.0
    m = match(pred, [0.9, 0.3], [0, 0], gt, [0])
    assert m.pred_tp.tolist() == [True, False]
    assert match(pred, [0.9, 0.3], [0, 0], gt, [0], iou_threshold=0.9).pred_tp.tolist() == [False, True]


def test_match_empty_inputs():
    m = match(E, [], [], E, [])
    assert (m.tp, m.fp, m.fn) == (0, 0, 0) and m.pairs.shape == (0, 2)
    m = match(E, [], [], np.array([[0, 0, 1, 1]]), [3])
    assert (m.tp, m.fp, m.fn) == (0, 0, 1)


def _random_records(seed: int, n: int = 12):
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(n):
        g = int(rng.integers(0, 5))
        xy = rng.uniform(0, 80, (g, 2))
        gb = np.concatenate([xy, xy + rng.uniform(5, 40, (g, 2))], 1).astype(np.float32)
        gl = rng.integers(0, 3, g)
        # jittered copies of some gts plus random boxes
        keep = rng.uniform(size=g) < 0.7
        pb = gb[keep] + rng.normal(0, 3, (int(keep.sum()), 4)).astype(np.float32)
        pl = gl[keep].copy()
        extra = int(rng.integers(0, 3))
        exy = rng.uniform(0, 80, (extra, 2))
        pb = np.concatenate([pb, np.concatenate([exy, exy + 20], 1)]).astype(np.float32)
        pl = np.concatenate([pl, rng.integers(0, 3, extra)])
        ps = rng.uniform(0, 1, len(pb))
        records.append((gb, gl, pb, ps, pl))
    return records


def _pycocotools_directly(records):
    """COCO AP computed with pycocotools by hand, independently of inspector.evaluate."""
    images, anns, dets = [], [], []
    for i, (gb, gl, pb, ps, pl) in enumerate(records):
        images.append({"id": 100 + i})
        for b, c in zip(gb.tolist(), gl.tolist(), strict=False):
            w, h = b[2] - b[0], b[3] - b[1]
            bbox = [b[0], b[1], w, h]
            ann = {"id": len(anns) + 1, "image_id": 100 + i, "category_id": c + 10, "bbox": bbox}
            anns.append({**ann, "area": w * h, "iscrowd": 0})
        for b, s, c in zip(pb.tolist(), ps.tolist(), pl.tolist(), strict=False):
            bbox = [b[0], b[1], b[2] - b[0], b[3] - b[1]]
            dets.append({"image_id": 100 + i, "category_id": c + 10, "bbox": bbox, "score": s})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in (10, 11, 12)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[1], ev.stats[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coco_map_equals_pycocotools(seed):
    records = _random_records(seed)
    want50, want = _pycocotools_directly(records)
    got = coco_map(records)
    assert got.map50 == pytest.approx(want50, abs=1e-12)
    assert got.map50_95 == pytest.approx(want, abs=1e-12)
    assert 0 < got.map50 < 1
    # mAP@0.5 is the mean of the per-class AP@0.5
    assert np.nanmean(list(got.per_class.values())) == pytest.approx(got.map50)


def test_coco_map_perfect_and_none():
    records = [(gb, gl, gb, np.ones(len(gb)), gl) for gb, gl, *_ in _random_records(3)]
    perfect = coco_map(records)
    assert perfect.map50 == pytest.approx(1.0) and perfect.map50_95 == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in perfect.per_class.values())
    none = coco_map([(gb, gl, E, np.zeros(0), np.zeros(0, int)) for gb, gl, *_ in records])
    assert none.map50 == 0 and none.map50_95 == 0
    assert math.isnan(coco_map([(E, [], E, [], [])]).map50)


def test_coco_map_converts_xyxy_to_xywh():
    # A box 10 wide at x=100: a wrong conversion (xyxy passed as xywh) gives IoU ≈ 0.1 and AP 0.
    gt = np.array([[100, 50, 110, 70]], np.float32)
    pred = np.array([[101, 50, 111, 70]], np.float32)  # IoU 0.818 → TP at 0.5 .. 0.8
    result = coco_map([(gt, [0], pred, [0.9], [0])])
    assert result.map50 == pytest.approx(1.0)
    assert result.map50_95 == pytest.approx(0.7)  # 7 of the 10 thresholds (0.50 … 0.80) are hit


def test_st_iou_hand_cases():
    box = [0, 0, 10, 10]
    # disjoint frames: gt in 0-1, prediction in 2-3 → nothing in common
    assert st_iou({2: box, 3: box}, {0: box, 1: box}) == 0
    # empty prediction → 0
    assert st_iou({}, {0: box}) == 0
    assert st_iou([None, E], [box, box]) == 0
    # neither has a box → nan
    assert math.isnan(st_iou([None], [E]))
    # partial: gt in frames 0,1,2; prediction in 1,2,3.
    # frame 1: perfect (1.0); frame 2: [0,0,10,5] vs box → 50/100 = 0.5; frames 0 and 3 count, add 0.
    # ST-IoU = (1.0 + 0.5) / 4 = 0.375
    pred = {1: box, 2: [0, 0, 10, 5], 3: box}
    gt = [box, np.array([box]), box]
    assert st_iou(pred, gt) == pytest.approx(0.375)


def _frame(t: int, target: list | None, preds: list[tuple[list, float, int]]) -> QueryResult:
    boxes = np.array([b for b, _, _ in preds], np.float32).reshape(-1, 4)
    targets = np.array([target] if target else [], np.float32).reshape(-1, 4)
    return QueryResult(
        f"clip/{t}",
        (64, 64),
        boxes,
        np.array([s for _, s, _ in preds], np.float32),
        np.array([w for _, _, w in preds], np.int64),
        targets,
        np.zeros(len(targets), np.int64),
    )


def test_clip_st_iou_on_a_four_frame_clip_worked_out_by_hand():
    """The target G = [0,0,10,10] is in frames 0-2 and has left the view in frame 3; the clip's way is 0.

    frame 0: way 0 box = G at 0.9 (IoU 1) and a way-1 box at 0.95 (another way: ignored)
    frame 1: way 0 [0,0,10,5] at 0.8 (IoU 50/100 = 0.5) and G itself at 0.4: the best SCORE is the prediction
    frame 2: way 0 [5,0,15,10] at 0.2, under the 0.3 gate → predicted absent: a missed frame
    frame 3: way 0 [20,20,30,30] at 0.7 where there is no target: a false alarm
    Frames in either track {0, 1, 2, 3} = 4; in both {0, 1}: ST-IoU = (1 + 0.5) / 4 = 0.375.
    Gate 0.1: frame 2 counts too, IoU (5·10) / (100 + 100 − 50) = 1/3 → (1.5 + 1/3) / 4 = 0.4583.
    Gate 0.75: frame 3's false alarm drops out, either = {0, 1, 2} → 1.5 / 3 = 0.5.
    """
    g = [0, 0, 10, 10]
    clip = ClipResult(
        "clip",
        0,
        (
            _frame(0, g, [(g, 0.9, 0), (g, 0.95, 1)]),
            _frame(1, g, [([0, 0, 10, 5], 0.8, 0), (g, 0.4, 0)]),
            _frame(2, g, [([5, 0, 15, 10], 0.2, 0)]),
            _frame(3, None, [([20, 20, 30, 30], 0.7, 0)]),
        ),
    )
    track = clip_track(clip, 0.3)
    assert [None if b is None else b.tolist() for b in track] == [g, [0, 0, 10, 5], None, [20, 20, 30, 30]]
    assert clip_st_iou(clip, 0.3) == pytest.approx(0.375)
    assert clip_st_iou(clip) == clip_st_iou(clip, CLIP_SCORE_THRESHOLD)  # the one default gate
    assert clip_st_iou(clip, 0.1) == pytest.approx((1.5 + 1 / 3) / 4)
    assert clip_st_iou(clip, 0.75) == pytest.approx(0.5)
    assert clip_st_iou(ClipResult("other way", 1, clip.frames[:3]), 0.0) == pytest.approx(
        1 / 3
    )  # only frame 0


def test_evaluate_summarises_images_and_clips():
    gb = np.array([[0, 0, 10, 10]], np.float32)
    images = [(gb, [0], gb, [0.9], [0]), (gb, [0], E, [], [])]
    clips = [({0: gb[0]}, {0: gb[0], 1: gb[0]}), ([None], [None])]
    result = evaluate(images, clips)
    assert (result.tp, result.fp, result.fn) == (1, 0, 1)
    assert result.recall == 0.5 and result.precision == 1.0
    assert result.st_iou == pytest.approx(0.5) and math.isnan(result.per_clip_st_iou[1])
    assert result.map.map50 == pytest.approx(0.5, abs=0.01)


# ---------------------------------------------------------------------------------------------- PR curves


def _per_class_ap50_directly(records) -> dict[int, float]:
    """Each class's AP50 from pycocotools run by hand: the mean of eval['precision'] at IoU 0.5, all areas,
    100 detections, over the recall points where it is defined."""
    images, anns, dets = [], [], []
    for i, (gb, gl, pb, ps, pl) in enumerate(records):
        images.append({"id": i + 1})
        for b, c in zip(np.asarray(gb).tolist(), np.asarray(gl).tolist(), strict=False):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append(
                {"id": len(anns) + 1, "image_id": i + 1, "category_id": c + 1, "bbox": [b[0], b[1], w, h]}
                | {"area": w * h, "iscrowd": 0}
            )
        for b, s, c in zip(
            np.asarray(pb).tolist(), np.asarray(ps).tolist(), np.asarray(pl).tolist(), strict=False
        ):
            bbox = [b[0], b[1], b[2] - b[0], b[3] - b[1]]
            dets.append({"image_id": i + 1, "category_id": c + 1, "bbox": bbox, "score": s})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in (1, 2, 3)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
    out = {}
    for k, cat in enumerate(ev.params.catIds):
        p = ev.eval["precision"][0, :, k, 0, -1]
        if (p > -1).any():
            out[cat - 1] = float(p[p > -1].mean())
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pr_curve_mean_is_the_per_class_ap50(seed):
    records = _random_records(seed)
    result, curves = coco_map_with_pr(records)
    direct = _per_class_ap50_directly(records)
    assert set(curves) == set(result.per_class) and set(direct) <= set(curves)
    for c, ap in direct.items():
        curve = curves[c]
        assert curve.recall.shape == curve.precision.shape == curve.scores.shape == (101,)
        np.testing.assert_allclose(curve.recall, np.linspace(0, 1, 101))
        assert float(np.mean(curve.precision)) == pytest.approx(ap, abs=1e-12)
        assert curve.ap50 == pytest.approx(result.per_class[c], abs=1e-12)
        assert np.all(np.diff(curve.precision) <= 0)  # pycocotools' interpolated precision never rises
    # the same COCOeval run: the MapResult is coco_map's, bit for bit
    assert result == coco_map(records)


def test_pr_curve_of_a_perfect_detector_is_precision_one_up_to_recall_one():
    records = [(gb, gl, gb, np.ones(len(gb)), gl) for gb, gl, *_ in _random_records(3)]
    _, curves = coco_map_with_pr(records)
    assert curves
    for curve in curves.values():
        # 1 to within pycocotools' tp / (tp + fp + eps), eps = np.spacing(1)
        np.testing.assert_allclose(curve.precision, np.ones(101), rtol=0, atol=1e-12)
        assert curve.max_recall == 1.0 and curve.ap50 == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_array_equal(curve.scores, np.ones(101))


def test_pr_curves_without_predictions_and_for_a_class_never_true():
    gb = np.array([[0, 0, 10, 10]], np.float32)
    result, curves = coco_map_with_pr([(gb, [0], E, [], [])])
    assert set(curves) == {0} and result == coco_map([(gb, [0], E, [], [])])
    np.testing.assert_array_equal(curves[0].precision, np.zeros(101))
    assert curves[0].max_recall == 0.0 and curves[0].ap50 == 0.0
    # class 1 is only predicted: no ground truth, so no curve (nan), as its AP is nan
    result, curves = coco_map_with_pr([(gb, [0], np.concatenate([gb, gb + 50]), [0.9, 0.8], [0, 1])])
    assert (
        np.isnan(curves[1].precision).all() and math.isnan(curves[1].ap50) and math.isnan(result.per_class[1])
    )
    assert math.isnan(curves[1].max_recall)
    np.testing.assert_allclose(curves[0].precision, np.ones(101), rtol=0, atol=1e-12)
    nothing, curves = coco_map_with_pr([(E, [], E, [], [])])
    assert math.isnan(nothing.map50) and curves == {}


def _reference_match(pb, ps, pl, gb, gl, thr):
    """`match` as it was before it skipped predictions that reach no object: per class, IoU per class block,
    every prediction through the greedy loop."""
    from inspector.evaluate import exact_box_iou

    pb, gb = np.asarray(pb, np.float64).reshape(-1, 4), np.asarray(gb, np.float64).reshape(-1, 4)
    ps, pl, gl = np.asarray(ps, np.float64), np.asarray(pl, np.int64), np.asarray(gl, np.int64)
    pred_gt, pred_iou, gt_matched = np.full(len(pb), -1), np.zeros(len(pb)), np.zeros(len(gb), bool)
    for c in np.union1d(pl, gl):
        p_idx = np.flatnonzero(pl == c)
        p_idx = p_idx[np.argsort(-ps[p_idx], kind="stable")]
        g_idx = np.flatnonzero(gl == c)
        iou = exact_box_iou(pb[p_idx], gb[g_idx])
        taken = np.zeros(len(g_idx), bool)
        for row, p in enumerate(p_idx):
            if not len(g_idx):
                break
            candidates = np.where(taken, -1.0, iou[row])
            best = int(np.argmax(candidates))
            if candidates[best] >= thr:
                taken[best], pred_gt[p], pred_iou[p] = True, g_idx[best], candidates[best]
        gt_matched[g_idx] = taken
    return pred_gt, pred_iou, gt_matched


def test_match_equals_the_full_greedy_loop_on_random_images():
    from inspector.evaluate import match

    rng = np.random.default_rng(7)
    for case in range(400):
        n_gt, n_pred, classes = int(rng.integers(0, 8)), int(rng.integers(0, 40)), int(rng.integers(1, 4))
        g = rng.uniform(0, 60, (n_gt, 2))
        gb = np.hstack([g, g + rng.uniform(1, 30, (n_gt, 2))])
        anchor = gb[rng.integers(0, max(n_gt, 1), n_pred)] if n_gt else rng.uniform(0, 60, (n_pred, 4))
        pb = anchor + rng.normal(0, [2, 2, 2, 2] if case % 2 else [15, 15, 15, 15], (n_pred, 4))
        pb[:, 2:] = np.maximum(pb[:, 2:], pb[:, :2] + 0.5)
        if case % 50 == 0 and n_pred:
            pb[0] = np.nan  # a NaN box matches nothing either way
        ps = np.round(rng.uniform(0, 1, n_pred), 1)  # ties in score
        pl, gl = rng.integers(0, classes, n_pred), rng.integers(0, classes, n_gt)
        for thr in (0.5, 0.75):
            m = match(pb, ps, pl, gb, gl, thr)
            want_gt, want_iou, want_matched = _reference_match(pb, ps, pl, gb, gl, thr)
            assert np.array_equal(m.pred_gt, want_gt) and np.array_equal(m.gt_matched, want_matched), case
            assert np.array_equal(m.pred_iou, want_iou), case
