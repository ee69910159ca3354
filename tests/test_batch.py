"""inspector/batch/ and the evaluate / evaluate-merge commands: exact shard merges, refusals, the cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from tiny_model import save_tiny

from inspector.adapters import load_detector
from inspector.batch import (
    SUMMARY_VERSION,
    EpisodePlan,
    EvalSettings,
    Shard,
    cache_dir,
    cached_summary,
    evaluate_batch,
    image_records,
    merge_results,
    read_result,
    run_meta,
    summarize,
    write_result,
)
from inspector.batch.stored import summary_path
from inspector.data import read_dataset
from inspector.data.shapes import write_coco_dataset, write_video_samples
from inspector.errors import InspectorError
from inspector.evaluate import coco_map
from inspector.results import EpisodeResult, QueryResult

REPO = Path(__file__).resolve().parents[1]
METRICS = (
    "map50",
    "map50_95",
    "st_iou",
    "per_class",
    "episodes",
    "images",
    "clips",
    "tp",
    "fp",
    "fn",
    "mean_iou_tp",
    "positives_per_target",
    "losses",
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    write_coco_dataset(root / "val", 20, seed=3)
    write_video_samples(root / "clips", 2, seed=3)
    save_tiny(root / "tiny.pt", seed=1)
    return root


@pytest.fixture(scope="module")
def setup(files):
    data, clips = read_dataset(files / "val"), read_dataset(files / "clips")
    s = EvalSettings(episodes=6, seed=2, n_way=2, k_shot=2, n_query=2)
    plan = EpisodePlan(data, clips, s)
    meta = run_meta(files / "tiny.pt", "reference", data, clips, s, data.class_names, plan.total)
    return load_detector(files / "tiny.pt"), plan, meta


def _metrics(summary: dict) -> str:
    return json.dumps({k: summary[k] for k in METRICS}, sort_keys=True)  # nan compares equal as text


def test_plan_covers_image_episodes_then_clips(setup):
    _, plan, _ = setup
    assert plan.total == 6 + 2
    assert plan.episode(7).clips and not plan.episode(7).queries and plan.episode(0).queries
    assert Shard(1, 3).positions(plan.total) == [1, 4, 7]


def test_shard_parse_refuses_bad_text():
    assert Shard.parse("2/8") == Shard(2, 8)
    for bad in ("8/8", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(InspectorError, match="--shard"):
            Shard.parse(bad)


def test_map_equals_pycocotools_on_the_stored_rows(setup, tmp_path):
    detector, plan, meta = setup
    result = evaluate_batch(detector, plan, meta)
    back = read_result(write_result(result, tmp_path / "r.parquet"))
    direct = coco_map(image_records(back.rows))
    summary = summarize(back)
    assert summary["map50"] == direct.map50 and summary["map50_95"] == direct.map50_95
    assert summary["episodes"] == 8 and summary["images"] == 12 and summary["clips"] == 2
    assert (summary["image_episodes"], summary["clip_episodes"], summary["clips_without_result"]) == (6, 2, 0)
    assert summary["warnings"] == []
    assert summary["losses"]["raw"] and np.isfinite(summary["losses"]["total"])


class ImagesOnly:
    """A user adapter that predicts each query's targets and ignores clips (returns no ClipResult)."""

    name, class_names = "images-only", ()

    def predict(self, episode, score_threshold=None, nms_iou=None):
        queries = tuple(
            QueryResult(
                q.image_id,
                q.size,
                q.boxes,
                np.full(len(q.boxes), 0.9, np.float32),
                q.labels,
                q.boxes,
                q.labels,
            )
            for q in episode.queries
        )
        return EpisodeResult(episode.index, episode.class_names, queries)


def test_clips_without_results_are_counted_and_warned_about_never_scored(setup):
    _, plan, meta = setup
    summary = summarize(evaluate_batch(ImagesOnly(), plan, meta))
    assert summary["map50"] == 1.0  # the images were scored
    assert (summary["clips"], summary["clips_without_result"], summary["clip_episodes"]) == (0, 2, 2)
    assert np.isnan(summary["st_iou"])  # not 0: nothing was measured, and the warning says so
    assert len(summary["warnings"]) == 1 and "no clip result for 2 of the 2 clips" in summary["warnings"][0]
    assert "ST-IoU is not measured" in summary["warnings"][0]


def test_sharded_then_merged_equals_unsharded(setup):
    detector, plan, meta = setup
    whole = evaluate_batch(detector, plan, meta)
    shards = [evaluate_batch(detector, plan, meta, Shard(i, 3)) for i in (2, 0, 1)]
    merged = merge_results(shards)
    assert _metrics(summarize(merged)) == _metrics(summarize(whole))
    assert merged.rows["position"].tolist() == whole.rows["position"].tolist()


