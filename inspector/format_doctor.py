"""The format doctor: are the predicted boxes in another format than the targets, or are the targets in
another format than their dataset claims? Pure functions over EpisodeResult-like records, an evaluation's
per-image rows and a Dataset's FormatWarnings; nothing here runs a model or reads a file.

Re-reading boxes cannot say on its own which side is off: if a COCO file holds corners [x1, y1, x2, y2], the
reader turns each into [x1, y1, x1 + x2, y1 + y2], which is exactly a correct prediction read as xywh, so
"the predictions fit better as xywh" is what a broken dataset looks like too. The side is told by geometry
against the image, the evidence the dataset checks use (inspector.data.format_checks): the predictions that
match targets under the better reading are tested as plain xyxy pixel boxes and as that reading. A reading
that makes them impossible (inverted, over the image edge, a speck at the corner) is the wrong one: if it is
xyxy, the adapter emits the other format; if it is the other reading, the targets are that reading of sane
boxes, and the dataset file is off. Targets that are impossible boxes themselves, and the dataset's own
warnings (which see every box as written, before clipping), point at the dataset directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from inspector.boxes import FORMATS
from inspector.data.format_checks import (
    CORNER_MIN_SIDE,
    CORNER_PX,
    FormatWarning,
    describe,
    enough,
    impossible,
    split_reading,
    to_xyxy,
)
from inspector.evaluate import paired_exact_iou

if TYPE_CHECKING:
    from inspector.results import EpisodeResult

# The doctor sees a format relation when another reading of the predicted numbers matches the targets this
# much better (absolute mean IoU) and at least this well: a correct detector's boxes reach ~0.6-0.8 mean
# best IoU, a misread one ~0-0.2; random boxes read any way stay within ~0.1 of each other.
DOCTOR_MARGIN = 0.2
DOCTOR_MIN_IOU = 0.35
# A prediction speaks for a reading when, read that way, it covers a target at COCO's AP50 IoU.
MATCH_IOU = 0.5
# Evaluation rows carry each query image's size in these columns (needed for the normalised readings and for
# the geometry against the image; without them only inverted boxes count as impossible).
IMAGE_SIZE_COLUMNS = ("image_height", "image_width")

PREDICTIONS = "predictions"  # the predictions are in another format than the targets
TARGETS = "targets"  # the targets are in another format than their dataset claims
FINE = "fine"  # both sides read as absolute xyxy, as far as the boxes tell
UNDECIDED = "undecided"  # not enough evidence: no targets, no reading fits, or nothing tells the side apart
VERDICTS = (PREDICTIONS, TARGETS, FINE, UNDECIDED)


@dataclass(frozen=True)
class DoctorImage:
    """One image as the doctor sees it: pred_boxes (n, 4) as the adapter wrote them, target_boxes (m, 4) as
    the dataset reader made them (both meant to be absolute xyxy), image_size (height, width) or None."""

    pred_boxes: np.ndarray
    target_boxes: np.ndarray
    image_size: tuple[int, int] | None


@dataclass(frozen=True)
class FormatDiagnosis:
    """The doctor's verdict (one of VERDICTS), which side to fix and how, and the evidence.

    mismatch: something is off (predictions and targets disagree, or the targets are off); as_is: mean over
    targets of their best IoU with a prediction read as xyxy; readings: that mean per reading of the
    predictions (nan where a reading needs unknown image sizes); best: the best reading other than xyxy;
    targets: how many targets were compared; target_reading: the reading the dataset's boxes fit, when its
    warnings name one; evidence: each finding in words.
    """

    verdict: str
    mismatch: bool
    message: str
    as_is: float
    readings: dict[str, float]
    best: str
    targets: int
    target_reading: str | None
    evidence: tuple[str, ...]


# ---------------------------------------------------------------------------------------------- inputs


def _image(pred_boxes: Any, target_boxes: Any, size: Any, scores: Any = None) -> DoctorImage:
    """A DoctorImage keeping, when scores are given, only the image's most confident predictions.

    One per target (at least one): the doctor asks where the detector puts its confident boxes. The best IoU
    of each target over *every* prediction measures coverage by chance: an untrained model's 100 random boxes
    read as xywh (which enlarges them) reached 0.38 against 0.17 as xyxy, a "format mismatch" of noise.
    """
    known = size is not None and all(v is not None and np.isfinite(float(v)) and float(v) > 0 for v in size)
    preds = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    targets = np.asarray(target_boxes, np.float64).reshape(-1, 4)
    if scores is not None and len(preds):
        order = np.argsort(-np.asarray(scores, np.float64).reshape(-1), kind="stable")
        preds = preds[order[: max(1, len(targets))]]
    return DoctorImage(preds, targets, (int(size[0]), int(size[1])) if known else None)


def images_of_result(result: EpisodeResult) -> list[DoctorImage]:
    """Returns a DoctorImage per query image and clip frame of an EpisodeResult."""
    return [_image(q.pred_boxes, q.target_boxes, q.image_size, q.scores) for q in result.all_queries()]


def images_of_rows(rows: Any) -> list[DoctorImage]:
    """Returns a DoctorImage per 'image' row of an evaluation's rows (inspector.batch: gt_boxes, pred_boxes as
    flat lists, and IMAGE_SIZE_COLUMNS when the rows carry them)."""
    images = rows[rows["kind"] == "image"]
    h_col, w_col = IMAGE_SIZE_COLUMNS
    sizes: Iterable = (
        zip(images[h_col], images[w_col], strict=True)
        if h_col in images and w_col in images
        else [None] * len(images)
    )
    scores = images["scores"] if "scores" in images else [None] * len(images)
    return [
        _image(p, g, size, sc)
        for p, g, size, sc in zip(images["pred_boxes"], images["gt_boxes"], sizes, scores, strict=True)
    ]


# ---------------------------------------------------------------------------------------------- readings


def reading_names() -> list[str]:
    """The interpretations the doctor tries: xyxy, xywh, cxcywh, each in pixels and normalized."""
    return [f + n for f in FORMATS for n in ("", "n")]


@dataclass(frozen=True)
class _Stacked:
    """All images' predictions stacked: preds (P, 4) and their image's (height, width) pred_sizes (P, 2), nan
    where unknown."""

    images: list[DoctorImage]
    preds: np.ndarray
    pred_sizes: np.ndarray
    offsets: np.ndarray  # (len(images) + 1,) where each image's predictions start in `preds`


def _box_sizes(images: Sequence[DoctorImage], counts: np.ndarray) -> np.ndarray:
    """Returns (sum(counts), 2): each image's (height, width), nan when unknown, repeated counts[i] times."""
    per_image = np.array([im.image_size or (np.nan, np.nan) for im in images], np.float64).reshape(-1, 2)
    return np.repeat(per_image, counts, axis=0)


