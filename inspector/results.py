"""What a detector returns per episode, and the `Detector` protocol every adapter meets.

Plain records, no model: boxes in the ORIGINAL image's pixels (absolute xyxy), and — where the adapter knows
them — anchors, the assignment of anchors to targets, Wise-IoU terms, losses and gradient norms. A field an
adapter cannot provide stays None and is named in `EpisodeResult.unavailable`; nothing is invented.
Evaluation (inspector/evaluate.py), drawing (inspector/draw.py), the batch evaluator and the pages read these
records; the adapters (inspector/adapters.py) write them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from inspector.data.records import Episode


@dataclass(frozen=True)
class Assigned:
    """The positive anchors of one query image, in anchor order. P positives.

    anchor (P,) int64 index into QueryResult.anchors; target (P,) int64 index into target_boxes;
    align_metric (P,) float32 s^α·IoU^β; iou (P,) float32 IoU of the anchor's predicted box with its target;
    pred_boxes (P, 4) float32 that predicted box, xyxy original pixels, NOT clipped (so `iou` can be
    recomputed).
    """

    anchor: np.ndarray
    target: np.ndarray
    align_metric: np.ndarray
    iou: np.ndarray
    pred_boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.anchor)


@dataclass(frozen=True)
class Overlooked:
    """Anchors the assigner left negative although their predicted box fits a target: K of them.

    An anchor is overlooked for target m when its centre lies inside m, it is no positive (of any target),
    its predicted box has IoU ≥ OVERLOOK_IOU with m, and at least the IoU of m's weakest positive: by
    overlap alone it would have been picked, so what kept it out of the top-k was its class score s in the
    alignment metric s^α·IoU^β — TAL's score feedback loop (a low score keeps an anchor negative, and a
    negative anchor is trained towards a lower score).

    anchor (K,) int64 index into QueryResult.anchors; target (K,) int64 index into target_boxes; iou (K,)
    float32; score (K,) float32 the anchor's score for m's class; align_metric (K,) float32 s^α·IoU^β.
    """

    anchor: np.ndarray
    target: np.ndarray
    iou: np.ndarray
    score: np.ndarray
    align_metric: np.ndarray

    def __len__(self) -> int:
        return len(self.anchor)


@dataclass(frozen=True)
class QueryResult:
    """One query image (or clip frame): predictions, targets and, when known, anchors and their assignment.

    pred_boxes (n, 4) float32 absolute xyxy original pixels; scores (n,); labels (n,) way indices;
    target_boxes (m, 4); target_labels (m,); image_size (height, width);
    anchors (A, 2) anchor centres in original pixels (may lie in the letterbox padding) or None;
    strides (A,) each anchor's stride in network-input pixels, or None; assigned: Assigned or None;
    wiou_beta / wiou_r (P,) Wise-IoU outlier degree and gradient gain per positive (Assigned order), or None;
    overlooked: the high-IoU anchors the assigner left negative (Overlooked), or None when unknown.
    """

    image_id: str
    image_size: tuple[int, int]
    pred_boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    target_boxes: np.ndarray
    target_labels: np.ndarray
    anchors: np.ndarray | None = None
    strides: np.ndarray | None = None
    assigned: Assigned | None = None
    wiou_beta: np.ndarray | None = None
    wiou_r: np.ndarray | None = None
    overlooked: Overlooked | None = None


@dataclass(frozen=True)
class ClipResult:
    """A video query: one QueryResult per frame, in order; `way` is the way its target stands for."""

    clip_id: str
    way: int
    frames: tuple[QueryResult, ...]


@dataclass(frozen=True)
class EpisodeLosses:
    """One episode's losses as plain floats: raw (before gains), weighted (as summed), total, positives."""

    raw: dict[str, float]
    weighted: dict[str, float]
    total: float
    positives: int
    mean_iou: float


# Which shared parameters a term's gradient is taken on: "last", the last shared layer (the layers whose
# output every head reads: GradNorm's choice of W, "to save on compute costs", Chen et al. 2018), or "all".
SharedParameters = Literal["last", "all"]


@dataclass(frozen=True)
class TermGradients:
    """Each weighted loss's gradient on the shared parameters, and the losses of the same forward pass.

    gradients {term: (P,) float32}, flattened in parameter order (a term that does not reach the parameters
    is zeros); losses: the episode's losses as that pass computed them (batch norm as the gradients saw it).
    """

    gradients: dict[str, np.ndarray]
    losses: EpisodeLosses