def test_merge_refuses_missing_duplicate_and_mismatched_shards(setup, files):
    detector, plan, meta = setup
    a, b = (evaluate_batch(detector, plan, meta, Shard(i, 2)) for i in (0, 1))
    with pytest.raises(InspectorError, match="missing"):
        merge_results([a])
    with pytest.raises(InspectorError, match="both"):
        merge_results([a, a, b], ["s0", "s0-again", "s1"])
    other = evaluate_batch(detector, plan, {**meta, "checkpoint_sha256": "0" * 64}, Shard(1, 2))
    with pytest.raises(InspectorError, match="checkpoint_sha256 differs"):
        merge_results([a, other], ["s0", "s1"])


def test_cache_hit_returns_identical_rows_without_running(setup, tmp_path, monkeypatch):
    detector, plan, meta = setup
    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path / "cache"))
    first = evaluate_batch(detector, plan, meta, Shard(0, 4), cache=True)
    assert len(list(cache_dir().glob("*.parquet"))) == 1

    class Exploding:  # a cache hit must not touch the detector at all
        name, class_names = "boom", ()

        def predict(self, *a, **k):
            raise AssertionError("the detector ran on a cache hit")

    again = evaluate_batch(Exploding(), plan, meta, Shard(0, 4), cache=True)
    assert pa.Table.from_pandas(again.rows).equals(pa.Table.from_pandas(first.rows)) and "cache" in again.meta
    assert _metrics(summarize(again)) == _metrics(summarize(first))


def test_a_cached_results_summary_is_kept_beside_it_and_read_back(
    setup: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector, plan, meta = setup
    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path / "cache"))
    result = evaluate_batch(detector, plan, meta, Shard(1, 4), cache=True)
    stored = summary_path(result.meta["cache"])
    assert stored.parent == cache_dir() and not stored.exists()
    fresh = cached_summary(result)
    assert stored.is_file() and _metrics(fresh) == _metrics(summarize(result))
    again = cached_summary(evaluate_batch(detector, plan, meta, Shard(1, 4), cache=True))  # a cache hit
    assert _metrics(again) == _metrics(fresh) and again["format_doctor"] == fresh["format_doctor"]
    assert again["pr_curves"] == fresh["pr_curves"] and again["confusion"] == fresh["confusion"]
    # read from the file, not recomputed: what the file says comes back
    text = stored.read_text()
    stored.write_text(text.replace('"episodes": 2', '"episodes": 99'))
    assert cached_summary(result)["episodes"] == 99
    # a summary of another file (the result written again) or another version is recomputed and replaced
    write_result(result, result.meta["cache"])
    assert cached_summary(result)["episodes"] == 2 and '"episodes": 99' not in stored.read_text()
    stored.write_text(text.replace(f'"version": {SUMMARY_VERSION}', '"version": 0'))
    assert cached_summary(result)["episodes"] == 2
    stored.write_text("{not json")
    assert cached_summary(result)["episodes"] == 2
    # a result that did not come through the cache is summarised afresh, nothing written
    assert _metrics(cached_summary(evaluate_batch(detector, plan, meta, Shard(2, 4)))) == _metrics(
        summarize(evaluate_batch(detector, plan, meta, Shard(2, 4)))
    )


def test_read_result_names_a_foreign_file(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_text("nope")
    with pytest.raises(InspectorError, match="x.parquet"):
        read_result(path)


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *argv], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_cli_shards_merge_to_the_unsharded_json(files, tmp_path):
    common = [
        "--checkpoint",
        str(files / "tiny.pt"),
        "--data",
        str(files / "val"),
        "--clips",
        str(files / "clips"),
        "--episodes",
        "5",
        "--seed",
        "4",
        "--threads",
        "1",
        "--json",
    ]
    whole = _cli("evaluate", *common)
    assert whole.returncode == 0, whole.stderr
    outs = []
    for i in range(3):
        out = tmp_path / f"s{i}.parquet"
        r = _cli("evaluate", *common, "--shard", f"{i}/3", "--out", str(out))
        assert r.returncode == 0, r.stderr
        outs.append(str(out))
    assert Path(outs[0] + ".summary.json").is_file()
    merged = _cli("evaluate-merge", *outs, "--json")
    assert merged.returncode == 0, merged.stderr
    a, b = json.loads(whole.stdout), json.loads(merged.stdout)
    assert {"map50", "map50_95", "st_iou", "per_class", "episodes"} <= set(b)
    assert _metrics(a) == _metrics(b) and b["episodes"] == 5 + 2
    missing = _cli("evaluate-merge", *outs[:2])
    assert (
        missing.returncode == 2
        and "missing" in missing.stderr
        and len(missing.stderr.strip().splitlines()) == 1
    )