def _stack(images: list[DoctorImage]) -> _Stacked:
    counts = np.array([len(im.pred_boxes) for im in images], np.int64)
    preds = np.concatenate([im.pred_boxes for im in images] or [np.zeros((0, 4))]).reshape(-1, 4)
    return _Stacked(images, preds, _box_sizes(images, counts), np.concatenate([[0], np.cumsum(counts)]))


def _readable(s: _Stacked, reading: str) -> bool:
    """A normalised reading needs every image's size (one image without would bias the mean)."""
    return not split_reading(reading)[1] or all(im.image_size is not None for im in s.images)


def _best_ious(s: _Stacked, reading: str) -> tuple[np.ndarray, np.ndarray]:
    """Returns (best IoU (T,) of each target with a prediction read as `reading`, the matching prediction's
    index (T,) into s.preds, -1 where none reaches MATCH_IOU).

    Every (target, prediction of its image) pair at once, then a maximum per target: one NumPy pass instead
    of an IoU matrix per image (the summary of 4,000 images read 6 ways spent 1.0 s in that loop)."""
    boxes = to_xyxy(s.preds, reading, s.pred_sizes)
    n_targets = np.array([len(im.target_boxes) for im in s.images], np.int64)
    if not n_targets.sum():
        return np.zeros(0), np.zeros(0, np.int64)
    targets = np.concatenate([im.target_boxes for im in s.images if len(im.target_boxes)]).reshape(-1, 4)
    image = np.repeat(np.arange(len(s.images)), n_targets)  # each target's image
    pairs = np.diff(s.offsets)[image]  # each target's predictions: its image's
    ends = np.cumsum(pairs)
    pred = np.repeat(s.offsets[image] - (ends - pairs), pairs) + np.arange(int(ends[-1]))
    iou = paired_exact_iou(boxes[pred], np.repeat(targets, pairs, axis=0))
    best, which = np.zeros(len(targets)), np.full(len(targets), -1, np.int64)
    has = pairs > 0
    starts = (ends - pairs)[has]
    if len(starts):
        best[has] = np.maximum.reduceat(iou, starts)
        first = np.minimum.reduceat(np.where(iou == np.repeat(best, pairs), pred, len(boxes)), starts)
        which[has] = np.where(best[has] >= MATCH_IOU, first, -1)
    return best, which


