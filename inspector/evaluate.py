"""Evaluation core: greedy matching (TP/FP/FN), COCO mAP (pycocotools' numbers, by inspector.coco), and ST-IoU
for clips.

Everything takes plain arrays (boxes absolute-pixel xyxy) or the plain result records of inspector/results.py,
so any detector's output can be scored once it is converted; nothing here knows about models or files.
`clip_st_iou` is the one ST-IoU of a clip result: the `episode` and `evaluate` commands, training validation,
the pages and compare all call it.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from inspector.boxes import convert
from inspector.coco import (
    AP50_ONLY,
    RECALL_POINTS,
    CocoAccumulation,
    ImageMatches,
    accumulate,
    assemble,
    coco_matches,
    exact,
)
from inspector.results import ClipResult, QueryResult

# One image's ground truth and predictions: (gt_boxes (G, 4), gt_labels (G,), pred_boxes (P, 4),
# pred_scores (P,), pred_labels (P,)).
ImageRecord = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
# Per-frame boxes of one target: {frame: box (4,) or (1, 4)}, or a list with None / empty rows where absent.
FrameBoxes = Mapping[int, np.ndarray] | Sequence[np.ndarray | None]

# A clip frame's prediction is "the target is here" when the best box of the clip's way scores at least this;
# below it the frame is predicted empty. The gate is a decision, not part of the metric: a box in a frame the
# target has left adds 1 to ST-IoU's denominator and nothing to its sum, so the detector's low-score tail
# (postprocess keeps boxes from 0.05) would be scored as false alarms. 0.3 is the gate the reference trainer's
# validation has always used, so `evaluate` reproduces the eval/st_iou the bundled demo logs hold;
# `--clip-score-threshold` (CLI) and the pages' slider override it, and results record the value used.
CLIP_SCORE_THRESHOLD = 0.3


def exact_box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU (len(a), len(b)) of xyxy boxes; 0 where a union is empty.

    Not boxes.box_iou: that one adds an epsilon to the union (right for training), which puts an
    IoU of exactly 0.5 below a 0.5 threshold; pycocotools divides exactly, and so must we.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def paired_exact_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU (n,) of each xyxy box a[i] with b[i]: exact_box_iou's arithmetic elementwise, so the same
    numbers."""
    lt, rb = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass(frozen=True)
class ClassCounts:
    """True positives, false positives and misses of one class."""

    tp: int
    fp: int
    fn: int


@dataclass(frozen=True)
class Matching:
    """Predictions matched to ground truth.

    pred_tp (P,) bool; pred_gt (P,) int64 matched gt index or -1; pred_iou (P,) float64 IoU with
    the matched gt (0 for a false positive); gt_matched (G,) bool; per_class {label: ClassCounts}.
    """

    pred_tp: np.ndarray
    pred_gt: np.ndarray
    pred_iou: np.ndarray
    gt_matched: np.ndarray
    per_class: dict[int, ClassCounts] = field(default_factory=dict)

    @property
    def tp(self) -> int:
        return int(self.pred_tp.sum())

    @property
    def fp(self) -> int:
        return int(len(self.pred_tp) - self.pred_tp.sum())

    @property
    def fn(self) -> int:
        return int(len(self.gt_matched) - self.gt_matched.sum())

    @property
    def pairs(self) -> np.ndarray:
        """(m, 2) int64 rows of (prediction index, gt index) for every true positive."""
        idx = np.flatnonzero(self.pred_tp)
        return np.stack([idx, self.pred_gt[idx]], axis=1).astype(np.int64).reshape(-1, 2)