@dataclass(frozen=True)
class EpisodeResult:
    """What a detector made of one episode; None fields are ones the adapter cannot provide (see
    unavailable)."""

    index: int
    class_names: tuple[str, ...]
    queries: tuple[QueryResult, ...]
    clips: tuple[ClipResult, ...] = ()
    losses: EpisodeLosses | None = None
    gradient_norms: dict[str, float] | None = None
    unavailable: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # about the detector's inputs, e.g. the checkpoint's NaN weights

    def all_queries(self) -> tuple[QueryResult, ...]:
        """The query images followed by every clip frame."""
        return self.queries + tuple(f for c in self.clips for f in c.frames)

    def anchor_strides(self) -> tuple[int, ...]:
        """The distinct anchor strides of its queries and frames, ascending (empty when the adapter gives
        none)."""
        found = [np.asarray(q.strides).reshape(-1) for q in self.all_queries() if q.strides is not None]
        return tuple(int(s) for s in np.unique(np.concatenate(found))) if found else ()


@runtime_checkable
class Detector(Protocol):
    """What inspector needs from a detector: `class_names` and `predict`. Optional extras (None when
    unsupported):

        losses(episode) -> EpisodeLosses | None
        gradient_norms(episode) -> dict[str, float] | None   (weighted loss → ‖∂loss/∂backbone‖, batch norm
                                                              in training mode, as a training step sees it)
        term_gradients(episode, shared="last") -> TermGradients | None
                                      (weighted loss → ∂loss/∂backbone flattened to one (P,) vector, the same
                                      P parameters and order for every loss — the vectors whose norms
                                      gradient_norms gives, with shared="all" — and the losses of that
                                      forward pass; `shared` as SharedParameters; inspector/balance/
                                      measures shares and angles)

    `name` names the detector in messages; an adapter need not set it: `adapters.load_detector` gives an
    object without one the adapter spec it was loaded by.
    """

    name: str
    class_names: tuple[str, ...]
    # optional: `warnings: tuple[str, ...]` about what was loaded (NaN weights …), copied into every result

    def predict(
        self, episode: Episode, score_threshold: float | None = None, nms_iou: float | None = None
    ) -> EpisodeResult: ...


def _floats(a: np.ndarray | None) -> list | None:
    return None if a is None else np.asarray(a).tolist()


def query_to_dict(q: QueryResult) -> dict[str, Any]:
    """A JSON-ready dict of one query: pred_boxes (absolute xyxy), scores, labels, targets, anchors as
    [x, y, stride], assigned {anchor index: {target, align_metric, iou, pred_box}} and wiou
    {anchor: {beta, r}}."""
    anchors = None
    if q.anchors is not None:
        strides = q.strides if q.strides is not None else np.full(len(q.anchors), np.nan)
        anchors = np.concatenate([q.anchors, np.asarray(strides, np.float32)[:, None]], 1).tolist()
    assigned = None
    if q.assigned is not None:
        a = q.assigned
        assigned = {
            str(int(i)): {"target": int(t), "align_metric": float(m), "iou": float(u), "pred_box": box}
            for i, t, m, u, box in zip(
                a.anchor,
                a.target,
                a.align_metric,
                a.iou,
                np.asarray(a.pred_boxes).reshape(-1, 4).tolist(),
                strict=False,
            )
        }
    wiou = None
    if q.wiou_beta is not None and q.wiou_r is not None and q.assigned is not None:
        wiou = {
            str(int(i)): {"beta": float(b), "r": float(r)}
            for i, b, r in zip(q.assigned.anchor, q.wiou_beta, q.wiou_r, strict=False)
        }
    return {
        "image_id": q.image_id,
        "image_size": list(q.image_size),
        "pred_boxes": _floats(q.pred_boxes),
        "scores": _floats(q.scores),
        "labels": _floats(q.labels),
        "target_boxes": _floats(q.target_boxes),
        "target_labels": _floats(q.target_labels),
        "anchors": anchors,
        "assigned": assigned,
        "wiou": wiou,
    }


def result_to_dict(result: EpisodeResult) -> dict[str, Any]:
    """A JSON-ready dict of `result`: its queries and clip frames (see query_to_dict), the losses, gradient
    norms, what the adapter could not provide, and the warnings about what was loaded (NaN weights …)."""
    losses = (
        None
        if result.losses is None
        else {
            "raw": dict(result.losses.raw),
            "weighted": dict(result.losses.weighted),
            "total": result.losses.total,
            "positives": result.losses.positives,
            "mean_iou": result.losses.mean_iou,
        }
    )
    return {
        "index": result.index,
        "class_names": list(result.class_names),
        "queries": [query_to_dict(q) for q in result.queries],
        "clips": [
            {"clip_id": c.clip_id, "way": c.way, "frames": [query_to_dict(f) for f in c.frames]}
            for c in result.clips
        ],
        "losses": losses,
        "gradient_norms": result.gradient_norms,
        "unavailable": list(result.unavailable),
        "warnings": list(result.warnings),
    }
