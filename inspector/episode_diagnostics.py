"""Per-episode diagnostics over an EpisodeResult: positives, assigned IoUs, coordinate ranges, losses,
Wise-IoU terms (a clip's ST-IoU is evaluate.clip_st_iou; the box-format doctor is inspector.format_doctor).

Everything is a pure function of plain arrays; nothing here runs a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The box-format doctor lives in inspector.format_doctor; re-exported for callers that import it from here.
from inspector.format_doctor import FormatDiagnosis, format_doctor, mean_best_iou, reading_names  # noqa: F401
from inspector.results import EpisodeLosses, EpisodeResult, QueryResult

IOU_BINS = 10


def positives_per_target(q: QueryResult) -> np.ndarray | None:
    """Returns (m,) int64: how many anchors were assigned to each target, or None without an assignment."""
    if q.assigned is None:
        return None
    return np.bincount(q.assigned.target, minlength=len(q.target_boxes)).astype(np.int64)[
        : len(q.target_boxes)
    ]


@dataclass(frozen=True)
class TargetRow:
    """One target's share of the assignment: its positives and their mean alignment metric and IoU."""

    query: str
    target: int
    label: int
    width: float
    height: float
    positives: int
    mean_align_metric: float
    mean_iou: float


def target_rows(result: EpisodeResult) -> list[TargetRow]:
    """Returns a TargetRow per target of every query and frame that has an assignment."""
    rows = []
    for q in result.all_queries():
        a = q.assigned
        counts = positives_per_target(q)
        if a is None or counts is None:  # both None together: positives_per_target needs an assignment
            continue
        for t, box in enumerate(q.target_boxes):
            own = a.target == t
            rows.append(
                TargetRow(
                    query=q.image_id,
                    target=t,
                    label=int(q.target_labels[t]),
                    width=float(box[2] - box[0]),
                    height=float(box[3] - box[1]),
                    positives=int(counts[t]),
                    mean_align_metric=float(a.align_metric[own].mean()) if own.any() else math.nan,
                    mean_iou=float(a.iou[own].mean()) if own.any() else math.nan,
                )
            )
    return rows


def positives_per_image(result: EpisodeResult) -> dict[str, int | None]:
    """Returns {image id: positive anchors} (None where the adapter gives no assignment)."""
    return {q.image_id: None if q.assigned is None else len(q.assigned) for q in result.all_queries()}


@dataclass(frozen=True)
class Histogram:
    """counts (bins,) of values falling in [edges[i], edges[i+1]); edges (bins + 1,)."""

    counts: np.ndarray
    edges: np.ndarray


def assigned_iou_histogram(result: EpisodeResult, bins: int = IOU_BINS) -> Histogram | None:
    """Returns the histogram over [0, 1] of the assigned anchors' IoU, or None without an assignment."""
    parts = [q.assigned.iou for q in result.all_queries() if q.assigned is not None]
    if not parts:
        return None
    counts, edges = np.histogram(np.concatenate(parts), bins=bins, range=(0.0, 1.0))
    return Histogram(counts.astype(np.int64), edges)


@dataclass(frozen=True)
class CoordinateRanges:
    """Min and max of each predicted coordinate (x1, y1, x2, y2) over the episode, and the largest image side.

    Coordinates that never exceed ~1 on images hundreds of pixels wide say "normalized"; x2 < x1 says
    "not xyxy".
    """

    low: tuple[float, float, float, float]
    high: tuple[float, float, float, float]
    max_image_side: int
    inverted: int  # predictions with x2 < x1 or y2 < y1
    count: int


def coordinate_ranges(result: EpisodeResult) -> CoordinateRanges | None:
    """Returns the CoordinateRanges of all predicted boxes, or None when there are none."""
    queries = result.all_queries()
    boxes = np.concatenate(
        [np.asarray(q.pred_boxes, np.float64).reshape(-1, 4) for q in queries] or [np.zeros((0, 4))]
    )
    if not len(boxes):
        return None
    side = max(max(q.image_size) for q in queries)
    inverted = int(((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).sum())
    return CoordinateRanges(
        tuple(boxes.min(0).tolist()), tuple(boxes.max(0).tolist()), int(side), inverted, len(boxes)
    )


@dataclass(frozen=True)
class LossRow:
    """One loss: raw value, weighted value, the gain between them, its share of the total."""

    name: str
    raw: float
    weighted: float
    gain: float
    share: float


def loss_rows(losses: EpisodeLosses | None) -> list[LossRow]:
    """Returns a LossRow per loss (empty when the adapter gives no losses)."""
    if losses is None:
        return []
    total = sum(abs(v) for v in losses.weighted.values())
    return [
        LossRow(
            name,
            raw,
            losses.weighted.get(name, math.nan),
            losses.weighted.get(name, math.nan) / raw if raw else math.nan,
            abs(losses.weighted.get(name, 0.0)) / total if total else math.nan,
        )
        for name, raw in losses.raw.items()
    ]


@dataclass(frozen=True)
class PositiveRow:
    """One positive anchor: where it sits, what it learns, and Wise-IoU's view of it."""

    query: str
    anchor: int
    x: float
    y: float
    stride: float
    target: int
    align_metric: float
    iou: float
    wiou_beta: float
    wiou_r: float


def positive_rows(result: EpisodeResult) -> list[PositiveRow]:
    """Returns a PositiveRow per assigned anchor (β and r nan where the adapter gives none)."""
    rows = []
    for q in result.all_queries():
        a = q.assigned
        if a is None:
            continue
        for k, i in enumerate(a.anchor):
            xy = q.anchors[i] if q.anchors is not None else (math.nan, math.nan)
            rows.append(
                PositiveRow(
                    q.image_id,
                    int(i),
                    float(xy[0]),
                    float(xy[1]),
                    float(q.strides[i]) if q.strides is not None else math.nan,
                    int(a.target[k]),
                    float(a.align_metric[k]),
                    float(a.iou[k]),
                    float(q.wiou_beta[k]) if q.wiou_beta is not None else math.nan,
                    float(q.wiou_r[k]) if q.wiou_r is not None else math.nan,
                )
            )
    return rows