def match(
    pred_boxes: np.ndarray,
    pred_scores: np.ndarray,
    pred_labels: np.ndarray,
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    iou_threshold: float = 0.5,
) -> Matching:
    """The greedy matching COCO and VOC use: per class, predictions by falling score each take the
    unmatched gt of highest IoU, a true positive when that IoU ≥ iou_threshold."""
    pred_boxes = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    pred_scores = np.asarray(pred_scores, np.float64).reshape(-1)
    pred_labels = np.asarray(pred_labels, np.int64).reshape(-1)
    gt_labels = np.asarray(gt_labels, np.int64).reshape(-1)
    pred_gt = np.full(len(pred_boxes), -1, np.int64)
    pred_iou = np.zeros(len(pred_boxes), np.float64)
    gt_matched = np.zeros(len(gt_boxes), bool)
    per_class = {}
    # every pair's IoU at once (elementwise: the same numbers as per class), then each class's block
    iou_all = exact_box_iou(pred_boxes, gt_boxes)  # (P, G)
    for c in np.union1d(pred_labels, gt_labels):
        p_idx = np.flatnonzero(pred_labels == c)
        p_idx = p_idx[np.argsort(-pred_scores[p_idx], kind="stable")]
        g_idx = np.flatnonzero(gt_labels == c)
        iou = iou_all[np.ix_(p_idx, g_idx)]  # (p, g)
        taken = np.zeros(len(g_idx), bool)
        # a prediction overlapping no object of its class by iou_threshold can take none, whatever is taken:
        # the greedy loop visits only the others, in the same score order (most kept boxes are such misses)
        reach = np.flatnonzero(iou.max(axis=1) >= iou_threshold) if len(g_idx) else np.zeros(0, np.int64)
        for row, p in zip(reach.tolist(), p_idx[reach].tolist(), strict=True):
            candidates = np.where(taken, -1.0, iou[row])
            best = int(np.argmax(candidates))
            if candidates[best] >= iou_threshold:
                taken[best] = True
                pred_gt[p] = g_idx[best]
                pred_iou[p] = candidates[best]
        gt_matched[g_idx] = taken
        tp = int(taken.sum())
        per_class[int(c)] = ClassCounts(tp=tp, fp=len(p_idx) - tp, fn=len(g_idx) - tp)
    return Matching(pred_gt >= 0, pred_gt, pred_iou, gt_matched, per_class)


def match_query(q: QueryResult, iou_threshold: float = 0.5) -> Matching:
    """The Matching of one query result's predictions to its targets (`match`, labels as way indices)."""
    return match(q.pred_boxes, q.scores, q.labels, q.target_boxes, q.target_labels, iou_threshold)


@dataclass(frozen=True)
class MapResult:
    """COCO box AP: map50 (AP@0.5), map50_95 (AP@[0.5:0.95]), per_class {label: AP@0.5}.

    nan where there is no ground truth to score against (per class: that class has none).
    """

    map50: float
    map50_95: float
    per_class: dict[int, float]


def _to_coco_dicts(records: Sequence[ImageRecord]) -> tuple[dict, list[dict]]:
    """(ground-truth dataset dict, detection list) in COCO's xywh form; category id = label + 1."""
    images: list[dict] = []
    gts: list[dict] = []
    dets: list[dict] = []
    labels: set[int] = set()
    for i, (gb, gl, pb, ps, pl) in enumerate(records, start=1):
        gb = convert(np.asarray(gb, np.float64).reshape(-1, 4), "xyxy", "xywh")
        pb = convert(np.asarray(pb, np.float64).reshape(-1, 4), "xyxy", "xywh")
        images.append({"id": i})
        for box, label in zip(gb, np.asarray(gl).reshape(-1), strict=False):
            gts.append(
                {
                    "id": len(gts) + 1,
                    "image_id": i,
                    "category_id": int(label) + 1,
                    "bbox": box.tolist(),
                    "area": float(box[2] * box[3]),
                    "iscrowd": 0,
                }
            )
            labels.add(int(label))
        for box, score, label in zip(
            pb, np.asarray(ps).reshape(-1), np.asarray(pl).reshape(-1), strict=False
        ):
            dets.append(
                {
                    "image_id": i,
                    "category_id": int(label) + 1,
                    "bbox": box.tolist(),
                    "score": float(score),
                }
            )
            labels.add(int(label))
    categories = [{"id": c + 1, "name": str(c)} for c in sorted(labels)]
    return {"images": images, "annotations": gts, "categories": categories}, dets


