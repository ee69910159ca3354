"""Assignment coverage: which targets the task-aligned assigner gives positive anchors, over many episodes.

A target the assigner leaves with no or few positives is trained by few predictions (its box and class
gradients come from those anchors only), whatever its loss weights say. Per target this records its
positives (episode_diagnostics.positives_per_target, the count of Assigned entries naming it), class, size
in the original image's pixels, COCO size bucket and the strides of its positives; `summarize_coverage` pools
them overall, by class and by size bucket, and counts the "starved" ones (fewer than `min_positives`).

Pure functions over the result records of inspector/results.py; `measure_coverage` runs a detector over a
plan's episodes to make them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from inspector.episode_diagnostics import positives_per_target
from inspector.results import Detector, EpisodeResult, QueryResult

if TYPE_CHECKING:
    from inspector.batch import EpisodePlan

SizeBucket = Literal["small", "medium", "large"]
SIZE_BUCKETS: tuple[SizeBucket, ...] = ("small", "medium", "large")
# COCO's object sizes (https://cocodataset.org/#detection-eval): small objects have area < 32², medium
# 32² < area < 96², large area > 96², in pixels of the image as annotated. The page leaves the edges open;
# pycocotools (Params.areaRng [0, 32²], [32², 96²], [96², 1e5²]; a gt is ignored where area < lo or > hi)
# counts an area of exactly 32² or 96² in BOTH neighbouring ranges. A partition must put it in one: here an
# edge belongs to the larger bucket (small < 32² ≤ medium < 96² ≤ large). Area is the box's width × height in
# original pixels (COCO uses the mask's area where an annotation has one).
SMALL_AREA = 32**2
MEDIUM_AREA = 96**2

# A target with fewer positives than this is "starved". A convention, not a law: TAL makes at most `topk`
# positives per target (ModelConfig.topk = 10, YOLOv8's default; TOOD uses 13), and only among anchors whose
# centre lies inside the box, so a small box has few candidates to begin with (a 16 × 16 px box in network
# pixels holds about 4 stride-8 centres and 1 or 2 coarser ones), and an anchor two targets claim goes to
# one. With fewer than 3 its box and class losses rest on one or two predictions: their noise is the target's
# whole training signal, against up to 10 for a well-covered neighbour. Other cut-offs are as defensible;
# pass --min-positives to use one.
MIN_POSITIVES = 3


def size_bucket(area: float) -> SizeBucket:
    """Returns the COCO size bucket of an area in pixels²: small < 32² ≤ medium < 96² ≤ large."""
    if area < SMALL_AREA:
        return "small"
    return "medium" if area < MEDIUM_AREA else "large"


@dataclass(frozen=True)
class TargetCoverage:
    """One target of one query image (or clip frame) and the positives the assigner gave it.

    episode: the episode index; image_id; target: its index in the query's target_boxes; class_name: its way's
    name; width, height: its box in original pixels; positives: how many anchors were assigned to it;
    strides: the stride of each of those anchors (network-input pixels), ascending — empty when the adapter
    gives no strides; overlooked: anchors the assigner left negative although their box fits this target
    (results.Overlooked: TAL's score feedback loop), None when the adapter does not say;
    overlooked_score: the mean class score of those anchors (nan without any).
    """

    episode: int
    image_id: str
    target: int
    class_name: str
    width: float
    height: float
    positives: int
    strides: tuple[int, ...]
    overlooked: int | None = None
    overlooked_score: float = math.nan

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def bucket(self) -> SizeBucket:
        return size_bucket(self.area)


def query_coverage(
    q: QueryResult, class_names: Sequence[str], episode: int = 0
) -> list[TargetCoverage] | None:
    """Returns a TargetCoverage per target of one query, or None when the adapter gives no assignment.

    class_names: the episode's way names (target_labels index them; a label without a name shows as its
    number).
    """
    counts = positives_per_target(q)
    if counts is None or q.assigned is None:  # both None together: positives_per_target needs an assignment
        return None
    assigned_target = np.asarray(q.assigned.target, np.int64).reshape(-1)
    anchor_stride = (
        None
        if q.strides is None
        else np.asarray(q.strides).reshape(-1)[np.asarray(q.assigned.anchor, np.int64).reshape(-1)]
    )  # (P,) the stride of each positive
    boxes = np.asarray(q.target_boxes, np.float64).reshape(-1, 4)
    labels = np.asarray(q.target_labels, np.int64).reshape(-1)
    missed = q.overlooked
    overlooked_of = None if missed is None else np.asarray(missed.target, np.int64).reshape(-1)
    out = []
    for t, box in enumerate(boxes):
        mine = None if overlooked_of is None else overlooked_of == t
        overlooked_scores = (
            np.zeros(0) if mine is None or missed is None else np.asarray(missed.score, np.float64)[mine]
        )
        label = int(labels[t])
        strides = (
            ()
            if anchor_stride is None
            else tuple(sorted(int(s) for s in anchor_stride[assigned_target == t]))
        )
        out.append(
            TargetCoverage(
                episode=episode,
                image_id=q.image_id,
                target=t,
                class_name=class_names[label] if 0 <= label < len(class_names) else str(label),
                width=max(float(box[2] - box[0]), 0.0),
                height=max(float(box[3] - box[1]), 0.0),
                positives=int(counts[t]),
                strides=strides,
                overlooked=None if mine is None else int(mine.sum()),
                overlooked_score=float(overlooked_scores.mean()) if overlooked_scores.size else math.nan,
            )
        )
    return out


def episode_coverage(result: EpisodeResult) -> list[TargetCoverage]:
    """Returns the TargetCoverage of every target of the episode's queries and clip frames that have an
    assignment (queries without one are skipped: count them with `unassigned_queries`)."""
    out: list[TargetCoverage] = []
    for q in result.all_queries():
        out += query_coverage(q, result.class_names, result.index) or []
    return out


def unassigned_queries(result: EpisodeResult) -> int:
    """How many of the episode's queries and clip frames come without an assignment."""
    return sum(q.assigned is None for q in result.all_queries())