def _mean_best_iou(s: _Stacked, reading: str) -> float:
    if not _readable(s, reading):
        return math.nan
    best, _ = _best_ious(s, reading)
    return float(best.mean()) if len(best) else math.nan


def mean_best_iou(result: EpisodeResult, reading: str = "xyxy") -> float:
    """Returns the mean over targets of their best IoU with any prediction, reading the predicted
    numbers as format `reading` (nan when there are no targets)."""
    return _mean_best_iou(_stack(images_of_result(result)), reading)


# ---------------------------------------------------------------------------------------------- evidence


def _count(why: dict[str, np.ndarray]) -> int:
    """Returns how many boxes format_checks.impossible found impossible, for any reason."""
    return int((why["empty"] | why["outside"] | why["corner"]).sum())


def _reasons(why: dict[str, np.ndarray]) -> str:
    """Returns counts of impossible boxes by reason, in words ('' when there are none)."""
    words = {
        "empty": "inverted or empty",
        "outside": "over the image edge",
        "corner": f"a speck within {CORNER_PX:g} px of the corner",
    }
    return ", ".join(f"{int(why[k].sum())} {w}" for k, w in words.items() if why[k].any())


@dataclass(frozen=True)
class _SideTest:
    """The predictions that match a target under `reading`, tested as xyxy pixel boxes and as `reading`."""

    reading: str
    matched: int
    bad_as_is: int
    bad_read: int
    why_as_is: str
    why_read: str


def _side_test(s: _Stacked, reading: str) -> _SideTest:
    _, which = _best_ious(s, reading)
    idx = np.unique(which[which >= 0])
    preds, sizes = s.preds[idx], s.pred_sizes[idx]
    as_is = impossible(preds, sizes)
    read = impossible(to_xyxy(preds, reading, sizes), sizes)
    return _SideTest(reading, len(idx), _count(as_is), _count(read), _reasons(as_is), _reasons(read))


def _target_evidence(images: Sequence[DoctorImage]) -> tuple[int, dict[str, np.ndarray]]:
    """Returns (targets, why each target is impossible in its image: format_checks.impossible masks)."""
    targets = np.concatenate([im.target_boxes for im in images] or [np.zeros((0, 4))]).reshape(-1, 4)
    counts = np.array([len(im.target_boxes) for im in images], np.int64)
    return len(targets), impossible(targets, _box_sizes(images, counts))


# ---------------------------------------------------------------------------------------------- verdict


@dataclass(frozen=True)
class _Evidence:
    """What the boxes say, before a verdict: readings of the predictions, the side test under the best
    alternative (None without a clear relation), the targets' own impossibility, the dataset's warnings."""

    readings: dict[str, float]
    best: str
    side: _SideTest | None
    targets: int
    target_why: dict[str, np.ndarray]
    warnings: tuple[FormatWarning, ...]

    @property
    def as_is(self) -> float:
        return self.readings["xyxy"]

    @property
    def bad_targets(self) -> int:
        return _count(self.target_why)

    @property
    def predictions_off(self) -> bool:
        """The matching predictions are impossible as xyxy and fine in the better reading."""
        return self.side is not None and enough(self.side.bad_as_is - self.side.bad_read, self.side.matched)

    @property
    def targets_mirrored(self) -> bool:
        """The matching predictions are fine as xyxy, and the reading that makes them the targets is not."""
        return self.side is not None and enough(self.side.bad_read - self.side.bad_as_is, self.side.matched)

    def fit(self) -> str:
        return (
            f"read as {self.best} the predictions reach a mean best IoU of "
            f"{self.readings[self.best]:.2f} with the targets, read as xyxy {self.as_is:.2f}"
        )

    def geometry(self) -> str:
        t = self.side
        if t is None:
            return ""
        as_is = f" ({t.why_as_is})" if t.why_as_is else ""
        read = f" ({t.why_read})" if t.why_read else ""
        return (
            f"of the {t.matched} predictions that match a target read as {t.reading}, {t.bad_as_is} are "
            f"impossible as xyxy pixel boxes{as_is} and {t.bad_read} read as {t.reading}{read}"
        )


