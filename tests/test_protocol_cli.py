"""The few-shot protocol end to end on the demo's detectors: `evaluate --k-shot … --seeds …` cells equal
single evaluations, grid shards merge to the unsharded numbers, fingerprints refuse unfair merges and
comparisons, the base / novel split and its ways, and `compare`'s verdict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from inspector.checkpoint import save_checkpoint
from inspector.cli import main
from inspector.model import ModelConfig, create_model
from inspector.protocol.files import read_grid

DEMO = Path(__file__).resolve().parents[1] / "demo"
FIXED, TROUBLED = DEMO / "runs" / "fixed" / "best.pt", DEMO / "runs" / "troubled" / "best.pt"
VAL = DEMO / "data" / "val"
GRID = ("--k-shot", "1,2", "--seeds", "0-1", "--episodes", "4", "--threads", "1", "--resamples", "200")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path / "cache"))


def run_json(capsys, command: str, *argv: str) -> dict:
    assert main([command, *argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def evaluate_grid(capsys, ckpt: Path, *extra: str) -> dict:
    return run_json(capsys, "evaluate", "--checkpoint", str(ckpt), "--data", str(VAL), *GRID, *extra)


@pytest.fixture(scope="module")
def fixed_grid(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("grid") / "fixed.parquet"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        argv = [
            "evaluate",
            "--checkpoint",
            str(FIXED),
            "--data",
            str(VAL),
            *GRID,
            "--out",
            str(out),
            "--json",
        ]
        assert main(argv) == 0
    return json.loads(buf.getvalue()), out


def test_each_cell_equals_a_single_evaluate(capsys, fixed_grid):
    grid, _ = fixed_grid
    assert [(c["k_shot"], c["seed"]) for c in grid["cells"]] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    for cell in grid["cells"]:
        single = run_json(
            capsys,
            "evaluate",
            "--checkpoint",
            str(FIXED),
            "--data",
            str(VAL),
            "--k-shot",
            str(cell["k_shot"]),
            "--seed",
            str(cell["seed"]),
            "--episodes",
            "4",
            "--threads",
            "1",
        )
        assert (single["map50"], single["map50_95"]) == (cell["map50"], cell["map50_95"])
        assert single["episodes"] == cell["episodes"] == 4
        assert single["fingerprint"]["k_shots"] == [cell["k_shot"]]
    assert {c["map50"] for c in grid["cells"]} != {0.0}  # the demo's fixed run detects things


def test_summary_per_k_is_the_mean_and_t_interval_of_its_seeds(fixed_grid):
    from scipy import stats

    grid, _ = fixed_grid
    for s in grid["summary"]:
        values = [c["map50"] for c in grid["cells"] if c["k_shot"] == s["k_shot"]]
        m = s["metrics"]["map50"]
        half = stats.t.ppf(0.975, 1) * np.std(values, ddof=1) / np.sqrt(2)
        assert m["mean"] == pytest.approx(np.mean(values), abs=1e-15)
        assert m["ci"] == pytest.approx([np.mean(values) - half, np.mean(values) + half], abs=1e-12)
        low, high = m["ci_bootstrap"]
        assert low <= high and s["seeds"] == [0, 1] and s["episodes"] == 8
    fp = grid["fingerprint"]
    assert fp["k_shots"] == [1, 2] and fp["seeds"] == [0, 1] and fp["episodes"] == 4
    assert {
        "data_hash",
        "split",
        "ways_from",
        "n_way",
        "n_query",
        "score_threshold",
        "nms_iou",
        "tta",
    } <= set(fp)
    assert fp["inspector_version"]


def test_grid_shards_merge_to_the_unsharded_numbers(capsys, tmp_path, fixed_grid):
    whole, _ = fixed_grid
    for i in range(2):
        evaluate_grid(capsys, FIXED, "--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}.parquet"))
    merged = run_json(
        capsys,
        "evaluate-merge",
        str(tmp_path / "s0.parquet"),
        str(tmp_path / "s1.parquet"),
        "--resamples",
        "200",
    )
    assert merged["cells"] == whole["cells"]
    assert json.dumps(merged["summary"]) == json.dumps(whole["summary"])
    assert merged["protocol_differences"] == []


def test_merging_shards_of_different_protocols_is_refused_naming_the_difference(capsys, tmp_path):
    evaluate_grid(capsys, FIXED, "--shard", "0/2", "--out", str(tmp_path / "a.parquet"))
    evaluate_grid(capsys, FIXED, "--shard", "1/2", "--out", str(tmp_path / "b.parquet"), "--n-query", "3")
    files = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    assert main(["evaluate-merge", *files]) == 2
    err = capsys.readouterr().err
    assert "different protocols" in err and "n_query: 4 vs 3" in err and "--allow-protocol-diff" in err


def test_compare_gives_a_verdict_per_k(capsys, tmp_path, fixed_grid):
    _, fixed = fixed_grid
    evaluate_grid(capsys, TROUBLED, "--out", str(tmp_path / "troubled.parquet"))
    out = run_json(capsys, "compare", str(tmp_path / "troubled.parquet"), str(fixed), "--resamples", "200")
    assert out["metric"] == "map50" and [v["k_shot"] for v in out["verdicts"]] == [1, 2]
    for v in out["verdicts"]:
        assert v["method"] == "t over seeds" and v["seeds"] == 2 and v["episodes"] == 4
        low, high = v["ci"]
        assert low <= v["delta"] <= high
        assert v["distinguishable"] == (low > 0 or high < 0)
        assert (
            ("better" in v["sentence"] or "worse" in v["sentence"])
            if v["distinguishable"]
            else ("not distinguishable" in v["sentence"])
        )
    same = run_json(capsys, "compare", str(fixed), str(fixed))
    for v in same["verdicts"]:
        assert v["delta"] == 0.0 and not v["distinguishable"] and v["seeds_needed"] is None


def test_compare_refuses_a_protocol_difference_unless_allowed(capsys, tmp_path, fixed_grid):
    _, fixed = fixed_grid
    other = tmp_path / "other.parquet"
    evaluate_grid(capsys, TROUBLED, "--out", str(other), "--seeds", "0-2")
    assert main(["compare", str(other), str(fixed)]) == 2
    assert "seeds: [0, 1, 2] vs [0, 1]" in capsys.readouterr().err
    out = run_json(capsys, "compare", str(other), str(fixed), "--allow-protocol-diff")
    assert out["protocol_differences"] == ["seeds: [0, 1, 2] vs [0, 1]"]
    assert main(["compare", str(other), str(fixed), "--allow-protocol-diff"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("[PROTOCOL DIFFERS]") == 2  # on every number


def test_novel_ways_draw_only_novel_classes_and_report_nap(capsys, tmp_path):
    novel = ["circle", "square", "triangle"]
    out = evaluate_grid(
        capsys,
        FIXED,
        "--novel-classes",
        ",".join(novel),
        "--ways-from",
        "novel",
        "--out",
        str(tmp_path / "n.parquet"),
    )
    assert out["split"]["novel"] == novel and out["split"]["source"] == "--novel-classes"
    assert out["fingerprint"]["ways_from"] == "novel" and out["fingerprint"]["split"]["novel"] == novel
    grid = read_grid(tmp_path / "n.parquet")
    for c in grid.cells:
        labels = np.concatenate([np.asarray(g, np.int64) for g in c.result.rows["gt_labels"]])
        assert set(labels.tolist()) <= {0, 1, 2}  # the dataset ids of circle, square, triangle
    for cell in out["cells"]:
        assert np.isnan(cell["bap50"]) if isinstance(cell["bap50"], float) else cell["bap50"] is None
        assert cell["nap50"] == cell["map50"]  # every ground truth is novel: nAP50 is mAP@0.5


def test_all_ways_report_both_sides(capsys):
    out = evaluate_grid(capsys, FIXED, "--novel-classes", "circle,star")
    assert out["fingerprint"]["ways_from"] == "all"
    assert {"nap50", "nap", "bap50", "bap"} <= set(out["cells"][0])
    assert set(out["summary"][0]["metrics"]) >= {"nap50", "bap50"}
    assert out["summary"][0]["metrics"]["nap50"]["ci_bootstrap"] is not None
    assert out["summary"][0]["metrics"]["nap"]["ci_bootstrap"] is None  # the redraw gives AP@0.5 per class
    assert main(["evaluate", "--checkpoint", str(FIXED), "--data", str(VAL), "--ways-from", "base"]) == 2
    assert "needs a class split" in capsys.readouterr().err


def test_a_checkpoint_naming_its_classes_sets_the_default_split(capsys, tmp_path):
    tiny = ModelConfig(widths=(8, 16, 16, 24, 32), neck_dim=24, head_dim=16, embed_dim=16)
    torch.manual_seed(0)
    ckpt = save_checkpoint(
        tmp_path / "tiny.pt",
        create_model(tiny),
        tiny,
        half=True,
        train_config={"n_way": 2, "k_shot": 1, "n_query": 2, "base_classes": ["circle", "square"]},
    )
    out = run_json(
        capsys, "evaluate", "--checkpoint", str(ckpt), "--data", str(VAL), "--episodes", "2", "--threads", "1"
    )
    assert out["split"]["source"] == "the checkpoint's train config (base_classes)"
    assert "circle" in out["split"]["base"] and "star" in out["split"]["novel"]
    assert (
        main(["evaluate", "--checkpoint", str(ckpt), "--data", str(VAL), "--episodes", "2", "--threads", "1"])
        == 0
    )
    assert "split (the checkpoint's train config (base_classes))" in capsys.readouterr().out


def test_a_deliberate_protocol_difference_merges_and_marks_every_number(capsys, tmp_path):
    from dataclasses import replace

    from inspector.protocol.files import write_grid

    for i in range(2):
        evaluate_grid(capsys, FIXED, "--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}.parquet"))
    older = read_grid(tmp_path / "s1.parquet")
    stamp = {**older.fingerprint, "inspector_version": "0.0.9"}  # a shard run by another inspector version
    write_grid(replace(older, fingerprint=stamp), tmp_path / "s1.parquet")
    files = [str(tmp_path / "s0.parquet"), str(tmp_path / "s1.parquet")]
    assert main(["evaluate-merge", *files]) == 2
    assert "inspector_version" in capsys.readouterr().err
    out = run_json(capsys, "evaluate-merge", *files, "--allow-protocol-diff", "--resamples", "0")
    assert len(out["protocol_differences"]) == 1 and "0.0.9" in out["protocol_differences"][0]
    assert main(["evaluate-merge", *files, "--allow-protocol-diff", "--resamples", "0"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  1 ") or "±" in line]
    assert rows and all(line.endswith("[PROTOCOL DIFFERS]") for line in rows)


def test_st_iou_per_cell_where_clips_exist_and_why_it_does_not_move_with_the_seed(capsys):
    argv = [
        "evaluate",
        "--checkpoint",
        str(FIXED),
        "--data",
        str(VAL),
        "--clips",
        str(DEMO / "data" / "clips"),
    ]
    argv += ["--k-shot", "1", "--seeds", "0,1", "--episodes", "2", "--threads", "1", "--resamples", "0"]
    out = run_json(capsys, *argv)
    values = [c["st_iou"] for c in out["cells"]]
    assert all(0.0 <= v <= 1.0 for v in values) and out["cells"][0]["clips"] > 0
    assert out["summary"][0]["metrics"]["st_iou"]["std"] == 0.0  # clips' episodes do not depend on the seed
    assert main(argv) == 0
    assert "the seed does not change it" in capsys.readouterr().out
