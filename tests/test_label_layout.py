"""Label placement: a label beside its own box when there is room, stacked in free space with a leader when
not, never over another label, always inside the image."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.label_layout import Rect, box_rect, leader_line, own_candidates, place_labels

SIZE = (512.0, 512.0)


def _rects(placements) -> list[Rect]:
    return [p.rect for p in placements if p is not None]


def _overlaps(rects: list[Rect]) -> list[tuple[Rect, Rect]]:
    return [(a, b) for i, a in enumerate(rects) for b in rects[i + 1 :] if a.intersects(b)]


def test_a_lone_label_sits_above_its_box_top_left() -> None:
    (p,) = place_labels([(100, 100, 200, 200)], [(80, 16)], SIZE)
    assert p is not None and p.rect == Rect(100, 84, 180, 100) and not p.leader


def test_a_box_at_the_top_edge_gets_its_label_inside() -> None:
    (p,) = place_labels([(0, 0, 60, 60)], [(80, 16)], SIZE)
    assert p is not None and p.rect == Rect(0, 0, 80, 16) and not p.leader


def test_a_missed_target_prefers_below() -> None:
    (p,) = place_labels([(100, 100, 200, 200)], [(80, 16)], SIZE, prefer=["below"])
    assert p is not None and p.rect == Rect(100, 200, 180, 216)


def test_the_same_box_twice_gets_two_labels_side_by_side_or_stacked() -> None:
    first, second = place_labels([(100, 100, 200, 200)] * 2, [(80, 16), (120, 16)], SIZE)
    assert first is not None and second is not None
    assert not first.rect.intersects(second.rect)
    assert first.rect == Rect(100, 84, 180, 100)  # the earlier label keeps the best place


def test_when_a_box_has_no_free_place_of_its_own_the_label_stacks_nearby_with_a_leader() -> None:
    boxes = [(200, 200, 260, 260)] * 10
    placements = place_labels(boxes, [(70, 16)] * 10, SIZE)
    rects = _rects(placements)
    assert len(rects) == 10 and not _overlaps(rects)
    leaders = [p for p in placements if p is not None and p.leader]
    assert leaders  # 8 own places (4 corners × in/out, some equal) cannot hold 10 labels
    box = box_rect(boxes[0])
    assert all(p.rect.distance(box) <= 3 * 16 for p in leaders)  # stacked near the box, not far away
    (a, b) = leader_line(leaders[0].rect, box)
    assert box.x1 <= b[0] <= box.x2 and box.y1 <= b[1] <= box.y2  # the line ends on the box


@pytest.mark.parametrize("seed", range(8))
def test_random_heaps_of_boxes_never_get_overlapping_labels_and_stay_inside(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 30))
    centre = rng.uniform(0, 512, 2)
    xy = np.clip(centre + rng.normal(0, 40, (n, 2)), -20, 530)  # heaped, some past the edges
    wh = rng.uniform(5, 120, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1)
    sizes = [(float(rng.uniform(30, 200)), 16.0) for _ in range(n)]
    placements = place_labels(boxes, sizes, SIZE)
    rects = _rects(placements)
    assert len(rects) == n  # there is room for all of them on a 512 px image
    assert not _overlaps(rects)
    assert all(r.inside(SIZE) for r in rects)
    assert all(
        abs(r.width - s[0]) < 1e-9 and abs(r.height - s[1]) < 1e-9 for r, s in zip(rects, sizes, strict=True)
    )


def test_a_full_image_leaves_labels_out_rather_than_overlap() -> None:
    placements = place_labels([(10, 10, 20, 20)] * 6, [(60, 40)] * 6, (100.0, 100.0))
    rects = _rects(placements)
    assert not _overlaps(rects) and len(rects) == 2 and placements.count(None) == 4  # 60 px: one column


def test_own_candidates_are_clamped_into_the_image() -> None:
    for r in own_candidates(Rect(-10, -10, 30, 30), 80, 16, (100.0, 100.0)):
        assert r.inside((100.0, 100.0))


def test_inverted_boxes_are_put_in_order() -> None:
    assert box_rect((50, 60, 10, 20)) == Rect(10, 20, 50, 60)