def _convert_hint(reading: str) -> str:
    size = ", image_size" if split_reading(reading)[1] else ""  # convert needs the size only to scale
    return f"inspector.boxes.convert(boxes, '{reading}', 'xyxy'{size})"


def _adapter_too(e: _Evidence) -> str:
    if not e.predictions_off:
        return ""
    return (
        f" The predictions, besides, read better as {e.best} ({e.geometry()}): check the adapter too "
        f"({_convert_hint(e.best)})."
    )


def _dataset_message(e: _Evidence) -> tuple[str, str | None]:
    top = max(e.warnings, key=lambda w: w.count)
    more = f" ({len(e.warnings) - 1} more in the dataset's warnings.)" if len(e.warnings) > 1 else ""
    return (
        f"the targets are off, not the adapter: the dataset's boxes do not read as its format defines "
        f"them. {top.message}{more} Fix the dataset file ({top.file})." + _adapter_too(e)
    ), top.fits


def _impossible_targets_message(e: _Evidence) -> str:
    corner = int(e.target_why["corner"].sum())
    if enough(corner, e.targets):
        return (
            f"the targets look normalised, not the predictions off: {corner} of {e.targets} targets "
            f"end within {CORNER_PX:g} px of the top-left corner of images of ≥ {CORNER_MIN_SIDE} px, "
            "which is what numbers in [0, 1] become when a reader takes them for pixels. Fix the dataset "
            "file: write its boxes in pixels as the format defines them (COCO bbox [x, y, width, height] "
            "in pixels), or convert the dataset to a format whose numbers are normalised (YOLO)."
            + _adapter_too(e)
        )
    return (
        f"the targets are off, not the predictions: {e.bad_targets} of {e.targets} targets are "
        f"impossible boxes in their images ({_reasons(e.target_why)}). Fix the dataset file (or the "
        "adapter's targets, if it makes its own)." + _adapter_too(e)
    )


def _relation_message(e: _Evidence) -> tuple[str, str]:
    """(verdict, message) when a reading of the predictions fits the targets much better than xyxy."""
    if e.predictions_off:
        return PREDICTIONS, (
            f"predicted boxes look like {e.best}, not absolute xyxy: {e.fit()}, and "
            f"{e.geometry()}. Convert them in the adapter ({_convert_hint(e.best)}); the "
            "dataset is fine."
        )
    if e.targets_mirrored:
        return TARGETS, (
            f"the targets are off, not the adapter: {e.fit()}, but {e.geometry()}, so the "
            f"targets are the {e.best} reading of sane boxes: the dataset file holds absolute "
            f"[x1, y1, x2, y2] pixel corners where its format wants {describe(e.best)}. Fix the "
            "dataset file (its reader's warnings, Dataset.warnings, name the boxes)."
        )
    return UNDECIDED, (
        f"predictions and targets disagree: {e.fit()}; {e.geometry()}, so the geometry "
        f"cannot tell which side is off. Either the adapter emits {e.best} (fix: "
        f"{_convert_hint(e.best)}) or the dataset file holds [x1, y1, x2, y2] pixel corners "
        f"where its format wants {describe(e.best)}: check the dataset's warnings first (they "
        "see every box as written)."
    )


