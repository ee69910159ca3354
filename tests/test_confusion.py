"""inspector/confusion.py: the detection confusion matrix on hand-built images with exact counts, and its
agreement with the greedy TP / FP / FN matching."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.confusion import BACKGROUND, confusion_matrix, confusion_pairs
from inspector.evaluate import match, match_totals

E = np.zeros((0, 4), np.float32)
A = [0, 0, 10, 10]
B = [20, 20, 30, 30]
C = [40, 40, 50, 50]
NEAR_A = [1, 0, 11, 10]  # IoU 90 / 110 = 0.818 with A


def image(gts: list[tuple[list, int]], preds: list[tuple[list, float, int]]) -> tuple:
    return (
        np.array([b for b, _ in gts], np.float32).reshape(-1, 4),
        np.array([c for _, c in gts], np.int64),
        np.array([b for b, _, _ in preds], np.float32).reshape(-1, 4),
        np.array([s for _, s, _ in preds], np.float32),
        np.array([c for _, _, c in preds], np.int64),
    )


def test_one_of_each_case_gives_exact_counts():
    # a correct detection (A, class 0), a class swap (B is class 1, predicted 2), a background false positive
    # (class 1 where nothing is) and a missed object (C, class 2)
    img = image(
        [(A, 0), (B, 1), (C, 2)],
        [(NEAR_A, 0.9, 0), (B, 0.8, 2), ([60, 60, 70, 70], 0.7, 1)],
    )
    cm = confusion_matrix([img], labels=[0, 1, 2])
    want = np.array(
        [
            # pred 0  1  2  background
            [1, 0, 0, 0],  # true 0
            [0, 0, 1, 0],  # true 1: taken for class 2
            [0, 0, 0, 1],  # true 2: missed
            [0, 1, 0, 0],  # background: a class-1 false positive
        ]
    )
    np.testing.assert_array_equal(cm.counts, want)
    assert cm.counts.dtype == np.int64 and cm.true_positives == 1
    assert cm.names(["cat", "dog", "fox"]) == ["cat", "dog", "fox", BACKGROUND]
    assert cm.names(["cat"]) == ["cat", "1", "2", BACKGROUND]  # a label without a name shows as its number
    pairs = {tuple(p) for p in confusion_pairs(img).tolist()}
    assert pairs == {(0, 0), (1, 2), (2, -1), (-1, 1)}


def test_a_right_class_prediction_is_never_displaced_by_a_better_overlapping_wrong_one():
    # the wrong-class box overlaps the object more and scores higher; COCO's matching pairs the object with
    # the right-class box, and so does the diagonal: the wrong box is a background false positive
    img = image([(A, 0)], [(A, 0.95, 1), (NEAR_A, 0.6, 0)])
    cm = confusion_matrix([img], labels=[0, 1])
    np.testing.assert_array_equal(cm.counts, [[1, 0, 0], [0, 0, 0], [0, 1, 0]])


def test_a_higher_score_wins_a_contested_object_across_classes():
    # no right-class prediction: two wrong-class boxes compete for the object, the higher score takes it
    img = image([(A, 0)], [(NEAR_A, 0.5, 1), (A, 0.4, 2)])
    cm = confusion_matrix([img], labels=[0, 1, 2])
    np.testing.assert_array_equal(cm.counts, [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]])


def test_iou_exactly_at_the_threshold_matches():
    half = [0, 0, 10, 5]  # IoU 50 / 100 = 0.5 exactly with A
    cm = confusion_matrix([image([(A, 0)], [(half, 0.9, 1)])], labels=[0, 1])
    assert cm.counts[0, 1] == 1
    below = [0, 0, 10, 4.9]
    cm = confusion_matrix([image([(A, 0)], [(below, 0.9, 1)])], labels=[0, 1])
    np.testing.assert_array_equal(cm.counts, [[0, 0, 1], [0, 0, 0], [0, 1, 0]])


def test_score_threshold_drops_low_scores_before_matching():
    img = image([(A, 0)], [(A, 0.2, 0), (B, 0.1, 0)])
    everything = confusion_matrix([img], labels=[0])
    np.testing.assert_array_equal(everything.counts, [[1, 0], [1, 0]])
    gated = confusion_matrix([img], labels=[0], score_threshold=0.25)
    np.testing.assert_array_equal(gated.counts, [[0, 1], [0, 0]])
    assert gated.score_threshold == 0.25 and everything.score_threshold is None
    at = confusion_matrix([img], labels=[0], score_threshold=0.2)  # ≥: a score equal to the gate counts
    np.testing.assert_array_equal(at.counts, [[1, 0], [0, 0]])


def test_empty_images_and_labels():
    assert confusion_matrix([]).counts.shape == (1, 1)
    cm = confusion_matrix([image([], []), image([(A, 3)], [])])
    assert cm.labels == (3,)
    np.testing.assert_array_equal(cm.counts, [[0, 1], [0, 0]])
    cm = confusion_matrix([image([], [(A, 0.9, 1)])], labels=[0, 1])
    np.testing.assert_array_equal(cm.counts, [[0, 0, 0], [0, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match=r"labels \[5\]"):
        confusion_matrix([image([(A, 5)], [])], labels=[0, 1])


def _random_images(seed: int, n: int = 20) -> list[tuple]:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        g = int(rng.integers(0, 6))
        xy = rng.uniform(0, 60, (g, 2))
        gb = np.concatenate([xy, xy + rng.uniform(5, 30, (g, 2))], 1)
        gl = rng.integers(0, 4, g)
        p = int(rng.integers(0, 8))
        pick = rng.integers(0, max(g, 1), p)
        pb = gb[pick] + rng.normal(0, 3, (p, 4)) if g else rng.uniform(0, 60, (p, 4))
        pb = np.concatenate([np.minimum(pb[:, :2], pb[:, 2:]), np.maximum(pb[:, :2], pb[:, 2:])], 1)
        # labels: mostly right, some swapped
        pl = np.where(rng.uniform(size=p) < 0.7, gl[pick] if g else 0, rng.integers(0, 4, p))
        images.append((gb, gl, pb, rng.uniform(0, 1, p), pl))
    return images


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_sums_agree_with_the_greedy_matching(seed):
    images = _random_images(seed)
    cm = confusion_matrix(images, labels=range(4))
    totals = match_totals(images, 0.5)
    counts = cm.counts
    assert cm.true_positives == totals.tp  # the diagonal is AP50's true positives
    assert counts[:4].sum() == sum(len(r[1]) for r in images)  # every object once
    assert counts[:, :4].sum() == sum(len(r[4]) for r in images)  # every prediction once
    for c in range(4):
        assert counts[c].sum() == sum(int((r[1] == c).sum()) for r in images)
        assert counts[:, c].sum() == sum(int((r[4] == c).sum()) for r in images)
    # a miss of the TP matching is either a miss here or taken for another class; likewise false positives
    assert counts[:4, 4].sum() + (counts[:4, :4].sum() - np.trace(counts[:4, :4])) == totals.fn
    assert counts[4, :4].sum() + (counts[:4, :4].sum() - np.trace(counts[:4, :4])) == totals.fp
    assert counts[4, 4] == 0


def test_per_class_diagonal_equals_match_per_class_tp():
    images = _random_images(7)
    cm = confusion_matrix(images, labels=range(4))
    tp = np.zeros(4, np.int64)
    for gb, gl, pb, ps, pl in images:
        for c, counts in match(pb, ps, pl, gb, gl).per_class.items():
            tp[c] += counts.tp
    np.testing.assert_array_equal(np.diag(cm.counts)[:4], tp)
