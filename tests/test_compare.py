"""inspector/compare.py and pages/3_Compare.py: COCO AP equal to pycocotools, the paired bootstrap, per-target
changes, and the page on the demo's two runs."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from inspector.batch.stored import summary_path
from inspector.compare import (
    SUMMARY_ROWS,
    bootstrap_delta_map,
    coco_matches,
    compare_targets,
    episode_metrics,
    summary_delta_table,
    weighted_map,
)
from inspector.evaluate import coco_map, match_query, pycocotools_map, st_iou
from inspector.results import ClipResult, EpisodeResult, QueryResult
from inspector.ui.episode_views import demo_checkpoints

REPO = Path(__file__).resolve().parents[1]


def _random_records(seed: int, n: int = 40, classes: int = 4) -> list[tuple]:
    """Images with jittered copies of their targets as predictions, some missed, some spurious."""
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(n):
        g = int(rng.integers(0, 4))
        xy = rng.uniform(0, 200, (g, 2))
        gt = np.concatenate([xy, xy + rng.uniform(10, 80, (g, 2))], 1).astype(np.float32)
        gl = rng.integers(0, classes, g)
        keep = rng.random(g) < 0.8
        pred = gt[keep] + rng.normal(0, 6, (int(keep.sum()), 4)).astype(np.float32)
        # Valid boxes only: COCO ignores an unmatched inverted box (negative area) — a case we do not mirror.
        pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
        extra = int(rng.integers(0, 3))
        exy = rng.uniform(0, 200, (extra, 2))
        pred = np.concatenate([pred, np.concatenate([exy, exy + 30], 1)]).astype(np.float32)
        pl = np.concatenate([gl[keep], rng.integers(0, classes, extra)])
        scores = rng.random(len(pred)).astype(np.float32)
        records.append((gt, gl, pred, scores, pl))
    return records


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unit_weights_equal_pycocotools_exactly(seed):
    records = _random_records(seed)
    direct, _ = pycocotools_map(records)
    m50, m95, per_class = weighted_map(coco_matches(records), np.ones((1, len(records))))
    assert m50[0] == direct.map50 and m95[0] == direct.map50_95
    classes = coco_matches(records).classes
    assert {int(c): float(per_class[0, k]) for k, c in enumerate(classes)} == pytest.approx(direct.per_class)


def test_double_weight_equals_pycocotools_on_duplicated_images():
    records = _random_records(5, n=12)
    weights = np.array([[2] + [1] * 11], float)
    m50, m95, _ = weighted_map(coco_matches(records), weights)
    direct, _ = pycocotools_map([records[0]] + records)  # the duplicate first: tied scores keep their order
    assert m50[0] == pytest.approx(direct.map50, abs=1e-12) and m95[0] == pytest.approx(
        direct.map50_95, abs=1e-12
    )


def test_bootstrap_is_deterministic_and_contains_the_estimate():
    a, b = _random_records(3, n=60), _random_records(4, n=60)
    b = [
        (ga, la, pb, ps, pl) for (ga, la, *_), (_, _, pb, ps, pl) in zip(a, b, strict=True)
    ]  # same targets, other predictions
    episodes = np.repeat(np.arange(20), 3)
    ci50, ci95 = bootstrap_delta_map(a, b, episodes, resamples=300, seed=7)
    again = bootstrap_delta_map(a, b, episodes, resamples=300, seed=7)
    other = bootstrap_delta_map(a, b, episodes, resamples=300, seed=8)
    assert (ci50, ci95) == again and ci50 != other[0]
    assert ci50.delta == pytest.approx(coco_map(b).map50 - coco_map(a).map50, abs=1e-12)
    for ci in (ci50, ci95):
        assert ci.low <= ci.delta <= ci.high and ci.low < ci.high


def test_identical_checkpoints_have_a_zero_width_interval():
    a = _random_records(9, n=30)
    ci50, _ = bootstrap_delta_map(a, a, np.arange(30), resamples=100)
    assert ci50.delta == ci50.low == ci50.high == 0.0


def _query(pred: list, labels: list) -> QueryResult:
    targets = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], np.float32)
    p = np.asarray(pred, np.float32).reshape(-1, 4)
    return QueryResult(
        "q",
        (64, 64),
        p,
        np.linspace(0.9, 0.5, len(p)).astype(np.float32),
        np.asarray(labels, np.int64),
        targets,
        np.zeros(3, np.int64),
    )


def test_compare_targets_names_gains_and_losses():
    a = _query([[0, 0, 10, 10], [20, 20, 29, 30]], [0, 0])  # finds targets 0 and 1
    b = _query([[0, 0, 10, 9], [40, 40, 50, 50]], [0, 0])  # finds targets 0 and 2
    rows = compare_targets(match_query(a), match_query(b), a.target_labels)
    assert [r.change for r in rows] == ["kept", "lost", "gained"]
    assert rows[0].iou_a == 1.0 and rows[0].iou_b == pytest.approx(0.9)
    assert math.isnan(rows[1].iou_b) and math.isnan(rows[2].iou_a)
    strict = compare_targets(match_query(a, 0.95), match_query(b, 0.95), a.target_labels)
    assert [r.change for r in strict] == [
        "lost",
        "missed by both",
        "gained",
    ]  # B's 0.9 box is not a match at 0.95


def test_episode_metrics_score_clips_with_the_one_st_iou_and_its_gate():
    box = np.array([[0, 0, 10, 10]], np.float32)

    def frame(score):
        return QueryResult(
            "f", (32, 32), box, np.array([score], np.float32), np.array([0]), box, np.array([0])
        )

    clip = ClipResult("c", 0, (frame(0.9), frame(0.2)))  # both frames hold the target; frame 1 scores 0.2
    result = EpisodeResult(0, ("circle",), (), (clip,))
    assert episode_metrics(result)["ST-IoU"] == pytest.approx(
        0.5
    )  # default gate 0.3: frame 1 predicted empty
    assert episode_metrics(result, clip_score_threshold=0.1)["ST-IoU"] == pytest.approx(1.0)


def test_summary_delta_table_has_losses_and_classes():
    a = {
        "map50": 0.5,
        "map50_95": 0.3,
        "st_iou": math.nan,
        "per_class": {"circle": 0.4},
        "losses": {"raw": {"bbox": 1.0}, "weighted": {"bbox": 7.5}, "total": 9.0},
    }
    b = {**a, "map50": 0.6, "per_class": {"circle": 0.5, "star": 0.2}}
    table = summary_delta_table(a, b).set_index("metric")
    assert table.loc["mAP@0.5", "Δ (B − A)"] == pytest.approx(0.1)
    assert math.isnan(table.loc["AP@0.5 · star", "A"]) and table.loc["loss bbox (weighted)", "B"] == 7.5


def test_st_iou_hand_cases():
    box = np.array([0, 0, 10, 10], float)
    half = np.array([0, 0, 10, 5], float)
    assert st_iou([box, box], [box, box]) == 1.0
    assert st_iou([half, None], [box, box]) == pytest.approx(0.25)  # 0.5 in frame 0, frame 1 missed
    assert st_iou([box, box, None], [box, None, None]) == pytest.approx(0.5)  # a false alarm in frame 1
    assert st_iou([None], [box]) == 0.0 and math.isnan(st_iou([None], [None]))


@pytest.mark.slow
@pytest.mark.skipif(not demo_checkpoints(), reason="demo/ not built (python -m inspector demo)")
def test_compare_page_on_the_demo_runs(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(REPO / "pages" / "3_Compare.py"), default_timeout=300)
    at.session_state["cmp_tab"] = "Aggregate"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="A_demo").value == "troubled/best.pt"
    assert at.selectbox(key="B_demo").value == "fixed/best.pt"
    assert not at.get("image"), "the Episode tab's overlays are drawn only when it is open"
    tables = [d.value for d in at.dataframe if "metric" in d.value.columns]
    aggregate = next(t.set_index("metric") for t in tables if "mAP@0.5:0.95" in set(t["metric"]))
    assert {"mAP@0.5", "mean IoU of TPs", "loss total", "positives per target"} <= set(aggregate.index)
    assert list(aggregate.columns) == ["better", "A", "B", "Δ (B − A), green = better"]
    assert np.isfinite(aggregate.loc["mAP@0.5", "A"]) and aggregate.loc["loss total", "better"] == "↓ lower"
    assert len(aggregate) > len(SUMMARY_ROWS) + 1  # every row: the per-class APs and the loss terms too
    # the demo's lesson: the fixed run (B) beats the troubled one (A), and the paired CI excludes 0
    gain = next(c.value for c in at.caption if c.value.startswith("Δ map50 ="))
    low, high = (float(x) for x in gain.split("CI [")[1].split("]")[0].split(", "))
    assert 0 < low <= high, gain
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 2
    at.session_state["cmp_tab"] = "Episode"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    first = at.subheader[0].value
    images = [img.url for el in at.get("image") for img in el.proto.imgs]
    assert len(images) >= 2 and len(images) % 2 == 0  # A and B side by side per query
    at.button(key="ep_next").click().run()
    assert (
        not at.exception and at.subheader[0].value != first and at.subheader[0].value.startswith("Episode 1")
    )


@pytest.mark.slow
@pytest.mark.skipif(not demo_checkpoints(), reason="demo/ not built (python -m inspector demo)")
def test_compare_page_scores_a_checkpoint_against_itself_as_no_change(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(REPO / "pages" / "3_Compare.py"), default_timeout=300)
    at.session_state["cmp_tab"] = "Aggregate"
    at.run()
    at.selectbox(key="B_demo").set_value("troubled/best.pt")
    at.number_input(key="cmp_episodes").set_value(5).run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    gain = next(c.value for c in at.caption if c.value.startswith("Δ map50 ="))
    assert gain.startswith("Δ map50 = +0.0000, 95% CI [+0.0000, +0.0000]"), gain
    cached = list((tmp_path / "cache").glob("*.parquet"))  # A and B over 100 episodes, then A = B over 5
    assert len(cached) == 3 and all(summary_path(p).is_file() for p in cached)


def _wait_for(done, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.skipif(not demo_checkpoints(), reason="demo/ not built (python -m inspector demo)")
def test_compare_page_evaluates_the_aggregate_ahead_in_the_worker_while_another_tab_is_shown(
    tmp_path, monkeypatch
):
    from streamlit.testing.v1 import AppTest

    from inspector.ui import pair_jobs as pairs

    started: list[bool] = []  # each job started: prefetched or not
    here: list[int] = []  # sides evaluated on the page's pair thread
    looked: list[int] = []  # what is left to run, found (hashing both checkpoints)
    start, evaluate_here, sides = pairs._start_pair, pairs._evaluate_here, pairs._sides

    def counted(*args, prefetch=False):
        started.append(prefetch)
        return start(*args, prefetch=prefetch)

    def counted_here(*args):
        here.append(1)
        return evaluate_here(*args)

    def counted_sides(*args):
        looked.append(1)
        return sides(*args)

    monkeypatch.setattr(pairs, "_start_pair", counted)
    monkeypatch.setattr(pairs, "_evaluate_here", counted_here)
    monkeypatch.setattr(pairs, "_sides", counted_sides)
    monkeypatch.setenv("INSPECTOR_EVALUATE_AHEAD", "1")  # the default, off for the other tests (conftest)
    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(REPO / "pages" / "3_Compare.py"), default_timeout=300)
    at.session_state["cmp_episodes"] = 3
    at.run()  # the Episode tab, the default
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert at.subheader[0].value.startswith("Episode 0")
    episode = next(d.value for d in at.dataframe if "metric" in d.value.columns).set_index("metric")
    assert episode.loc["FP", "better"] == "↓ lower" and episode.loc["AP@0.5", "better"] == "↑ higher"
    assert not any("Over 3 episodes" in m.value for m in at.markdown)  # not drawn on this tab
    assert started == [True]  # but evaluated ahead, in the worker, one side after the other
    _wait_for(lambda: len(list((tmp_path / "cache").glob("*.parquet"))) == 2 and not pairs.evaluating())
    assert here == []
    n_looked = len(looked)
    at.run()  # a rerun of the tab: the pair was looked at already, its checkpoints are not hashed again
    assert not at.exception and len(looked) == n_looked and started == [True]
    at.session_state["cmp_tab"] = "Aggregate"
    at.run()  # finds the job done
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert any("Over 3 episodes" in m.value for m in at.markdown)
    assert started == [True] and here == []
    # opened before the worker came to the second side, the pair's thread takes that side (PairJob.hurry)
    at.session_state["cmp_tab"] = "Episode"
    at.number_input(key="cmp_episodes").set_value(40).run()  # the input is kept on another tab
    assert at.number_input(key="cmp_episodes").value == 40 and started == [True, True]
    at.session_state["cmp_tab"] = "Aggregate"
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert any("Over 40 episodes" in m.value for m in at.markdown) and started == [True, True]
    assert here == [1] and len(list((tmp_path / "cache").glob("*.parquet"))) == 4


@pytest.mark.slow
@pytest.mark.skipif(not demo_checkpoints(), reason="demo/ not built (python -m inspector demo)")
def test_compare_page_evaluates_nothing_ahead_while_anything_is_evaluated(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from inspector.ui import pair_jobs as pairs

    monkeypatch.setattr(pairs, "evaluating", lambda: True)  # another session's evaluation runs
    monkeypatch.setenv("INSPECTOR_EVALUATE_AHEAD", "1")
    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(REPO / "pages" / "3_Compare.py"), default_timeout=300)
    at.session_state["cmp_episodes"] = 3
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    time.sleep(1.0)
    assert not list((tmp_path / "cache").glob("*.parquet"))
    at.session_state["cmp_tab"] = "Aggregate"
    at.run()  # asked for: evaluated whatever else runs
    assert any("Over 3 episodes" in m.value for m in at.markdown)


def test_a_deferred_side_starts_once_where_it_is_first_asked_to(monkeypatch):
    from concurrent.futures import Future

    from inspector.ui import pair_jobs
    from inspector.ui.pair_jobs import _Deferred

    ways: list[str] = []
    worker, thread = Future(), Future()

    def way(name, future, done):
        return lambda: (ways.append(name), (future, lambda: done))[1]

    side = _Deferred(way("worker", worker, 7), way("thread", thread, 3))
    assert side.done() == 0 and not side.result.done()
    side.start(in_worker=False)  # the Aggregate tab opened first
    side.start(in_worker=True)  # then the worker finished the other side: too late
    assert ways == ["thread"] and side.done() == 3
    thread.set_result("rows")
    assert side.result.result() == "rows"
    failing = _Deferred(way("worker", Future(), 0), way("thread", Future(), 0))
    monkeypatch.setattr(pair_jobs, "evaluating", lambda: False)
    failing.after(worker)  # the worker finished the pair's other side, and nothing else is evaluated
    assert ways[-1] == "worker"
    failing._started[0].set_exception(ValueError("the worker died"))
    with pytest.raises(ValueError, match="the worker died"):
        failing.result.result()
    # something asked for is being evaluated: the worker does not take the side; opening the tab starts it
    waiting = _Deferred(way("worker", Future(), 0), way("thread", Future(), 0))
    monkeypatch.setattr(pair_jobs, "evaluating", lambda: True)
    waiting.after(worker)
    assert waiting.done() == 0 and ways[-1] == "worker"
    waiting.start(in_worker=False)
    assert ways[-1] == "thread"


def test_one_torch_thread_is_restored_when_the_last_overlapping_evaluation_ends():
    import torch

    from inspector.ui.torch_threads import one_torch_thread

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        a, b = one_torch_thread(), one_torch_thread()
        a.__enter__()
        b.__enter__()  # A's and B's evaluations overlap (on two threads in the app)
        a.__exit__(None, None, None)
        assert torch.get_num_threads() == 1  # B still runs
        b.__exit__(None, None, None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not demo_checkpoints(), reason="demo/ not built (python -m inspector demo)")
def test_the_overlays_are_drawn_once_and_again_when_the_view_changes(tmp_path, monkeypatch):
    """A rerun shows the kept PNGs (drawing and encoding were 45% of the Episode tab's rerun); a new IoU
    threshold redraws them, and the images shown are those drawn."""
    from streamlit.testing.v1 import AppTest

    from inspector.ui import overlay_views

    drawn: list[int] = []
    png = overlay_views.png

    def counted(image):
        drawn.append(1)
        return png(image)

    monkeypatch.setattr(overlay_views, "png", counted)
    overlay_views._page_png.clear()  # what an earlier test of this process kept
    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(REPO / "pages" / "3_Compare.py"), default_timeout=300)
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    shown = len([img for el in at.get("image") for img in el.proto.imgs])
    assert shown >= 2 and len(drawn) == shown
    at.run()
    assert len(drawn) == shown  # kept
    at.slider(key="match_iou").set_value(0.7).run()
    assert not at.exception and len(drawn) == 2 * shown  # another view: drawn again
