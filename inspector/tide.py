"""TIDE error breakdown: every false positive and miss of an image detector given one of six types, and the
AP@0.5 that fixing all errors of a type would add (dAP).

Bolya, Foley, Hays and Hoffman, "TIDE: A General Toolbox for Identifying Object Detection Errors", ECCV 2020
(arXiv:2008.08115); reference implementation `tidecv` 1.0.1. With t_f = 0.5 (foreground) and t_b = 0.1
(background), per image, predictions are matched to ground truth as COCO does (per class, by falling score,
each taking the unmatched gt of highest IoU ≥ t_f: `evaluate.match`), and each unmatched prediction gets the
first type that fits, in tidecv's order of tests:

    loc     t_b ≤ IoU < t_f with a gt of its own class (its best such gt)
    cls     IoU ≥ t_f with a gt of another class
    dupe    IoU ≥ t_f with a gt of its own class that a higher-scoring prediction matched
    bkg     IoU < t_b with every gt (every prediction in an image without gt)
    both    the rest: t_b ≤ IoU < t_f with a gt of another class, < t_b with its own
    missed  an unmatched gt that no cls or loc error points at

At the thresholds themselves the bounds are those of COCO's matching (IoU = t_f is a match): an own-class IoU
of exactly t_f with a matched gt is a dupe, and IoU exactly t_b is not background. tidecv's tests include both
ends (loc up to IoU ≤ t_f, bkg up to ≤ t_b), so there, and only there, its type can differ.

Each type's fix (the paper's oracle, as tidecv applies it): a cls or loc error at an unmatched gt becomes
that gt's true positive (the highest-scoring one per gt; the others, and those at a matched gt, are
suppressed, i.e. removed); both, dupe and bkg errors are removed; missed gts are removed from the ground
truth. dAP of a type = AP@0.5 with all its errors fixed − AP@0.5 as is, each AP recomputed by
`evaluate.coco_map` (pycocotools, the path `evaluate` reports), overall and per class.

Where tidecv's own AP code and pycocotools disagree, ours is pycocotools': a class with predictions but no gt
is left out of the mean (tidecv scores it 0), only the MAX_DETS highest-scoring detections per image and
class count (tidecv keeps 100 per image), and a dAP is not clipped at 0 (no fix can lower AP; tidecv clips
float noise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

import numpy as np

from inspector.coco import AP50_ONLY, image_matches
from inspector.evaluate import ImageRecord, MapResult, coco_ap50, exact_box_iou, match

ErrorType = Literal["cls", "loc", "both", "dupe", "bkg", "missed"]
# TIDE's reporting order (tidecv's TIDE._error_types: Cls, Loc, Both, Dupe, Bkg, Miss).
ERROR_TYPES: Final[tuple[ErrorType, ...]] = ("cls", "loc", "both", "dupe", "bkg", "missed")

# The training lever each type points at first (the paper's reading of each error, in this detector's terms).
LEVERS: Final[Mapping[ErrorType, str]] = MappingProxyType(
    {
        "cls": "cls loss term and the support set",
        "loc": "box loss term and box format",
        "both": "cls and box terms together",
        "dupe": "NMS IoU",
        "bkg": "score threshold and the cls term",
        "missed": "anchor assignment and positives",
    }
)

# COCOeval's params.maxDets[-1]: AP@0.5 scores only the 100 highest-scoring detections per image and class,
# so predictions past them are neither matches nor errors.
MAX_DETS = 100


@dataclass(frozen=True)
class Thresholds:
    """TIDE's IoU thresholds: foreground t_f (a match; COCO AP50's 0.5), background t_b (the paper's 0.1)."""

    foreground: float = 0.5
    background: float = 0.1


TIDE_THRESHOLDS = Thresholds()  # t_f = 0.5, t_b = 0.1: the paper's and tidecv's defaults


@dataclass(frozen=True)
class ImageErrors:
    """One image's predictions and ground truth, typed.

    pred_type (P,): each prediction's ErrorType, or None for a true positive; pred_tp (P,) bool; pred_gt
    (P,) int64: the gt a true positive matched or a cls / loc error points at, else -1; promoted (P,) bool:
    the cls / loc errors whose fix makes them their gt's true positive (the highest-scoring one at each
    unmatched gt); gt_missed (G,) bool.
    """

    pred_type: tuple[ErrorType | None, ...]
    pred_tp: np.ndarray
    pred_gt: np.ndarray
    promoted: np.ndarray
    gt_missed: np.ndarray

    def is_type(self, kind: ErrorType) -> np.ndarray:
        """(P,) bool: the predictions of type `kind` (all False for "missed", which is about gts)."""
        return np.array([t == kind for t in self.pred_type], bool)

    def count(self, kind: ErrorType) -> int:
        """How many errors of type `kind` the image holds."""
        return int(self.gt_missed.sum()) if kind == "missed" else int(self.is_type(kind).sum())


@dataclass(frozen=True)
class ErrorImpact:
    """One error type over a set of images: how many, and the AP@0.5 fixing all of them adds (dap; nan where
    AP is undefined before or after)."""

    kind: ErrorType
    count: int
    dap: float

    @property
    def lever(self) -> str:
        return LEVERS[self.kind]


@dataclass(frozen=True)
class ClassErrors:
    """One class's AP@0.5 and its errors: a prediction's error counts in the class it predicted, a miss in its
    gt's; dap is the change of this class's AP when every error of the type is fixed (a cls fix moves a
    prediction from the class it predicted to its gt's class, and changes both)."""

    label: int
    ap50: float
    errors: dict[ErrorType, ErrorImpact]


@dataclass(frozen=True)
class ErrorBreakdown:
    """A TIDE breakdown of a set of images: AP@0.5 (pycocotools), each error type's count and dAP, per class.

    predictions and targets count what AP@0.5 scores (predictions past MAX_DETS per image and class are in
    `unscored`); predictions = true_positives + the five prediction types; targets = true_positives + missed
    + the unmatched gts a cls or loc error points at.
    """

    ap50: float
    errors: dict[ErrorType, ErrorImpact]
    per_class: dict[int, ClassErrors]
    images: int
    predictions: int
    targets: int
    true_positives: int
    unscored: int = 0
    thresholds: Thresholds = TIDE_THRESHOLDS


def scored_record(record: ImageRecord, max_dets: int = MAX_DETS) -> ImageRecord:
    """Returns the record keeping only the max_dets highest-scoring predictions of each class (in their
    order), the ones COCOeval scores; ties go to the earlier prediction, as in COCOeval's stable sort."""
    gb, gl, pb, ps, pl = _arrays(record)
    keep = np.zeros(len(ps), bool)
    for c in np.unique(pl):
        idx = np.flatnonzero(pl == c)
        keep[idx[np.argsort(-ps[idx], kind="stable")[:max_dets]]] = True
    return gb, gl, pb[keep], ps[keep], pl[keep]


def classify_image(record: ImageRecord, thresholds: Thresholds = TIDE_THRESHOLDS) -> ImageErrors:
    """Returns the ImageErrors of one image (gt_boxes, gt_labels, pred_boxes, scores, pred_labels; xyxy)."""
    gb, gl, pb, ps, pl = _arrays(record)
    t_f, t_b = thresholds.foreground, thresholds.background
    m = match(pb, ps, pl, gb, gl, t_f)
    iou = exact_box_iou(pb, gb)  # (P, G)
    same = pl[:, None] == gl[None, :]  # (P, G)
    # -1 where a pair does not count, so a maximum over no gt is -1 (below every threshold)
    iou_same = np.where(same, iou, -1.0)
    iou_other = np.where(same, -1.0, iou)
    best_same = iou_same.max(axis=1, initial=-1.0)  # (P,)
    best_other = iou_other.max(axis=1, initial=-1.0)
    fp = ~m.pred_tp
    loc = fp & (best_same >= t_b) & (best_same < t_f)
    cls = fp & ~loc & (best_other >= t_f)
    dupe = fp & ~loc & ~cls & (best_same >= t_f)
    rest = fp & ~loc & ~cls & ~dupe  # best_same < t_b and best_other < t_f here
    bkg = rest & (best_other < t_b)
    both = rest & ~bkg
    pred_gt = m.pred_gt.copy()
    if len(gb):
        pred_gt[loc] = iou_same.argmax(axis=1)[loc]
        pred_gt[cls] = iou_other.argmax(axis=1)[cls]
    # tidecv's BestGTMatch: of the cls / loc errors at one unmatched gt, the highest-scoring (the first in the
    # score order on ties) is fixed into its true positive; that gt is not a miss. Sequential by score.
    promoted = np.zeros(len(ps), bool)
    claimed = np.zeros(len(gb), bool)
    for p in np.argsort(-ps, kind="stable"):
        g = pred_gt[p]
        if (loc[p] or cls[p]) and not m.gt_matched[g] and not claimed[g]:
            promoted[p] = claimed[g] = True
    kinds: list[ErrorType | None] = [None] * len(ps)
    masks: tuple[tuple[ErrorType, np.ndarray], ...] = (
        ("loc", loc),
        ("cls", cls),
        ("dupe", dupe),
        ("bkg", bkg),
        ("both", both),
    )
    for kind, mask in masks:
        for p in np.flatnonzero(mask):
            kinds[p] = kind
    return ImageErrors(tuple(kinds), m.pred_tp, pred_gt, promoted, ~m.gt_matched & ~claimed)


def fix_record(record: ImageRecord, errors: ImageErrors, kind: ErrorType) -> ImageRecord:
    """Returns the record with every error of type `kind` fixed by TIDE's oracle (see the module docstring).

    A promoted cls or loc error takes its gt's class and box: AP@0.5 only sees that it is now that gt's true
    positive, and the gt's box makes COCO's greedy matching pair it with that gt and no other of the class.
    """
    gb, gl, pb, ps, pl = (a.copy() for a in _arrays(record))
    if kind == "missed":
        keep_gt = ~errors.gt_missed
        return gb[keep_gt], gl[keep_gt], pb, ps, pl
    typed = errors.is_type(kind)
    promote = typed & errors.promoted
    g = errors.pred_gt[promote]
    pb[promote], pl[promote] = gb[g], gl[g]
    keep = ~(typed & ~promote)
    return gb, gl, pb[keep], ps[keep], pl[keep]


def error_breakdown(
    records: Sequence[ImageRecord], thresholds: Thresholds = TIDE_THRESHOLDS
) -> ErrorBreakdown:
    """Returns the ErrorBreakdown of images (gt_boxes, gt_labels, pred_boxes, scores, pred_labels; xyxy).

    AP@0.5 as is and with each type fixed come from `evaluate.coco_ap50` (coco_map's AP@0.5, matched at 0.5
    alone): one run per type that occurs (a type with no error has dAP 0 without one), each matching again
    only the images a fix changes (an image without errors of the type is left as it is).
    """
    given = sum(len(_arrays(r)[3]) for r in records)
    records = [scored_record(r) for r in records]
    typed = [classify_image(r, thresholds) for r in records]
    # each image's matching at IoU 0.5, once: a fix re-matches only the images holding errors of its type
    matched = [image_matches(r, AP50_ONLY) for r in records]
    base = coco_ap50(records, matched)
    # every scored prediction's type (its index in ERROR_TYPES, -1 for a true positive: integers compare
    # ~50× faster than an object array of strings) and class, every missed gt's class
    code: dict[ErrorType | None, int] = {kind: i for i, kind in enumerate(ERROR_TYPES)}
    pred_kind = np.array([code.get(t, -1) for e in typed for t in e.pred_type], np.int64)
    pred_label = np.concatenate([np.zeros(0, np.int64), *(r[4] for r in records)])
    missed_label = np.concatenate(
        [np.zeros(0, np.int64), *(r[1][e.gt_missed] for r, e in zip(records, typed, strict=True))]
    )
    fixed: dict[ErrorType, MapResult] = {}
    for kind in ERROR_TYPES:
        changed = [e.count(kind) > 0 for e in typed]
        if not any(changed):
            fixed[kind] = base
            continue
        fixes = [fix_record(r, e, kind) if c else r for r, e, c in zip(records, typed, changed, strict=True)]
        again = [
            image_matches(f, AP50_ONLY) if c else m for f, m, c in zip(fixes, matched, changed, strict=True)
        ]
        fixed[kind] = coco_ap50(fixes, again)

    def impact(kind: ErrorType, label: int | None = None) -> ErrorImpact:
        counted = missed_label if kind == "missed" else pred_label[pred_kind == code[kind]]  # their classes
        if label is None:
            return ErrorImpact(kind, len(counted), fixed[kind].map50 - base.map50)
        ap = base.per_class.get(label, math.nan)
        return ErrorImpact(
            kind, int((counted == label).sum()), fixed[kind].per_class.get(label, math.nan) - ap
        )

    labels = {int(c) for c in base.per_class} | set(pred_label.tolist())
    labels |= {int(c) for r in records for c in r[1]}
    return ErrorBreakdown(
        ap50=base.map50,
        errors={k: impact(k) for k in ERROR_TYPES},
        per_class={
            c: ClassErrors(c, base.per_class.get(c, math.nan), {k: impact(k, c) for k in ERROR_TYPES})
            for c in sorted(labels)
        },
        images=len(records),
        predictions=len(pred_label),
        targets=sum(len(r[1]) for r in records),
        true_positives=sum(int(e.pred_tp.sum()) for e in typed),
        unscored=given - len(pred_label),
        thresholds=thresholds,
    )


def impact_dict(errors: Mapping[ErrorType, ErrorImpact]) -> dict[str, dict[str, Any]]:
    """Returns {type: {"count", "dAP", "lever"}} in ERROR_TYPES order: the JSON form of a set of impacts."""
    return {
        k: {"count": errors[k].count, "dAP": errors[k].dap, "lever": errors[k].lever} for k in ERROR_TYPES
    }


def breakdown_dict(b: ErrorBreakdown, class_names: Sequence[str] = ()) -> dict[str, Any]:
    """Returns the breakdown as the JSON contract writes it: ap50, errors, per_class {class name: {ap50,
    errors}}, images, predictions, targets, true_positives, unscored, thresholds, max_dets (nan stays nan: the
    caller serialises with inspector.serialize)."""

    def name(label: int) -> str:
        return class_names[label] if 0 <= label < len(class_names) else str(label)

    return {
        "ap50": b.ap50,
        "errors": impact_dict(b.errors),
        "per_class": {
            name(c): {"ap50": ce.ap50, "errors": impact_dict(ce.errors)}
            for c, ce in sorted(b.per_class.items())
        },
        "images": b.images,
        "predictions": b.predictions,
        "targets": b.targets,
        "true_positives": b.true_positives,
        "unscored": b.unscored,
        "thresholds": {"foreground": b.thresholds.foreground, "background": b.thresholds.background},
        "max_dets": MAX_DETS,
    }


def _arrays(record: ImageRecord) -> ImageRecord:
    """The record as float64 (G, 4), int64 (G,), float64 (P, 4), float64 (P,), int64 (P,) arrays (float32 →
    float64 is exact, so pycocotools sees the same numbers)."""
    gb, gl, pb, ps, pl = record
    return (
        np.asarray(gb, np.float64).reshape(-1, 4),
        np.asarray(gl, np.int64).reshape(-1),
        np.asarray(pb, np.float64).reshape(-1, 4),
        np.asarray(ps, np.float64).reshape(-1),
        np.asarray(pl, np.int64).reshape(-1),
    )