@dataclass(frozen=True)
class CoverageRun:
    """The targets of a plan's episodes, and how many queries (and clip frames) came with no assignment."""

    targets: tuple[TargetCoverage, ...]
    queries: int
    queries_without_assignment: int


def measure_coverage(
    detector: Detector, plan: EpisodePlan, progress: Callable[[int, int], None] | None = None
) -> CoverageRun:
    """Returns the CoverageRun of `detector` over every episode of `plan` (the episodes `evaluate` draws),
    at the plan's prediction filters; progress(done, total) after each episode."""
    from inspector.adapters import inspect_episode  # torch: only when a model runs

    s = plan.settings
    targets: list[TargetCoverage] = []
    queries = unassigned = 0
    for position in range(plan.total):
        result = inspect_episode(
            detector, plan.episode(position), s.score_threshold, s.nms_iou, gradients=False
        )
        targets += episode_coverage(result)
        queries += len(result.all_queries())
        unassigned += unassigned_queries(result)
        if progress is not None:
            progress(position + 1, plan.total)
    return CoverageRun(tuple(targets), queries, unassigned)


@dataclass(frozen=True)
class CoverageGroup:
    """The targets of one group (all, a class, a size bucket): count, mean positives (nan without targets),
    how many have no positive at all, the positives per stride {stride: positives}, and the overlooked
    anchors (high-IoU anchors left negative) with how many targets have any."""

    count: int
    mean_positives: float
    without_positive: int
    positives_by_stride: dict[int, int]
    overlooked_anchors: int | None = None  # None: the adapter does not report overlooked anchors
    with_overlooked: int | None = None  # targets with at least one overlooked anchor


@dataclass(frozen=True)
class StarvedGroup:
    """The starved targets of one group: count, fraction of the group's targets (nan without targets), and
    their mean positives (nan when none is starved)."""

    count: int
    fraction: float
    mean_positives: float


