"""`python -m inspector episode` through a real subprocess: one JSON object with the promised keys, and
the same ST-IoU for a clip as `python -m inspector evaluate`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inspector.batch import read_result
from inspector.checkpoint import save_checkpoint
from inspector.cli import main
from inspector.data.shapes import CLASSES, write_coco_dataset
from inspector.evaluate import CLIP_SCORE_THRESHOLD
from inspector.model import ModelConfig, create_model
from inspector.paths import DEMO_DIR

REPO = Path(__file__).resolve().parents[1]
DEMO_CHECKPOINTS = sorted((DEMO_DIR / "runs").glob("*/best.pt"))
DEMO_CLIPS = DEMO_DIR / "data" / "clips"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("cli_episode")
    torch.manual_seed(0)
    ckpt = save_checkpoint(
        root / "m.pt", create_model(ModelConfig()), ModelConfig(), class_names=list(CLASSES)
    )
    write_coco_dataset(root / "data", 20, seed=0)
    return {"ckpt": ckpt, "data": root / "data"}


def _run(*args: str, command: str = "episode") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", command, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_json_has_the_promised_keys(files: dict) -> None:
    proc = _run(
        "--checkpoint",
        str(files["ckpt"]),
        "--data",
        str(files["data"]),
        "--index",
        "3",
        "--n-way",
        "2",
        "--k-shot",
        "1",
        "--n-query",
        "2",
        "--seed",
        "5",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # exactly one JSON object
    assert out["index"] == 3 and len(out["class_names"]) == 2 and len(out["queries"]) == 2
    q = out["queries"][0]
    for key in ("pred_boxes", "scores", "labels", "target_boxes", "anchors", "assigned"):
        assert key in q, key
    assert all(len(b) == 4 for b in q["pred_boxes"]) and len(q["scores"]) == len(q["pred_boxes"])
    assert {len(a) for a in q["anchors"]} == {3} and {a[2] for a in q["anchors"]} == {8.0, 16.0, 32.0}
    anchor, record = next(iter(q["assigned"].items()))
    assert int(anchor) < len(q["anchors"]) and set(record) == {"target", "align_metric", "iou", "pred_box"}
    assert len(record["pred_box"]) == 4
    assert (out["n_way"], out["k_shot"], out["n_query"], out["seed"]) == (2, 1, 2, 5)
    assert out["clip_score_threshold"] == CLIP_SCORE_THRESHOLD and out["st_iou"] == []
    assert set(out["losses"]["raw"]) == set(out["losses"]["weighted"]) == {"cls", "bbox", "supcon", "cpe"}
    assert set(out["gradient_norms"]) == set(out["losses"]["raw"])
    assert out["format_doctor"]["mismatch"] is False and out["unavailable"] == []


def test_summary_and_errors_in_process(files: dict, tmp_path: Path, capsys) -> None:
    # the same main() the subprocess runs, in-process: starting Python + torch three more times costs seconds
    assert (
        main(["episode", "--checkpoint", str(files["ckpt"]), "--data", str(files["data"]), "--no-gradients"])
        == 0
    )
    out = capsys.readouterr().out
    assert "episode 0" in out and "loss bbox" in out and "‖∇backbone‖" not in out
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    assert main(["episode", "--checkpoint", str(tmp_path / "notes.pt"), "--data", str(files["data"])]) == 2
    assert "not a PyTorch checkpoint" in capsys.readouterr().err
    assert (
        main(
            [
                "episode",
                "--checkpoint",
                str(files["ckpt"]),
                "--data",
                str(files["data"]),
                "--adapter",
                "nope:make",
            ]
        )
        == 2
    )
    assert "cannot import the adapter module 'nope'" in capsys.readouterr().err


@pytest.mark.skipif(not DEMO_CHECKPOINTS or not DEMO_CLIPS.is_dir(), reason="demo/ not built")
def test_episode_and_evaluate_give_the_same_st_iou_for_a_clip(tmp_path: Path) -> None:
    # The bundled demo finds few targets at the default gate (its logs show eval/st_iou 0.0), so both commands
    # get the model's own score floor as the gate: that also checks the option reaches both and is recorded.
    ckpt, gate = str(DEMO_CHECKPOINTS[-1]), "0.05"
    rows = tmp_path / "rows.parquet"
    ev = _run(
        "--checkpoint",
        ckpt,
        "--data",
        str(DEMO_CLIPS),
        "--clip-score-threshold",
        gate,
        "--out",
        str(rows),
        "--json",
        command="evaluate",
    )
    assert ev.returncode == 0, ev.stderr
    summary = json.loads(ev.stdout)
    assert summary["clip_score_threshold"] == 0.05 and summary["clip_episodes"] == summary["clips"] > 0
    clips = read_result(rows).rows
    assert (clips["kind"] == "clip").all()
    j = int(clips["st_iou"].to_numpy().argmax())
    assert (
        clips["st_iou"].iloc[j] > 0
    )  # a clip where the prediction overlaps the target, so equality means something
    ep = _run(
        "--checkpoint",
        ckpt,
        "--data",
        str(DEMO_CLIPS),
        "--index",
        str(j),
        "--clip-score-threshold",
        gate,
        "--no-gradients",
        "--json",
    )
    assert ep.returncode == 0, ep.stderr
    out = json.loads(ep.stdout)
    assert out["clip_score_threshold"] == 0.05 and [c["clip_id"] for c in out["clips"]] == [
        clips["image_id"].iloc[j]
    ]
    assert out["st_iou"] == [pytest.approx(clips["st_iou"].iloc[j], abs=1e-6)]  # torch threads may differ
    assert summary["st_iou"] == pytest.approx(float(clips["st_iou"].mean()), abs=1e-12)