# pycocotools' accumulated arrays are indexed [IoU threshold, recall point, category, area range, max dets];
# inspector.coco keeps area "all" (index 0) and 100 detections per image (the last of maxDets 1, 10, 100), and
# AP50 and its curve read IoU 0.5 (index 0 of 0.50:0.05:0.95).
_AP50 = 0
_ALL_AREAS = 0
_MAX_DETS_100 = -1
# what _AP50 and _MAX_DETS_100 select, in the units callers label curves with
PR_CURVE_IOU = 0.5
PR_CURVE_MAX_DETS = 100


@dataclass(frozen=True)
class PRCurve:
    """One class's precision–recall curve at IoU 0.5, all areas, 100 detections per image: the curve whose
    mean is that class's COCO AP50, read from the same accumulation (`coco_map_with_pr`).

    recall (101,) pycocotools' recall thresholds 0, 0.01, …, 1 (params.recThrs); precision (101,) its
    interpolated precision at each (the best precision at that recall or beyond, 0 past the highest recall
    reached), nan for a class with no ground truth (pycocotools' -1); scores (101,) the score of the detection
    at which each recall is first reached (0 past the highest recall; nan without ground truth); max_recall
    the recall of all detections (nan without ground truth).
    """

    label: int
    recall: np.ndarray
    precision: np.ndarray
    scores: np.ndarray
    max_recall: float

    @property
    def ap50(self) -> float:
        """The mean of the curve's precision over its recall points: pycocotools' AP50 of the class."""
        return float(self.precision.mean()) if not np.isnan(self.precision).any() else math.nan


# pycocotools prints as it goes, silenced by contextlib.redirect_stdout, which swaps the process's one
# sys.stdout: two runs at once on two threads (the Compare page's A and B) could leave it pointing at a dead
# buffer. Every run takes this lock (they hold the GIL throughout, so two at once would not be faster anyway).
_PYCOCOTOOLS_LOCK = threading.Lock()


