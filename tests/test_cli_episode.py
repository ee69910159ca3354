"""`python -m inspector episode` through a real subprocess: one JSON object with the promised keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inspector.checkpoint import save_checkpoint
from inspector.cli import main
from inspector.data.shapes import CLASSES, write_coco_dataset
from inspector.model import ModelConfig, create_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("cli_episode")
    torch.manual_seed(0)
    ckpt = save_checkpoint(root / "m.pt", create_model(ModelConfig()), ModelConfig(), class_names=list(CLASSES))
    write_coco_dataset(root / "data", 20, seed=0)
    return {"ckpt": ckpt, "data": root / "data"}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inspector", "episode", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_json_has_the_promised_keys(files: dict) -> None:
    proc = _run("--checkpoint", str(files["ckpt"]), "--data", str(files["data"]), "--index", "3", "--n-way", "2",
                "--k-shot", "1", "--n-query", "2", "--seed", "5", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # exactly one JSON object
    assert out["index"] == 3 and len(out["class_names"]) == 2 and len(out["queries"]) == 2
    q = out["queries"][0]
    for key in ("pred_boxes", "scores", "labels", "target_boxes", "anchors", "assigned"):
        assert key in q, key
    assert all(len(b) == 4 for b in q["pred_boxes"]) and len(q["scores"]) == len(q["pred_boxes"])
    assert {len(a) for a in q["anchors"]} == {3} and {a[2] for a in q["anchors"]} == {8.0, 16.0, 32.0}
    anchor, record = next(iter(q["assigned"].items()))
    assert int(anchor) < len(q["anchors"]) and set(record) == {"target", "align_metric", "iou"}
    assert set(out["losses"]["raw"]) == set(out["losses"]["weighted"]) == {"cls", "bbox", "supcon", "cpe"}
    assert set(out["gradient_norms"]) == set(out["losses"]["raw"])
    assert out["format_doctor"]["mismatch"] is False and out["unavailable"] == []


def test_summary_and_errors_in_process(files: dict, tmp_path: Path, capsys) -> None:
    # the same main() the subprocess runs, in-process: starting Python + torch three more times costs seconds
    assert main(["episode", "--checkpoint", str(files["ckpt"]), "--data", str(files["data"]), "--no-gradients"]) == 0
    out = capsys.readouterr().out
    assert "episode 0" in out and "loss bbox" in out and "‖∇backbone‖" not in out
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    assert main(["episode", "--checkpoint", str(tmp_path / "notes.pt"), "--data", str(files["data"])]) == 2
    assert "not a PyTorch checkpoint" in capsys.readouterr().err
    assert main(["episode", "--checkpoint", str(files["ckpt"]), "--data", str(files["data"]),
                 "--adapter", "nope:make"]) == 2
    assert "cannot import the adapter module 'nope'" in capsys.readouterr().err