def _verdict(e: _Evidence) -> tuple[str, bool, str, str | None]:
    """Returns (verdict, mismatch, message, target_reading) from the evidence; see diagnose_images."""
    if e.warnings:
        message, fits = _dataset_message(e)
        return TARGETS, True, message, fits
    if e.targets and enough(e.bad_targets, e.targets):
        return TARGETS, True, _impossible_targets_message(e), None
    if e.targets == 0:
        return UNDECIDED, False, "no targets to compare the predictions with", None
    if e.side is not None:
        verdict, message = _relation_message(e)
        return verdict, True, message, "xyxy" if verdict == TARGETS else None
    alternative = f"best alternative {e.best} {e.readings[e.best]:.2f}"
    # "Fine" only where xyxy is the best reading: another that fits as well, short of the margin, is a doubt.
    if e.as_is >= DOCTOR_MIN_IOU and e.as_is > e.readings.get(e.best, -1.0):
        return (
            FINE,
            False,
            (
                f"no other reading of the boxes fits the targets better than absolute xyxy "
                f"({e.as_is:.2f} mean best IoU; {alternative}), and the targets are possible "
                "boxes in their images"
            ),
            None,
        )
    if e.as_is >= DOCTOR_MIN_IOU:
        return (
            UNDECIDED,
            False,
            (
                f"read as {e.best} the predictions fit the targets about as well as "
                f"read as xyxy ({e.readings[e.best]:.2f} against {e.as_is:.2f}, short of "
                f"the {DOCTOR_MARGIN:g} margin): not enough to say a side is off. If it "
                "persists over many episodes, check the dataset's warnings "
                f"(Dataset.warnings) and the adapter ({_convert_hint(e.best)})."
            ),
            None,
        )
    return (
        UNDECIDED,
        False,
        (
            f"the predictions find the targets in no reading ({e.as_is:.2f} mean best "
            f"IoU as xyxy; {alternative}): a model that has not learnt yet, or boxes in no "
            "format the doctor tries; nothing says a format is wrong"
        ),
        None,
    )


def diagnose_images(
    images: Sequence[DoctorImage], dataset_warnings: Sequence[FormatWarning] = ()
) -> FormatDiagnosis:
    """Returns the FormatDiagnosis over all `images`, with the dataset's FormatWarnings (Dataset.warnings) as
    evidence about the targets when given.

    In order: dataset warnings or impossible targets → TARGETS; no targets → UNDECIDED; a reading of the
    predictions that fits much better (DOCTOR_MARGIN, DOCTOR_MIN_IOU) → PREDICTIONS or TARGETS by which
    reading makes the matching predictions impossible (format_checks.enough), UNDECIDED when neither does;
    else FINE when xyxy fits (DOCTOR_MIN_IOU) and best of all readings, UNDECIDED otherwise.
    """
    images = list(images)
    s = _stack(images)
    readings = {r: _mean_best_iou(s, r) for r in reading_names()}
    known = {r: v for r, v in readings.items() if r != "xyxy" and not math.isnan(v)}
    best = max(known, key=known.__getitem__) if known else "xyxyn"
    as_is = readings["xyxy"]
    relation = (
        bool(known)
        and not math.isnan(as_is)
        and known[best] >= DOCTOR_MIN_IOU
        and known[best] - as_is >= DOCTOR_MARGIN
    )
    targets, target_why = _target_evidence(images)
    e = _Evidence(
        readings,
        best,
        _side_test(s, best) if relation else None,
        targets,
        target_why,
        tuple(dataset_warnings),
    )
    verdict, mismatch, message, target_reading = _verdict(e)
    evidence = [w.message for w in e.warnings]
    if e.bad_targets:
        evidence.append(
            f"{e.bad_targets} of {targets} targets are impossible in their images ({_reasons(target_why)})"
        )
    if e.side is not None:
        evidence += [e.fit(), e.geometry()]
    return FormatDiagnosis(
        verdict, mismatch, message, as_is, readings, best, targets, target_reading, tuple(evidence)
    )


def format_doctor(result: EpisodeResult, dataset_warnings: Sequence[FormatWarning] = ()) -> FormatDiagnosis:
    """Returns the FormatDiagnosis of one episode (queries and clip frames); see diagnose_images."""
    return diagnose_images(images_of_result(result), dataset_warnings)


def doctor_results(
    results: Iterable[EpisodeResult], dataset_warnings: Sequence[FormatWarning] = ()
) -> FormatDiagnosis:
    """Returns the FormatDiagnosis over every query image and clip frame of several episodes."""
    return diagnose_images([im for r in results for im in images_of_result(r)], dataset_warnings)


def doctor_rows(rows: Any, dataset_warnings: Sequence[FormatWarning] = ()) -> FormatDiagnosis:
    """Returns the FormatDiagnosis over an evaluation's per-image rows (inspector.batch rows: kind, gt_boxes,
    pred_boxes, and IMAGE_SIZE_COLUMNS when present)."""
    return diagnose_images(images_of_rows(rows), dataset_warnings)
