"""Where box labels go: beside their own box when there is room, else stacked in the nearest free space with
a leader line back to the box; never over another label, always inside the image.

A pure function of rectangles (no drawing), so the overlay and its tests read the same layout. Like
detectron2's Visualizer, which tries a label above its box and moves it inside when it would leave the
image, each label tries its own box's corners first; unlike it, labels are placed one after another against
those already placed, so two boxes that overlap never get labels that hide each other (issue 21: "crescent
0.59" covered "cross 0.51 · IoU 0.94").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Side = Literal["above", "below"]


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle x1 ≤ x2, y1 ≤ y2 in image pixels."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def intersects(self, other: Rect) -> bool:
        """Whether the two share interior area (rectangles that only touch do not intersect)."""
        return self.x1 < other.x2 and other.x1 < self.x2 and self.y1 < other.y2 and other.y1 < self.y2

    def inside(self, size: tuple[float, float]) -> bool:
        """Whether the rectangle lies within an image of size (width, height)."""
        return self.x1 >= 0 and self.y1 >= 0 and self.x2 <= size[0] and self.y2 <= size[1]

    def distance(self, other: Rect) -> float:
        """The gap between the two rectangles (0 when they touch or overlap)."""
        dx = max(0.0, other.x1 - self.x2, self.x1 - other.x2)
        dy = max(0.0, other.y1 - self.y2, self.y1 - other.y2)
        return float(np.hypot(dx, dy))


@dataclass(frozen=True)
class Placement:
    """Where one label went; `leader` when it sits away from its box and a line must join them."""

    rect: Rect
    leader: bool


def box_rect(box: Sequence[float] | np.ndarray) -> Rect:
    """The Rect of an xyxy box, its corners put in order (a box may come inverted from a bad adapter)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return Rect(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def clamp(x: float, y: float, w: float, h: float, size: tuple[float, float]) -> Rect:
    """The w × h rectangle at (x, y) moved the least distance that puts it inside the image (pinned to the
    top-left corner when it is larger than the image)."""
    x = min(max(0.0, x), max(0.0, size[0] - w))
    y = min(max(0.0, y), max(0.0, size[1] - h))
    return Rect(x, y, x + w, y + h)


def own_candidates(
    box: Rect, w: float, h: float, size: tuple[float, float], prefer: Side = "above"
) -> list[Rect]:
    """A label's places on its own box, best first: above the top-left corner, inside it, below the bottom
    left, inside the bottom left, then the same at the right-hand corners (`prefer`="below" starts under
    the box: a missed target's label, so it does not race the prediction's for the top). Clamped into the
    image, so a box at the edge still gets its label beside it."""
    above = [(box.x1, box.y1 - h), (box.x1, box.y1)]
    below = [(box.x1, box.y2), (box.x1, box.y2 - h)]
    right = [(box.x2 - w, box.y1 - h), (box.x2 - w, box.y2), (box.x2 - w, box.y1), (box.x2 - w, box.y2 - h)]
    order = above + below if prefer == "above" else below + above
    return [clamp(x, y, w, h, size) for x, y in order + right]


def free_candidates(box: Rect, w: float, h: float, size: tuple[float, float]) -> np.ndarray:
    """(n, 4) xyxy: every place for a w × h label on a grid anchored at the box's top-left corner — rows a
    label's height apart (labels stack), columns half a label's width apart — clamped into the image,
    nearest to the box first."""
    rows = np.arange(-np.ceil(size[1] / h) - 1, np.ceil(size[1] / h) + 2)
    cols = np.arange(-np.ceil(2 * size[0] / w) - 1, np.ceil(2 * size[0] / w) + 2)
    ys = np.clip(box.y1 - h + rows * h, 0.0, max(0.0, size[1] - h))
    xs = np.clip(box.x1 + cols * w / 2, 0.0, max(0.0, size[0] - w))
    gx, gy = np.meshgrid(xs, ys)
    rects = np.stack([gx.ravel(), gy.ravel(), gx.ravel() + w, gy.ravel() + h], 1)
    rects = np.unique(rects, axis=0)
    dx = np.maximum(0.0, np.maximum(box.x1 - rects[:, 2], rects[:, 0] - box.x2))
    dy = np.maximum(0.0, np.maximum(box.y1 - rects[:, 3], rects[:, 1] - box.y2))
    # nearest first; at equal distance, the one nearer the box's top-left corner (where its label would be)
    corner = np.hypot(rects[:, 0] - box.x1, rects[:, 3] - box.y1)
    return rects[np.lexsort((corner, np.hypot(dx, dy)))]


def _collides(rects: np.ndarray, placed: list[Rect]) -> np.ndarray:
    """(n,) bool: which of the (n, 4) rectangles intersect one already placed."""
    if not placed:
        return np.zeros(len(rects), bool)
    p = np.array([[r.x1, r.y1, r.x2, r.y2] for r in placed])  # (m, 4)
    r = rects[:, None, :]
    hit = (r[..., 0] < p[:, 2]) & (p[:, 0] < r[..., 2]) & (r[..., 1] < p[:, 3]) & (p[:, 1] < r[..., 3])
    return np.asarray(hit.any(1))


def place_labels(
    boxes: Sequence[Sequence[float] | np.ndarray],
    sizes: Sequence[tuple[float, float]],
    image_size: tuple[float, float],
    prefer: Sequence[Side] = (),
) -> list[Placement | None]:
    """Returns where each label goes, in the order given (earlier labels get the better places): on its own
    box (own_candidates) when one of those is free, else the free grid place nearest its box, with a
    leader; None when no place in the image is free (the caller says how many were left out).

    boxes: xyxy per label; sizes: (width, height) per label; image_size: (width, height); prefer: "above" or
    "below" per label (default "above"). Returned rectangles never intersect and lie inside the image
    (those of labels larger than the image excepted: they are pinned to its top-left corner).
    """
    placed: list[Rect] = []
    out: list[Placement | None] = []
    for k, (box, (w, h)) in enumerate(zip(boxes, sizes, strict=True)):
        b = box_rect(box)
        side: Side = prefer[k] if k < len(prefer) else "above"
        own = own_candidates(b, w, h, image_size, side)
        free = [r for r in own if not any(r.intersects(p) for p in placed)]
        if free:
            placement: Placement | None = Placement(free[0], leader=False)
        else:
            grid = free_candidates(b, w, h, image_size)
            open_ = grid[~_collides(grid, placed)]
            placement = Placement(Rect(*(float(v) for v in open_[0])), leader=True) if len(open_) else None
        if placement is not None:
            placed.append(placement.rect)
        out.append(placement)
    return out


def leader_line(label: Rect, box: Rect) -> tuple[tuple[float, float], tuple[float, float]]:
    """The segment that joins a label to its box: between the nearest points of the two rectangles."""

    def nearest(r: Rect, x: float, y: float) -> tuple[float, float]:
        return min(max(x, r.x1), r.x2), min(max(y, r.y1), r.y2)

    centre = ((label.x1 + label.x2) / 2, (label.y1 + label.y2) / 2)
    on_box = nearest(box, *centre)
    return nearest(label, *on_box), on_box