def pycocotools_accumulation(records: Sequence[ImageRecord]) -> CocoAccumulation:
    """The CocoAccumulation of pycocotools' own COCOeval run (evaluate, accumulate) on objects built in
    memory, its printing silenced: what coco_map reports for records inspector.coco does not mirror, and the
    reference the tests hold inspector.coco to. Needs ground truth and at least one prediction (COCO.loadRes
    cannot take an empty list)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    dataset, dets = _to_coco_dicts(records)
    with _PYCOCOTOOLS_LOCK, contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
    pick = (slice(None), slice(None), slice(None), _ALL_AREAS, _MAX_DETS_100)
    return CocoAccumulation(
        labels=np.asarray(ev.params.catIds, np.int64) - 1,
        precision=ev.eval["precision"][pick].astype(np.float64),
        scores=ev.eval["scores"][pick].astype(np.float64),
        recall=ev.eval["recall"][:, :, _ALL_AREAS, _MAX_DETS_100].astype(np.float64),
    )


def _coco_eval(
    records: Sequence[ImageRecord], reference: bool = False
) -> tuple[list[int], CocoAccumulation | None]:
    """(labels with ground truth, the CocoAccumulation or None when there is none: no ground truth, or
    nothing predicted). inspector.coco's; pycocotools' where a box's area is one coco does not mirror, or
    with reference=True."""
    gt_labels = sorted({int(c) for r in records for c in np.asarray(r[1], np.int64).reshape(-1)})
    predicted = any(np.asarray(r[3]).size for r in records)
    if not gt_labels or not predicted:
        return gt_labels, None
    if reference or not exact(records):
        return gt_labels, pycocotools_accumulation(records)
    return gt_labels, accumulate(records)


def _map_result(gt_labels: list[int], acc: CocoAccumulation | None) -> MapResult:
    if not gt_labels:
        return MapResult(math.nan, math.nan, {})
    if acc is None:  # with nothing predicted every AP is 0
        return MapResult(0.0, 0.0, {c: 0.0 for c in gt_labels})
    per_class = {}
    for k, label in enumerate(acc.labels.tolist()):
        p = acc.precision[_AP50, :, k]
        per_class[label] = float(p[p > -1].mean()) if (p > -1).any() else math.nan
    return MapResult(map50=acc.map50, map50_95=acc.map50_95, per_class=per_class)


def _pr_curves(gt_labels: list[int], acc: CocoAccumulation | None) -> dict[int, PRCurve]:
    if not gt_labels:
        return {}
    recall = RECALL_POINTS.copy()
    if acc is None:  # nothing predicted: what accumulate() gives a class none of whose gts is found
        zeros = np.zeros_like(recall)
        return {c: PRCurve(c, recall, zeros, zeros, 0.0) for c in gt_labels}
    curves = {}
    for k, label in enumerate(acc.labels.tolist()):
        p, s = acc.precision[_AP50, :, k], acc.scores[_AP50, :, k]
        r = float(acc.recall[_AP50, k])
        absent = p < 0  # -1: the class has no ground truth (it was only predicted)
        curves[label] = PRCurve(
            label,
            recall,
            np.where(absent, math.nan, p),
            np.where(absent, math.nan, s),
            math.nan if r < 0 else r,
        )
    return curves


def coco_map(records: Sequence[ImageRecord]) -> MapResult:
    """COCO box mAP over images given as (gt_boxes, gt_labels, pred_boxes, pred_scores, pred_labels).

    pycocotools' COCOeval numbers (all areas, up to 100 detections per image, 101-point interpolation), to
    the last bit, computed by inspector.coco (pycocotools itself for boxes coco does not mirror).
    """
    return _map_result(*_coco_eval(records))


def coco_ap50(records: Sequence[ImageRecord], matched: Sequence[ImageMatches] | None = None) -> MapResult:
    """coco_map(records)'s map50 and per_class (AP@0.5), the same to the last bit, from matching at IoU 0.5
    alone (a tenth of the matching: TIDE's six AP@0.5 runs); map50_95 is nan, not computed. `matched`: each
    record's coco.image_matches at AP50_ONLY when at hand (TIDE's fixes change a few images, not all)."""
    gt_labels = sorted({int(c) for r in records for c in np.asarray(r[1], np.int64).reshape(-1)})
    predicted = any(np.asarray(r[3]).size for r in records)
    if gt_labels and predicted and exact(records):
        m = coco_matches(records, AP50_ONLY) if matched is None else assemble(matched, AP50_ONLY)
        found = _map_result(gt_labels, accumulate(records, m))
    else:
        found = coco_map(records)  # no ground truth, nothing predicted, or pycocotools' own run
    return MapResult(found.map50, math.nan, found.per_class)


def pycocotools_map(records: Sequence[ImageRecord]) -> tuple[MapResult, dict[int, PRCurve]]:
    """coco_map_with_pr(records) from pycocotools' own COCOeval run: the reference coco_map is held to."""
    gt_labels, acc = _coco_eval(records, reference=True)
    return _map_result(gt_labels, acc), _pr_curves(gt_labels, acc)


def coco_map_with_pr(records: Sequence[ImageRecord]) -> tuple[MapResult, dict[int, PRCurve]]:
    """(coco_map(records), {label: PRCurve at IoU 0.5}) from ONE accumulation: the curves cost no second
    evaluation. Curves have the same keys as MapResult.per_class, and each curve's ap50 is that class's AP50.
    """
    gt_labels, acc = _coco_eval(records)
    return _map_result(gt_labels, acc), _pr_curves(gt_labels, acc)


def _frame_dict(frames: FrameBoxes) -> dict[int, np.ndarray]:
    items = frames.items() if isinstance(frames, Mapping) else enumerate(frames)
    out = {}
    for t, box in items:
        if box is None:
            continue
        arr = np.asarray(box, np.float64).reshape(-1, 4)
        if len(arr) > 1:
            raise ValueError(f"frame {t}: ST-IoU scores one target box per frame, got {len(arr)}")
        if len(arr) == 1:
            out[int(t)] = arr[0]
    return out


