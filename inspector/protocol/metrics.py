"""A cell's numbers: the summary's mAP@0.5, mAP@0.5:0.95 and ST-IoU, and with a class split bAP / nAP.

bAP and nAP are COCO AP restricted to the base or the novel classes, as few-shot detection reports them
(FsDet evaluates COCOeval with catIds set to one side): the mean of COCOeval's precision over IoU thresholds,
recall points and that side's classes with ground truth; bAP50 / nAP50 at IoU 0.5 alone. They come from the
same exact accumulation as mAP (coco.accumulate), so with every class on one side nAP equals mAP.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from inspector.batch import BatchResult, image_records
from inspector.coco import CocoAccumulation, accumulate
from inspector.evaluate import ImageRecord
from inspector.protocol.intervals import Statistic
from inspector.protocol.split import ClassSplit

# The metrics of a cell, in the order tables show them; the split ones only with a split.
BASE_METRICS = ("map50", "map50_95", "st_iou")
SPLIT_METRICS = ("nap50", "nap", "bap50", "bap")
LABELS = {
    "map50": "mAP@0.5",
    "map50_95": "mAP@0.5:0.95",
    "st_iou": "ST-IoU",
    "nap50": "nAP50",
    "nap": "nAP",
    "bap50": "bAP50",
    "bap": "bAP",
}


def metric_names(split: ClassSplit | None) -> tuple[str, ...]:
    return (*BASE_METRICS, *SPLIT_METRICS) if split is not None else BASE_METRICS


def side_ids(split: ClassSplit, class_names: Sequence[str]) -> dict[str, np.ndarray]:
    """{"novel": ids, "base": ids}: the split's class ids in the result's class list."""
    index = {name: c for c, name in enumerate(class_names)}
    return {
        side: np.asarray([index[n] for n in names if n in index], np.int64)
        for side, names in (("novel", split.novel), ("base", split.base))
    }


def split_aps(acc: CocoAccumulation, ids: Mapping[str, np.ndarray]) -> dict[str, float]:
    """{nap50, nap, bap50, bap} of an accumulation (module docstring); nan for a side with no ground truth."""
    out = {}
    for side, letter in (("novel", "n"), ("base", "b")):
        columns = np.flatnonzero(np.isin(acc.labels, ids[side]))
        p = acc.precision[:, :, columns]
        at50 = p[:1]
        out[f"{letter}ap50"] = float(at50[at50 > -1].mean()) if (at50 > -1).any() else math.nan
        out[f"{letter}ap"] = float(p[p > -1].mean()) if (p > -1).any() else math.nan
    return out


def cell_numbers(
    result: BatchResult, summary: Mapping[str, Any], split: ClassSplit | None
) -> dict[str, float]:
    """The metrics of one cell: from its summary (batch.summarize) and, with a split, its images' AP by
    side."""
    numbers = {name: float(summary[name]) for name in BASE_METRICS}
    if split is not None:
        records: list[ImageRecord] = image_records(result.rows.sort_values("position", kind="stable"))
        names = result.meta.get("class_names") or []
        if records:
            numbers.update(split_aps(accumulate(records), side_ids(split, names)))
        else:
            numbers.update({name: math.nan for name in SPLIT_METRICS})
    return numbers


def statistics(split: ClassSplit | None, class_names: Sequence[str]) -> dict[str, Statistic]:
    """The metrics the episode bootstrap can redraw (coco.weighted_map gives mAPs and per-class AP@0.5)."""
    out: dict[str, Statistic] = {
        "map50": lambda m50, m95, per_class, classes: m50,
        "map50_95": lambda m50, m95, per_class, classes: m95,
    }
    if split is not None:
        ids = side_ids(split, class_names)
        for side, name in (("novel", "nap50"), ("base", "bap50")):
            out[name] = _side_mean(ids[side])
    return out


def _side_mean(ids: np.ndarray) -> Statistic:
    def mean(m50: np.ndarray, m95: np.ndarray, per_class: np.ndarray, classes: np.ndarray) -> np.ndarray:
        columns = np.flatnonzero(np.isin(classes, ids))
        if not len(columns):
            return np.full(len(m50), math.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample without that side's ground truth
            return np.nanmean(per_class[:, columns], axis=1)

    return mean
