"""format_doctor's best IoU per target, all pairs at once, against the per-image IoU matrices it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from inspector import format_doctor as fd
from inspector.evaluate import exact_box_iou


def _per_image(s, reading: str) -> tuple[np.ndarray, np.ndarray]:
    """The loop it replaced: one IoU matrix per image, max and first argmax per target."""
    boxes = fd.to_xyxy(s.preds, reading, s.pred_sizes)
    best, which = [], []
    for i, im in enumerate(s.images):
        if not len(im.target_boxes):
            continue
        lo, hi = s.offsets[i], s.offsets[i + 1]
        if hi == lo:
            best.append(np.zeros(len(im.target_boxes)))
            which.append(np.full(len(im.target_boxes), -1))
            continue
        iou = exact_box_iou(boxes[lo:hi], im.target_boxes)
        top = iou.max(0)
        best.append(top)
        which.append(np.where(top >= fd.MATCH_IOU, lo + iou.argmax(0), -1))
    if not best:
        return np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(best), np.concatenate(which).astype(np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_best_ious_equal_the_per_image_matrices(seed: int) -> None:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(int(rng.integers(0, 30))):
        m, n = int(rng.integers(0, 5)), int(rng.integers(0, 12))
        t = rng.uniform(0, 80, (m, 2))
        targets = np.hstack([t, t + rng.uniform(2, 40, (m, 2))])
        near = targets[rng.integers(0, max(m, 1), n)] if m else rng.uniform(0, 80, (n, 4))
        preds = near + rng.normal(0, 4, (n, 4))
        if n and rng.random() < 0.3:
            preds[0] = preds[0, [1, 0, 3, 2]]  # a duplicate-ish box: ties for the best
            preds = np.vstack([preds, preds[:1]])
        size = (128, 128) if rng.random() < 0.8 else None
        images.append(fd._image(preds, targets, size))
    s = fd._stack(images)
    for reading in ("xyxy", "xywh", "cxcywh", "xyxyn"):
        if not fd._readable(s, reading):
            continue
        got, want = fd._best_ious(s, reading), _per_image(s, reading)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), reading