class Swapping:
    """A user adapter that finds every target, calls every other one by the episode's other way, and adds one
    box where nothing is: class confusions, background false positives and misses (at a score gate)."""

    name, class_names = "swapping", ()

    def predict(self, episode, score_threshold=None, nms_iou=None):
        queries = []
        for q in episode.queries:
            n = len(q.boxes)
            labels = np.asarray(q.labels, np.int64).copy()
            labels[1::2] = (labels[1::2] + 1) % len(episode.class_names)
            boxes = np.concatenate([np.asarray(q.boxes, np.float32).reshape(-1, 4), [[0, 0, 3, 3]]])
            scores = np.linspace(0.9, 0.3, n + 1).astype(np.float32)
            queries.append(
                QueryResult(q.image_id, q.size, boxes, scores, np.append(labels, 0), q.boxes, q.labels)
            )
        return EpisodeResult(episode.index, episode.class_names, tuple(queries))


def test_summary_adds_pr_curves_and_confusion_from_one_cocoeval_run(setup, monkeypatch):
    from pycocotools.cocoeval import COCOeval

    import inspector.evaluate as evaluate_module

    _, plan, meta = setup
    result = evaluate_batch(Swapping(), plan, meta)
    runs, coco_runs = [], []
    real, real_coco = evaluate_module.accumulate, COCOeval.evaluate
    monkeypatch.setattr(evaluate_module, "accumulate", lambda *a: runs.append(1) or real(*a))
    monkeypatch.setattr(COCOeval, "evaluate", lambda self: coco_runs.append(1) or real_coco(self))
    summary = summarize(result)
    # map50, per-class AP and the PR curves come from the same accumulation (inspector.coco, not pycocotools)
    assert len(runs) == 1 and not coco_runs
    want, _ = evaluate_module.pycocotools_map(image_records(result.rows))
    assert (summary["map50"], summary["map50_95"]) == (want.map50, want.map50_95)  # its numbers, to the bit
    names = meta["class_names"]
    curves = summary["pr_curves"]
    assert (curves["iou_threshold"], curves["area"], curves["max_dets"]) == (0.5, "all", 100)
    assert len(curves["recall"]) == 101 and set(curves["classes"]) == set(summary["per_class"])
    for name, curve in curves["classes"].items():
        assert np.mean(curve["precision"]) == pytest.approx(summary["per_class"][name], abs=1e-12)
    confusion = summary["confusion"]
    assert confusion["labels"] == [*names, "background"] and confusion["score_threshold"] is None
    matrix = np.asarray(confusion["matrix"])
    n = len(names)
    assert matrix.shape == (n + 1, n + 1) and matrix.dtype.kind == "i"
    assert np.trace(matrix[:n, :n]) == summary["tp"] > 0
    assert matrix[:n, :n].sum() > summary["tp"]  # the swapped targets are confusions, off the diagonal
    assert matrix[:n].sum() == summary["tp"] + summary["fn"]  # every object once
    assert matrix[:, :n].sum() == summary["tp"] + summary["fp"]  # every prediction once
    assert matrix[n, :n].sum() == summary["images"]  # one box where nothing is, per image
    gated = np.asarray(summarize(result, confusion_score_threshold=0.85)["confusion"]["matrix"])
    assert gated[:, :n].sum() < matrix[:, :n].sum() and gated[:n, n].sum() > matrix[:n, n].sum()


def test_evaluate_text_prints_pr_points_and_the_confusion_matrix(setup, capsys):
    from inspector.cli import main
    from inspector.cli.evaluate import confusion_lines, print_summary, summary_json

    _, plan, meta = setup
    result = evaluate_batch(Swapping(), plan, meta)
    print_summary(summary_json(summarize(result), {**result.meta, "checkpoint_sha256": "0" * 64}))
    text = capsys.readouterr().out
    assert "precision at recall .25/.50/.75" in text and " · P " in text and " · R " in text
    assert "confusion @ IoU 0.5, all kept predictions, rows true, columns predicted" in text
    assert "background false positives" in text and " bg " in text
    # many classes: the largest confusions instead of a matrix too wide for a terminal
    n = 12
    counts = np.diag([1] * n + [0])  # every class found once: all 12 occur
    counts[0, 1], counts[2, 3], counts[n, 0] = 5, 2, 7
    lines = confusion_lines(
        {
            "iou_threshold": 0.5,
            "score_threshold": 0.25,
            "labels": [f"c{i}" for i in range(n)] + ["background"],
            "matrix": counts.tolist(),
        }
    )
    assert "predictions scoring ≥ 0.25" in lines[0] and "7 background false positives" in lines[0]
    assert lines[1].strip() == "largest confusions (true→predicted): c0→c1 5, c2→c3 2"
    assert main(["evaluate", "--checkpoint", "x.pt", "--data", "y", "--confusion-score-threshold", "2"]) == 2
    assert "--confusion-score-threshold" in capsys.readouterr().err
