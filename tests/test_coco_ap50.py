"""AP@0.5 matched at IoU 0.5 alone (evaluate.coco_ap50, coco.image_matches / assemble) and the TIDE breakdown
built on it: the numbers coco_map gives, to the last bit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector.coco import AP50_ONLY, IOU_THRESHOLDS, assemble, coco_matches, image_matches
from inspector.evaluate import ImageRecord, MapResult, coco_ap50, coco_map
from inspector.tide import ERROR_TYPES, classify_image, error_breakdown, fix_record, scored_record
from tests.test_compare import _random_records
from tests.test_compare_bootstrap import crowded_records


def _same(x: float, y: float) -> bool:
    return x == y or (math.isnan(x) and math.isnan(y))


def _same_ap50(a: MapResult, b: MapResult) -> None:
    assert _same(a.map50, b.map50) and list(a.per_class) == list(b.per_class)
    assert all(_same(ap, b.per_class[c]) for c, ap in a.per_class.items())


def _cases() -> list[list[ImageRecord]]:
    inverted = _random_records(7, n=10)
    gb, gl, pb, ps, pl = inverted[0]
    inverted[0] = (
        gb,
        gl,
        np.concatenate([pb, [[50, 50, 40, 60]]]).astype(np.float32),
        np.append(ps, 0.9),
        np.append(pl, 0),
    )
    return [
        *(_random_records(seed) for seed in range(3)),
        *(crowded_records(seed) for seed in range(3)),
        inverted,  # a box COCO ignores for its area: pycocotools' own run, as coco_map
        [],  # nothing at all
        [
            (np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros((1, 4)), np.ones(1), np.zeros(1, np.int64))
        ],  # no gt
        [
            (np.ones((1, 4)), np.zeros(1, np.int64), np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
        ],  # no det
    ]


@pytest.mark.parametrize("case", range(len(_cases())))
def test_ap50_alone_is_coco_maps_ap50_to_the_bit(case: int) -> None:
    records = _cases()[case]
    got, want = coco_ap50(records), coco_map(records)
    _same_ap50(got, want)
    assert math.isnan(got.map50_95)
    matched = [image_matches(r, AP50_ONLY) for r in records]
    _same_ap50(coco_ap50(records, matched), want)


@pytest.mark.parametrize("seed", range(3))
def test_matching_at_05_alone_is_the_first_row_of_all_ten(seed: int) -> None:
    records = crowded_records(seed)
    full, first = coco_matches(records), coco_matches(records, AP50_ONLY)
    np.testing.assert_array_equal(full.classes, first.classes)
    np.testing.assert_array_equal(full.gt_count, first.gt_count)
    for k in range(len(full.classes)):
        np.testing.assert_array_equal(full.det_tp[k][:1], first.det_tp[k])
        np.testing.assert_array_equal(full.det_image[k], first.det_image[k])
        np.testing.assert_array_equal(full.det_score[k], first.det_score[k])
    assert np.array_equal(first.thresholds, IOU_THRESHOLDS[:1])
    # images matched one by one and put together are coco_matches
    again = assemble([image_matches(r) for r in records])
    for k in range(len(full.classes)):
        np.testing.assert_array_equal(full.det_tp[k], again.det_tp[k])


def _reference_breakdown(records: list[ImageRecord]) -> dict[str, float]:
    """Each type's dAP as error_breakdown computed it before: coco_map over every image, fixed or not."""
    scored = [scored_record(r) for r in records]
    typed = [classify_image(r) for r in scored]
    base = coco_map(scored).map50
    out = {}
    for kind in ERROR_TYPES:
        if any(e.count(kind) for e in typed):
            out[kind] = (
                coco_map([fix_record(r, e, kind) for r, e in zip(scored, typed, strict=True)]).map50 - base
            )
        else:
            out[kind] = 0.0
    return out


@pytest.mark.parametrize("case", range(7))  # those with ground truth and predictions
def test_tide_daps_are_those_of_coco_map_over_every_image(case: int) -> None:
    records = _cases()[case]
    got = error_breakdown(records)
    want = _reference_breakdown(records)
    for kind in ERROR_TYPES:
        assert _same(got.errors[kind].dap, want[kind]), kind
    assert _same(got.ap50, coco_map([scored_record(r) for r in records]).map50)
