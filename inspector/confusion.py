"""A detection confusion matrix with a background row and column: which class each true object was taken for.

Rows are the true classes then "background" (a prediction that matches no object); columns are the predicted
classes then "background" (an object nothing matched, a miss). Cell [i, j] counts objects of class i detected
as class j; the diagonal is the true positives. Matching is per image, at IoU ≥ 0.5, over the predictions at
or above a score threshold (default: every prediction the model kept). See `confusion_pairs` for the rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from inspector.evaluate import ImageRecord, exact_box_iou, match

BACKGROUND = "background"
# COCO's AP50 threshold, as the TP / FP / FN counts of the batch summary use (batch.summary.MATCH_IOU).
CONFUSION_IOU = 0.5


@dataclass(frozen=True)
class ConfusionMatrix:
    """counts (C+1, C+1) int64: rows true class, columns predicted class, in `labels` order, background last.

    counts[i, j] objects of labels[i] predicted as labels[j]; counts[i, C] objects of labels[i] no prediction
    matched (misses); counts[C, j] predictions of labels[j] that matched no object (background false
    positives); counts[C, C] is always 0. Row sums are the objects of each class, column sums the predictions.
    score_threshold None: every prediction the detector kept.
    """

    labels: tuple[int, ...]
    counts: np.ndarray
    iou_threshold: float
    score_threshold: float | None

    def names(self, class_names: Sequence[str]) -> list[str]:
        """Row / column names: class_names[label] (the label as text where there is no name), then
        "background"."""
        return [class_names[c] if 0 <= c < len(class_names) else str(c) for c in self.labels] + [BACKGROUND]

    @property
    def true_positives(self) -> int:
        """The diagonal over the classes: equals `match`'s true positives at the same IoU and scores."""
        n = len(self.labels)
        return int(np.trace(self.counts[:n, :n]))


def confusion_pairs(
    record: ImageRecord, iou_threshold: float = CONFUSION_IOU, score_threshold: float | None = None
) -> np.ndarray:
    """Returns (n, 2) int64 rows (true label, predicted label) of one image, -1 for background: one row per
    object (its label, and the label of the prediction matched to it or -1) and one per unmatched prediction
    (-1, its label).

    The matching, on the predictions scoring ≥ score_threshold (all of them when None), in two passes:

    1. Same class first: evaluate.match, the greedy rule COCO and VOC use — per class, predictions by falling
       score each take the not yet taken object of that class with the highest IoU, if that IoU ≥
       iou_threshold. These are the diagonal, exactly the true positives of AP50 matching.
    2. Then across classes: the predictions left, by falling score (ties: input order), each take the not yet
       taken object of ANY class with the highest IoU, if that IoU ≥ iou_threshold — a class confusion. (An
       object and a prediction of the same class both left over never overlap by iou_threshold: pass 1 would
       have paired them.)

    Objects left are misses (row label, column background); predictions left are background false positives.

    How this differs from Ultralytics' ConfusionMatrix.process_batch (ultralytics/utils/metrics.py): it
    matches ignoring class and score — every (gt, detection) pair with IoU > iou_thres (0.45), sorted by
    IoU, one detection per gt and one gt per detection — on detections with conf > 0.25, and indexes its
    matrix [predicted, true] (the version read also counts no background false positive in an image where
    nothing matched at all). Here the threshold is COCO's IoU ≥ 0.5 on the detector's kept predictions; a
    right-class prediction is never displaced by a better-overlapping wrong-class one, so the diagonal equals
    the TP count behind AP50 and a confusion is only counted where no right-class prediction found the
    object; a higher score, not a higher IoU, wins a contested object, as in COCO; rows are the true class.
    """
    gb, gl, pb, ps, pl = record
    gt_boxes = np.asarray(gb, np.float64).reshape(-1, 4)
    gt_labels = np.asarray(gl, np.int64).reshape(-1)
    pred_boxes = np.asarray(pb, np.float64).reshape(-1, 4)
    scores = np.asarray(ps, np.float64).reshape(-1)
    pred_labels = np.asarray(pl, np.int64).reshape(-1)
    if score_threshold is not None:
        keep = scores >= score_threshold
        pred_boxes, scores, pred_labels = pred_boxes[keep], scores[keep], pred_labels[keep]
    same = match(pred_boxes, scores, pred_labels, gt_boxes, gt_labels, iou_threshold)  # pass 1
    pred_gt = same.pred_gt.copy()  # (P,) object index or -1
    taken = same.gt_matched.copy()  # (G,)
    left = np.flatnonzero(pred_gt < 0)
    left = left[np.argsort(-scores[left], kind="stable")]
    if len(left) and not taken.all():
        iou = exact_box_iou(pred_boxes[left], gt_boxes)  # (p, G)
        # only predictions overlapping some object enough can match (most leftovers overlap none): same result
        near = iou.max(1) >= iou_threshold
        left, iou = left[near], iou[near]
        for row, p in enumerate(left):  # pass 2
            candidates = np.where(taken, -1.0, iou[row])
            best = int(np.argmax(candidates))
            if candidates[best] >= iou_threshold:
                taken[best] = True
                pred_gt[p] = best
    taken_as = np.full(len(gt_boxes), -1, np.int64)  # (G,) the label each object was detected as, or -1
    matched = np.flatnonzero(pred_gt >= 0)
    taken_as[pred_gt[matched]] = pred_labels[matched]
    objects = np.stack([gt_labels, taken_as], 1)
    unmatched = pred_labels[pred_gt < 0]
    background = np.stack([np.full(len(unmatched), -1, np.int64), unmatched], 1)
    return np.concatenate([objects, background]).astype(np.int64).reshape(-1, 2)


def confusion_matrix(
    images: Sequence[ImageRecord],
    labels: Iterable[int] | None = None,
    iou_threshold: float = CONFUSION_IOU,
    score_threshold: float | None = None,
) -> ConfusionMatrix:
    """Returns the ConfusionMatrix summed over images (gt_boxes, gt_labels, pred_boxes, pred_scores,
    pred_labels), matched per image by `confusion_pairs`.

    labels: the classes in row / column order (default: every label in the images, ascending); a label in
    the images that is not among them raises ValueError. score_threshold: only predictions scoring at least
    this take part (None: all, i.e. the detector's own threshold).
    """
    pairs = [confusion_pairs(r, iou_threshold, score_threshold) for r in images]
    found = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)
    if labels is None:
        order = tuple(int(c) for c in np.unique(found[found >= 0]))
    else:
        order = tuple(int(c) for c in labels)
    index = {c: i for i, c in enumerate(order)}
    index[-1] = len(order)  # background
    unknown = sorted({int(c) for c in np.unique(found)} - index.keys())
    if unknown:
        raise ValueError(f"labels {unknown} are in the images but not among the matrix's labels {order}")
    counts = np.zeros((len(order) + 1, len(order) + 1), np.int64)
    if len(found):
        rows = np.array([index[int(c)] for c in found[:, 0]], np.int64)
        cols = np.array([index[int(c)] for c in found[:, 1]], np.int64)
        np.add.at(counts, (rows, cols), 1)
    return ConfusionMatrix(order, counts, iou_threshold, score_threshold)