def st_iou(pred_frames: FrameBoxes, gt_frames: FrameBoxes) -> float:
    """Returns the spatio-temporal IoU of a predicted and a true track: Σ over frames in both tracks of
    IoU ÷ the number of frames in either track.

        ST-IoU = Σ_{t ∈ P ∩ G} IoU(p_t, g_t) / |P ∪ G|,   P, G = the frames where each track has a box

    the frame-averaged spatio-temporal IoU of few-shot video object search (the vIoU of spatio-temporal video
    grounding, Zhang et al., "Where Does It Exist", CVPR 2020). A frame where only one side has a box adds 0
    to the sum and 1 to the count: a missed frame and a false alarm cost the same. No prediction anywhere → 0.
    Neither has a box anywhere → nan: there is nothing to score, and callers skip such clips rather than
    count a perfect or a failed one.
    """
    pred, gt = _frame_dict(pred_frames), _frame_dict(gt_frames)
    either = pred.keys() | gt.keys()
    if not either:
        return math.nan
    both = sorted(pred.keys() & gt.keys())
    total = float(sum(exact_box_iou(pred[t], gt[t])[0, 0] for t in both))
    return total / len(either)


def clip_track(clip: ClipResult, score_threshold: float = CLIP_SCORE_THRESHOLD) -> list[np.ndarray | None]:
    """Returns per frame the (4,) best box of the clip's way scoring ≥ score_threshold, or None
    (predicted absent)."""
    track: list[np.ndarray | None] = []
    for f in clip.frames:
        scores = np.asarray(f.scores, np.float64).reshape(-1)
        mine = np.flatnonzero((np.asarray(f.labels).reshape(-1) == clip.way) & (scores >= score_threshold))
        best = mine[np.argmax(scores[mine])] if len(mine) else None
        track.append(None if best is None else np.asarray(f.pred_boxes, np.float64).reshape(-1, 4)[best])
    return track


def clip_st_iou(clip: ClipResult, score_threshold: float = CLIP_SCORE_THRESHOLD) -> float:
    """Returns the clip's ST-IoU (`st_iou`) of its per-frame track (`clip_track`) against the frames' targets;
    nan when neither side has a box in any frame."""
    return st_iou(clip_track(clip, score_threshold), [f.target_boxes for f in clip.frames])


@dataclass(frozen=True)
class Evaluation:
    """Scores of a set of images and clips: COCO AP, TP/FP/FN at iou_threshold, mean ST-IoU.

    st_iou is the mean over clips where it is defined (nan when none is); per_clip_st_iou keeps
    every clip's value in order, nan included.
    """

    map: MapResult
    tp: int
    fp: int
    fn: int
    st_iou: float
    per_clip_st_iou: tuple[float, ...]

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan


@dataclass(frozen=True)
class MatchTotals:
    """TP/FP/FN summed over images, and the IoU of every true positive."""

    tp: int
    fp: int
    fn: int
    tp_ious: tuple[float, ...]


def match_totals(images: Sequence[ImageRecord], iou_threshold: float = 0.5) -> MatchTotals:
    """Greedy per-image matching (`match`) of every record, summed."""
    tp = fp = fn = 0
    ious: list[float] = []
    for gb, gl, pb, ps, pl in images:
        m = match(pb, ps, pl, gb, gl, iou_threshold)
        tp, fp, fn = tp + m.tp, fp + m.fp, fn + m.fn
        ious += m.pred_iou[m.pred_tp].tolist()
    return MatchTotals(tp, fp, fn, tuple(ious))


def evaluate(
    images: Sequence[ImageRecord],
    clips: Sequence[tuple[FrameBoxes, FrameBoxes]] = (),
    iou_threshold: float = 0.5,
) -> Evaluation:
    """The Evaluation of images (gt_boxes, gt_labels, pred_boxes, pred_scores, pred_labels) and
    clips (pred_frames, gt_frames)."""
    totals = match_totals(images, iou_threshold)
    per_clip = tuple(st_iou(p, g) for p, g in clips)
    defined = [v for v in per_clip if not math.isnan(v)]
    return Evaluation(
        map=coco_map(images) if images else MapResult(math.nan, math.nan, {}),
        tp=totals.tp,
        fp=totals.fp,
        fn=totals.fn,
        st_iou=float(np.mean(defined)) if defined else math.nan,
        per_clip_st_iou=per_clip,
    )