@dataclass(frozen=True)
class CoverageSummary:
    """Coverage of a set of targets, overall, by class (sorted by name) and by size bucket (all three, in
    SIZE_BUCKETS order); `starved*` the same for the targets with fewer than min_positives positives."""

    min_positives: int
    targets: CoverageGroup
    by_class: dict[str, CoverageGroup]
    by_size: dict[SizeBucket, CoverageGroup]
    starved: StarvedGroup
    starved_by_class: dict[str, StarvedGroup]
    starved_by_size: dict[SizeBucket, StarvedGroup]


def _group(targets: Sequence[TargetCoverage]) -> CoverageGroup:
    positives = np.array([t.positives for t in targets], np.int64)
    strides = np.array([s for t in targets for s in t.strides], np.int64)
    values, counts = np.unique(strides, return_counts=True)
    known = [t.overlooked for t in targets if t.overlooked is not None]
    return CoverageGroup(
        count=len(targets),
        mean_positives=float(positives.mean()) if len(positives) else math.nan,
        without_positive=int((positives == 0).sum()),
        positives_by_stride={int(v): int(c) for v, c in zip(values, counts, strict=True)},
        overlooked_anchors=sum(known) if known else None,
        with_overlooked=sum(n > 0 for n in known) if known else None,
    )


def _starved(targets: Sequence[TargetCoverage], min_positives: int) -> StarvedGroup:
    starved = [t.positives for t in targets if t.positives < min_positives]
    return StarvedGroup(
        count=len(starved),
        fraction=len(starved) / len(targets) if targets else math.nan,
        mean_positives=float(np.mean(starved)) if starved else math.nan,
    )


def summarize_coverage(
    targets: Iterable[TargetCoverage], min_positives: int = MIN_POSITIVES
) -> CoverageSummary:
    """Returns the CoverageSummary of `targets`; starved: fewer than min_positives positives."""
    targets = list(targets)
    classes = sorted({t.class_name for t in targets})
    by_class = {c: [t for t in targets if t.class_name == c] for c in classes}
    by_size = {b: [t for t in targets if t.bucket == b] for b in SIZE_BUCKETS}
    return CoverageSummary(
        min_positives=min_positives,
        targets=_group(targets),
        by_class={c: _group(ts) for c, ts in by_class.items()},
        by_size={b: _group(ts) for b, ts in by_size.items()},
        starved=_starved(targets, min_positives),
        starved_by_class={c: _starved(ts, min_positives) for c, ts in by_class.items()},
        starved_by_size={b: _starved(ts, min_positives) for b, ts in by_size.items()},
    )


def _group_dict(g: CoverageGroup) -> dict[str, Any]:
    return {
        "count": g.count,
        "mean_positives": g.mean_positives,
        "without_positive": g.without_positive,
        "positives_by_stride": {str(s): n for s, n in g.positives_by_stride.items()},
        "overlooked_anchors": g.overlooked_anchors,
        "with_overlooked": g.with_overlooked,
    }


def _starved_dict(g: StarvedGroup) -> dict[str, Any]:
    return {"count": g.count, "fraction": g.fraction, "mean_positives": g.mean_positives}


def coverage_dict(summary: CoverageSummary) -> dict[str, Any]:
    """The JSON form: {"targets": {count, mean_positives, without_positive (a count), positives_by_stride,
    overlooked_anchors, with_overlooked (null when the adapter does not report them), by_class {name: …},
    by_size {bucket: …}}, "starved": {min_positives, count, fraction, mean_positives,
    by_class {name: {count, fraction, mean_positives}}, by_size {…}}}. nan stays nan (serialize makes it
    null)."""
    return {
        "targets": {
            **_group_dict(summary.targets),
            "by_class": {c: _group_dict(g) for c, g in summary.by_class.items()},
            "by_size": {b: _group_dict(g) for b, g in summary.by_size.items()},
        },
        "starved": {
            "min_positives": summary.min_positives,
            **_starved_dict(summary.starved),
            "by_class": {c: _starved_dict(g) for c, g in summary.starved_by_class.items()},
            "by_size": {b: _starved_dict(g) for b, g in summary.starved_by_size.items()},
        },
    }
