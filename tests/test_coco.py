"""inspector/coco.py: COCO AP without pycocotools, held to pycocotools' own COCOeval run to the last bit —
every accumulated array (precision, scores, recall), the mAPs, per-class APs and PR curves — on random and
crowded cases, the corner cases of COCO's rules, and the demo's two checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from inspector.coco import MAX_DETS, accumulate, coco_matches, exact, weighted_map
from inspector.evaluate import (
    ImageRecord,
    MapResult,
    PRCurve,
    coco_map,
    coco_map_with_pr,
    pycocotools_accumulation,
    pycocotools_map,
)
from inspector.ui.episode_views import demo_checkpoints
from tests.test_compare import _random_records
from tests.test_compare_bootstrap import crowded_records

REPO = Path(__file__).resolve().parents[1]


def _same_map(a: MapResult, b: MapResult) -> None:
    """Equal to the bit, nan where the other is nan."""
    assert a.map50 == b.map50 or (math.isnan(a.map50) and math.isnan(b.map50))
    assert a.map50_95 == b.map50_95 or (math.isnan(a.map50_95) and math.isnan(b.map50_95))
    assert list(a.per_class) == list(b.per_class)
    for c, ap in a.per_class.items():
        assert ap == b.per_class[c] or (math.isnan(ap) and math.isnan(b.per_class[c]))


def _same_curves(a: dict[int, PRCurve], b: dict[int, PRCurve]) -> None:
    assert list(a) == list(b)
    for c, curve in a.items():
        other = b[c]
        for name in ("recall", "precision", "scores"):
            np.testing.assert_array_equal(getattr(curve, name), getattr(other, name))  # nan equals nan here
        assert curve.max_recall == other.max_recall or (
            math.isnan(curve.max_recall) and math.isnan(other.max_recall)
        )


def _assert_exactly_pycocotools(records: list[ImageRecord]) -> None:
    assert exact(records)
    ours, theirs = accumulate(records), pycocotools_accumulation(records)
    np.testing.assert_array_equal(ours.labels, theirs.labels)
    for name in ("precision", "scores", "recall"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name), err_msg=name)
    got, want = coco_map_with_pr(records), pycocotools_map(records)
    _same_map(got[0], want[0])
    _same_curves(got[1], want[1])
    _same_map(coco_map(records), want[0])


@pytest.mark.parametrize("seed", range(6))
def test_random_images_equal_pycocotools_to_the_bit(seed: int) -> None:
    _assert_exactly_pycocotools(_random_records(seed, n=30 + 10 * seed))


@pytest.mark.parametrize("seed", range(6))
def test_crowded_images_equal_pycocotools_to_the_bit(seed: int) -> None:
    """Duplicates at every IoU, tied scores, classes only predicted, images without targets or predictions."""
    _assert_exactly_pycocotools(crowded_records(seed))


def test_more_than_max_dets_per_image_and_class() -> None:
    """Only the MAX_DETS highest-scoring detections of an image and class count; ties keep their order."""
    rng = np.random.default_rng(7)
    gt = np.array([[10, 10, 60, 60], [100, 100, 140, 150]], np.float32)
    records = []
    for _ in range(3):
        n = MAX_DETS + 37
        pred = np.repeat(gt, n // 2 + 1, axis=0)[:n] + rng.normal(0, 6, (n, 4)).astype(np.float32)
        scores = np.round(rng.random(n), 2).astype(np.float32)
        records.append((gt, np.array([0, 1]), pred, scores, rng.integers(0, 2, n)))
    _assert_exactly_pycocotools(records)


def test_iou_ties_and_thresholds_hit_exactly() -> None:
    """Two identical targets (COCO keeps the last at the best IoU) and IoUs of exactly 0.5 and 0.75."""
    g = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 0, 40, 10]], np.float32)
    half = np.array([[20, 0, 30, 10]], np.float32)  # IoU 100 / 200 = 0.5 with the third target
    three_q = np.array([[0, 0, 10, 7.5]], np.float32)  # IoU 0.75 with the first two
    pred = np.concatenate([g[:1], g[:1], half, three_q])
    records: list[ImageRecord] = [
        (g, np.array([0, 0, 0]), pred, np.array([0.9, 0.9, 0.8, 0.7], np.float32), np.zeros(4, np.int64)),
        (g[:1], np.array([1]), np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)),
    ]
    _assert_exactly_pycocotools(records)


def test_a_box_coco_ignores_for_its_area_goes_to_pycocotools() -> None:
    """An inverted box has a negative area: COCOeval ignores it, which inspector.coco does not mirror, so
    coco_map asks pycocotools itself."""
    records = _random_records(1, n=10)
    gb, gl, pb, ps, pl = records[0]
    inverted = np.array([[50, 50, 40, 80]], np.float32)  # x2 < x1
    records[0] = (gb, gl, np.concatenate([pb, inverted]), np.append(ps, 0.99), np.append(pl, 0))
    assert not exact(records) and exact(records[1:])
    got, want = coco_map_with_pr(records), pycocotools_map(records)
    _same_map(got[0], want[0])
    _same_curves(got[1], want[1])


def test_unit_weights_give_accumulates_numbers() -> None:
    records = crowded_records(3)
    m = coco_matches(records)
    m50, m95, per_class = weighted_map(m, np.ones((1, len(records))))
    acc = accumulate(records, m)
    assert m50[0] == acc.map50 and m95[0] == acc.map50_95
    want = coco_map(records).per_class
    assert {int(c): float(per_class[0, k]) for k, c in enumerate(m.classes)} == pytest.approx(
        {c: v for c, v in want.items() if not math.isnan(v)}, abs=1e-12
    )


@pytest.mark.skipif(not demo_checkpoints(), reason="demo/ not built (python -m inspector demo)")
def test_the_demo_checkpoints_evaluations_equal_pycocotools_to_the_bit() -> None:
    """The Compare page's two checkpoints on 12 of its episodes (B: thousands of low-scoring detections)."""
    import torch

    from inspector.adapters import load_detector
    from inspector.batch import EpisodePlan, EvalSettings, evaluate_batch, image_records, plan_meta
    from inspector.data import read_dataset
    from inspector.plan import DEFAULT_SEED, resolve_shape, trained_shape

    demo = REPO / "demo"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = demo / "runs" / "troubled" / "best.pt"
        shape = resolve_shape(trained_shape(a))
        data = read_dataset(demo / "data" / "val")
        s = EvalSettings(12, DEFAULT_SEED, shape.n_way, shape.k_shot, shape.n_query)
        plan = EpisodePlan(data, None, s, keep=True)
        for path in (a, demo / "runs" / "fixed" / "best.pt"):
            rows = evaluate_batch(load_detector(path), plan, plan_meta(plan, data.class_names)).rows
            _assert_exactly_pycocotools(image_records(rows))
    finally:
        torch.set_num_threads(threads)
