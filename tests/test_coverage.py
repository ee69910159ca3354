"""inspector/coverage.py and the coverage command: per-target positives equal the assignment, COCO size
buckets at their edges, starved targets by class and size, and the command's text and JSON on a tiny
checkpoint."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_model import TINY, save_tiny

from inspector.adapters import inspect_episode, load_detector
from inspector.batch import EpisodePlan, EvalSettings, evaluate_batch, plan_meta
from inspector.cli import coverage as coverage_cli
from inspector.coverage import (
    MEDIUM_AREA,
    MIN_POSITIVES,
    SIZE_BUCKETS,
    SMALL_AREA,
    TargetCoverage,
    coverage_dict,
    episode_coverage,
    query_coverage,
    size_bucket,
    summarize_coverage,
    unassigned_queries,
)
from inspector.data import read_dataset
from inspector.data.shapes import write_coco_dataset
from inspector.errors import InspectorError
from inspector.model.assigner import OVERLOOK_IOU, overlooked_anchors
from inspector.results import Assigned, EpisodeResult, Overlooked, QueryResult

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _query(targets: list[list[float]], labels: list[int], assigned_to: list[int] | None) -> QueryResult:
    """A query with 6 anchors of strides 8, 8, 8, 16, 16, 32; positives anchor k → assigned_to[k]."""
    strides = np.array([8, 8, 8, 16, 16, 32], np.float32)
    assigned = None
    if assigned_to is not None:
        p = len(assigned_to)
        assigned = Assigned(
            anchor=np.arange(p, dtype=np.int64),
            target=np.array(assigned_to, np.int64),
            align_metric=np.full(p, 0.5, np.float32),
            iou=np.full(p, 0.7, np.float32),
            pred_boxes=np.zeros((p, 4), np.float32),
        )
    return QueryResult(
        image_id="q",
        image_size=(480, 640),
        pred_boxes=np.zeros((0, 4), np.float32),
        scores=np.zeros(0, np.float32),
        labels=np.zeros(0, np.int64),
        target_boxes=np.array(targets, np.float32).reshape(-1, 4),
        target_labels=np.array(labels, np.int64),
        anchors=np.zeros((6, 2), np.float32),
        strides=strides,
        assigned=assigned,
    )


def test_hand_built_assignment_counts_and_strides():
    # anchors 0..4 positive: target 0 gets anchors 0, 3 (strides 8, 16); target 2 gets 1, 2, 4; target 1 none
    q = _query([[0, 0, 10, 10], [0, 0, 40, 40], [0, 0, 100, 100]], [0, 1, 0], [0, 2, 2, 0, 2])
    rows = query_coverage(q, ("cat", "dog"), episode=7)
    assert rows is not None
    assert [r.positives for r in rows] == [2, 0, 3]
    assert [r.strides for r in rows] == [(8, 16), (), (8, 8, 16)]
    assert [r.class_name for r in rows] == ["cat", "dog", "cat"]
    assert [r.bucket for r in rows] == ["small", "medium", "large"]
    assert (rows[1].width, rows[1].height, rows[1].episode, rows[1].target) == (40.0, 40.0, 7, 1)
    # the counts are the assignment mask's: Assigned entries naming each target
    assert [r.positives for r in rows] == [int((q.assigned.target == t).sum()) for t in range(3)]
    assert query_coverage(_query([[0, 0, 5, 5]], [0], None), ("cat",)) is None
    assert query_coverage(_query([[0, 0, 5, 5]], [3], []), ("cat",))[0].class_name == "3"


def test_episode_coverage_skips_queries_without_an_assignment():
    result = EpisodeResult(
        4,
        ("cat", "dog"),
        (_query([[0, 0, 10, 10]], [1], [0, 0]), _query([[0, 0, 10, 10]], [0], None)),
    )
    rows = episode_coverage(result)
    assert [(r.episode, r.class_name, r.positives) for r in rows] == [(4, "dog", 2)]
    assert unassigned_queries(result) == 1


@pytest.mark.parametrize(
    "width, height, bucket",
    [
        (31.99, 32, "small"),
        (32, 32, "medium"),  # exactly 32²: the edge belongs to the larger bucket
        (96, 95.99, "medium"),
        (96, 96, "large"),
        (0, 0, "small"),
        (1000, 1000, "large"),
    ],
)
def test_size_buckets_at_the_coco_edges(width, height, bucket):
    assert size_bucket(width * height) == bucket
    q = _query([[10, 10, 10 + width, 10 + height]], [0], [])
    assert query_coverage(q, ("cat",))[0].bucket == bucket
    assert (SMALL_AREA, MEDIUM_AREA) == (32**2, 96**2)


def _target(name: str, side: float, positives: int) -> TargetCoverage:
    return TargetCoverage(0, "q", 0, name, side, side, positives, (8,) * positives)


def test_starved_overall_by_class_and_by_size():
    targets = [
        _target("cat", 10, 0),  # small, starved
        _target("cat", 10, 2),  # small, starved
        _target("cat", 50, 9),  # medium
        _target("dog", 50, 1),  # medium, starved
        _target("dog", 50, 3),  # medium, exactly min_positives: not starved
        _target("dog", 200, 10),  # large
    ]
    s = summarize_coverage(targets, min_positives=3)
    assert (s.targets.count, s.targets.without_positive) == (6, 1)
    assert s.targets.mean_positives == pytest.approx(25 / 6)
    assert s.targets.positives_by_stride == {8: 25}
    assert (s.starved.count, s.starved.fraction, s.starved.mean_positives) == (3, 0.5, 1.0)
    assert list(s.by_class) == ["cat", "dog"] and list(s.by_size) == list(SIZE_BUCKETS)
    assert (s.starved_by_class["cat"].count, s.starved_by_class["cat"].fraction) == (2, 2 / 3)
    assert s.starved_by_class["cat"].mean_positives == 1.0
    assert (s.starved_by_class["dog"].count, s.starved_by_class["dog"].fraction) == (1, 1 / 3)
    assert (s.starved_by_size["small"].count, s.starved_by_size["small"].fraction) == (2, 1.0)
    assert (s.starved_by_size["medium"].count, s.starved_by_size["medium"].fraction) == (1, 1 / 3)
    assert (s.starved_by_size["large"].count, s.starved_by_size["large"].fraction) == (0, 0.0)
    assert math.isnan(s.starved_by_size["large"].mean_positives)
    assert s.by_size["medium"].mean_positives == pytest.approx(13 / 3)
    # a stricter cut-off starves more; the default is the documented one
    assert summarize_coverage(targets, min_positives=4).starved.count == 4
    assert summarize_coverage(targets).min_positives == MIN_POSITIVES == 3
    empty = summarize_coverage([])
    assert empty.targets.count == 0 and math.isnan(empty.targets.mean_positives)
    assert math.isnan(empty.starved.fraction) and empty.by_class == {}


def test_coverage_dict_shape():
    out = coverage_dict(summarize_coverage([_target("cat", 10, 1), _target("dog", 200, 5)]))
    assert set(out) == {"targets", "starved"}
    assert {"count", "mean_positives", "without_positive", "by_class", "by_size"} <= set(out["targets"])
    assert {"min_positives", "count", "fraction", "by_class", "by_size"} <= set(out["starved"])
    assert set(out["targets"]["by_size"]) == set(SIZE_BUCKETS) and set(out["starved"]["by_class"]) == {
        "cat",
        "dog",
    }
    assert out["targets"]["by_class"]["cat"]["positives_by_stride"] == {"8": 1}


# ---------------------------------------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("coverage")
    write_coco_dataset(root / "val", 20, seed=5)
    torch.manual_seed(0)
    for name, seed in (("a.pt", 0), ("b.pt", 1)):
        save_tiny(root / name, seed=seed)
    return root


def test_counts_equal_the_assignment_on_the_tiny_checkpoint(files):
    detector = load_detector(files / "a.pt")
    data = read_dataset(files / "val")
    plan = EpisodePlan(data, None, EvalSettings(episodes=3, seed=1, n_way=2, k_shot=2, n_query=2))
    positives = []
    for position in range(plan.total):
        result = inspect_episode(detector, plan.episode(position), gradients=False)
        rows = episode_coverage(result)
        assert len(rows) == sum(len(q.target_boxes) for q in result.queries) > 0
        for q in result.queries:
            mine = [r for r in rows if r.image_id == q.image_id]
            assert [r.positives for r in mine] == [
                int((q.assigned.target == t).sum()) for t in range(len(mine))
            ]
            for r in mine:
                anchors = q.assigned.anchor[q.assigned.target == r.target]
                assert r.strides == tuple(sorted(int(s) for s in q.strides[anchors]))
            assert sum(r.positives for r in mine) == len(q.assigned)
        positives += [r.positives for r in rows]
    # the same episodes and counts as evaluate's rows (batch.evaluate_batch stores positives per target)
    batch = evaluate_batch(detector, plan, plan_meta(plan, data.class_names))
    stored = [int(p) for ps in batch.rows.loc[batch.rows["kind"] == "image", "positives"] for p in ps]
    assert stored == positives


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    coverage_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def _no_constant(name: str) -> None:
    raise AssertionError(f"non-strict JSON constant {name}")


def test_cli_json_per_checkpoint_in_order(capsys, files):
    args = _parse(
        "--checkpoint",
        str(files / "a.pt"),
        "--checkpoint",
        str(files / "b.pt"),
        "--data",
        str(files / "val"),
        "--episodes",
        "3",
        "--seed",
        "1",
        "--threads",
        "1",
        "--json",
    )
    assert coverage_cli.run(args) == 0
    out = json.loads(capsys.readouterr().out, parse_constant=_no_constant)
    assert list(out) == ["checkpoints"]
    a, b = out["checkpoints"]
    assert (a["checkpoint"], b["checkpoint"]) == (str(files / "a.pt"), str(files / "b.pt"))
    for entry in (a, b):
        assert {"checkpoint", "episodes", "targets", "starved"} <= set(entry)
        assert entry["episodes"] == 3 and (entry["n_way"], entry["k_shot"], entry["n_query"]) == (2, 2, 2)
        t, s = entry["targets"], entry["starved"]
        assert {"count", "mean_positives", "without_positive", "by_class", "by_size"} <= set(t)
        assert {"min_positives", "count", "fraction", "by_class", "by_size"} <= set(s)
        assert s["min_positives"] == MIN_POSITIVES and entry["assigner_topk"] == TINY.topk
        assert t["count"] == sum(g["count"] for g in t["by_size"].values())
        assert t["count"] == sum(g["count"] for g in t["by_class"].values()) > 0
        assert s["count"] == sum(g["count"] for g in s["by_size"].values())
        assert entry["queries_without_assignment"] == 0
    assert a["targets"]["count"] == b["targets"]["count"]  # the same episodes for both checkpoints


def test_cli_text(capsys, files):
    args = _parse(
        "--checkpoint",
        str(files / "a.pt"),
        "--data",
        str(files / "val"),
        "--episodes",
        "2",
        "--min-positives",
        "5",
    )
    assert coverage_cli.run(args) == 0
    text = capsys.readouterr().out
    assert str(files / "a.pt") in text and "starved (< 5 positives)" in text and "assigner top-k 10" in text
    for row in ("all", "small", "medium", "large", "positives by stride"):
        assert row in text


def test_cli_refuses_bad_input(files, monkeypatch):
    common = ("--checkpoint", str(files / "a.pt"), "--data", str(files / "val"))
    with pytest.raises(InspectorError, match="--episodes"):
        coverage_cli.run(_parse(*common, "--episodes", "0"))
    with pytest.raises(InspectorError, match="--min-positives"):
        coverage_cli.run(_parse(*common, "--min-positives", "0"))
    with pytest.raises(InspectorError):
        coverage_cli.run(_parse("--checkpoint", str(files / "missing.pt"), "--data", str(files / "val")))

    class NoAssignment:
        """A user adapter that predicts nothing and knows no assignment."""

        name, class_names = "no-assignment", ()

        def predict(self, episode, score_threshold=None, nms_iou=None):
            z = np.zeros((0, 4), np.float32)
            queries = tuple(
                QueryResult(q.image_id, q.size, z, np.zeros(0), np.zeros(0, np.int64), q.boxes, q.labels)
                for q in episode.queries
            )
            return EpisodeResult(episode.index, episode.class_names, queries)

    monkeypatch.setattr("inspector.adapters.load_detector", lambda path, adapter: NoAssignment())
    with pytest.raises(InspectorError, match="no assignment"):
        coverage_cli.run(_parse(*common, "--episodes", "1"))


# ---------------------------------------------------------------------------------------------- overlooked


def test_a_high_iou_anchor_with_a_low_score_is_overlooked():
    # one target, three anchors inside it: two positives (IoU 0.6, 0.7), one negative whose predicted box
    # fits better (IoU 0.9) but scores 1e-4; a fourth negative anchor outside the target; a fifth inside with
    # a poor box (IoU 0.3, below both the weakest positive and 0.5)
    gt = torch.tensor([[0.0, 0.0, 100.0, 100.0]])
    points = torch.tensor([[20.0, 20.0], [50.0, 50.0], [60.0, 60.0], [150.0, 150.0], [80.0, 80.0]])

    def box_with_iou(iou: float) -> list[float]:  # a box inside the gt with that IoU: area iou · 100²
        side = 100.0 * math.sqrt(iou)
        return [0.0, 0.0, side, side]

    boxes = torch.tensor(
        [
            box_with_iou(0.6),
            box_with_iou(0.7),
            box_with_iou(0.9),
            [120.0, 120.0, 180.0, 180.0],
            box_with_iou(0.3),
        ]
    )
    scores = torch.tensor([[0.8], [0.7], [1e-4], [0.5], [0.6]])
    fg = torch.tensor([True, True, False, False, False])
    owner = torch.zeros(5, dtype=torch.long)
    anchor, target, iou, score, metric = overlooked_anchors(
        fg, owner, scores, boxes, points, torch.tensor([0]), gt, alpha=0.5, beta=6.0
    )
    assert anchor.tolist() == [2] and target.tolist() == [0]
    assert iou.item() == pytest.approx(0.9, abs=1e-5) and score.item() == pytest.approx(1e-4)
    assert metric.item() == pytest.approx(1e-4**0.5 * 0.9**6, rel=1e-4)
    # its alignment metric is below every positive's: the score, not the overlap, kept it out
    assert metric.item() < min(0.8**0.5 * 0.6**6, 0.7**0.5 * 0.7**6)
    # a target without positives is judged against OVERLOOK_IOU alone
    none = overlooked_anchors(
        torch.zeros(5, dtype=torch.bool), owner, scores, boxes, points, torch.tensor([0]), gt, 0.5, 6.0
    )
    assert sorted(none[0].tolist()) == [0, 1, 2] and OVERLOOK_IOU == 0.5


def test_overlooked_anchors_on_the_tiny_checkpoint_fit_their_definition(files):
    detector = load_detector(files / "a.pt", "reference")
    data = read_dataset(files / "val")
    plan = EpisodePlan(data, None, EvalSettings(episodes=3, seed=1, n_way=2, k_shot=2, n_query=2))
    for position in range(plan.total):
        for q in inspect_episode(detector, plan.episode(position), gradients=False).queries:
            o = q.overlooked
            assert o is not None and q.assigned is not None
            assert not np.isin(o.anchor, q.assigned.anchor).any()  # negatives only
            assert (o.iou >= OVERLOOK_IOU - 1e-6).all()
            for a, t, iou in zip(o.anchor, o.target, o.iou, strict=True):
                x0, y0, x1, y1 = q.target_boxes[t]
                x, y = q.anchors[a]
                assert x0 < x < x1 and y0 < y < y1  # centre inside its target (original pixels)
                weakest = q.assigned.iou[q.assigned.target == t]
                assert weakest.size == 0 or iou >= weakest.min() - 1e-5


def test_overlooked_counts_are_summed_per_target_and_group():
    q = _query([[0, 0, 10, 10], [0, 0, 50, 50]], [0, 1], assigned_to=[0, 1, 1])
    q = dataclasses.replace(
        q,
        overlooked=Overlooked(
            np.array([7, 8, 9]),
            np.array([1, 1, 0]),
            np.full(3, 0.8, np.float32),
            np.array([0.1, 0.3, 0.2], np.float32),
            np.full(3, 0.01, np.float32),
        ),
    )
    rows = query_coverage(q, ["cat", "dog"])
    assert [r.overlooked for r in rows] == [1, 2]
    assert rows[1].overlooked_score == pytest.approx(0.2)
    summary = summarize_coverage(rows)
    assert (summary.targets.overlooked_anchors, summary.targets.with_overlooked) == (3, 2)
    assert coverage_dict(summary)["targets"]["by_class"]["dog"]["overlooked_anchors"] == 2
    # an adapter that does not report them: null, not 0
    plain = summarize_coverage(query_coverage(dataclasses.replace(q, overlooked=None), ["cat", "dog"]))
    assert plain.targets.overlooked_anchors is None
