"""`python -m inspector diagnose` as a user runs it: a real subprocess on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_json_contract_on_ultralytics_sample(samples: Path):
    run = samples / "ultralytics_csv" / "yolov8n-ados-oldstyle"
    result = run_cli("diagnose", str(run / "results.csv"), str(run / "args.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"source", "format", "steps", "segments", "components", "findings", "warnings"}
    assert report["format"] == "ultralytics_csv" and report["steps"] == 100 and report["segments"] == 1
    box = next(c for c in report["components"] if c["metric"] == "train/box_loss")
    assert box["weight"] == 7.5 and box["logged"] == "weighted"
    for finding in report["findings"]:
        assert set(finding) >= {"id", "severity", "title", "evidence", "next_step"}


def test_weights_override_reaches_the_components(samples: Path):
    log = samples / "detectron2_metrics" / "frcnn-fruits-eval" / "metrics.json"
    result = run_cli("diagnose", str(log), "--weights", "loss_cls=2.0", "--json")
    assert result.returncode == 0, result.stderr
    weights = {c["name"]: c["weight"] for c in json.loads(result.stdout)["components"]}
    assert 2.0 in weights.values()


def test_markdown_report_by_default(samples: Path):
    log = samples / "text_log" / "mmdet2-maskrcnn-balloon" / "20230208_162410.log"
    result = run_cli("diagnose", str(log))
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith("#")
    assert "loss_cls" in result.stdout


def test_unreadable_input_is_one_line_and_nonzero(tmp_path: Path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 8)
    result = run_cli("diagnose", str(garbage))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(garbage) in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_weights_option_is_explained(samples: Path):
    log = samples / "detectron2_metrics" / "frcnn-fruits-eval" / "metrics.json"
    result = run_cli("diagnose", str(log), "--weights", "bbox=lots")
    assert result.returncode == 2 and "NAME=NUMBER" in result.stderr


def test_logged_override_reaches_the_components_and_names_the_contradiction(samples: Path):
    # Detectron2 logs its losses after their weights; saying loss_cls is raw with weight 2 is the user's call,
    # and the report says the logged total disagrees.
    log = samples / "detectron2_metrics" / "frcnn-fruits-eval" / "metrics.json"
    result = run_cli("diagnose", str(log), "--weights", "cls=2.0", "--logged", "cls=raw", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    cls = next(c for c in report["components"] if c["name"] == "cls")
    assert (cls["weight"], cls["weight_source"], cls["logged"], cls["logged_source"]) == (
        2.0,
        "override",
        "raw",
        "override",
    )
    assert any("you gave weight 2" in w for w in report["warnings"])


def test_bad_logged_option_is_explained(samples: Path):
    log = samples / "detectron2_metrics" / "frcnn-fruits-eval" / "metrics.json"
    result = run_cli("diagnose", str(log), "--logged", "cls=scaled")
    assert result.returncode == 2 and "NAME=raw or NAME=weighted" in result.stderr


def test_markdown_opens_with_start_here_and_names_commands(tmp_path: Path):
    # A native run whose mAP is 0 at every evaluation: the report starts with the triage and names the
    # command.
    import numpy as np

    from inspector.runlog import RunWriter

    path = tmp_path / "log.jsonl"
    rng = np.random.default_rng(0)
    with RunWriter(path, config={"loss_weights": {"bbox": 7.5, "cls": 0.5}}) as w:
        for s in range(600):
            w.step(s, {"bbox": 0.8 + 0.05 * rng.normal(), "cls": 1.0 * np.exp(-s / 200) + 0.1}, lr=1e-3)
            if s % 100 == 99:
                w.eval(s, {"map50": 0.0})
    result = run_cli("diagnose", str(path))
    assert result.returncode == 0, result.stderr
    body = result.stdout.split("\n", 2)[2]
    assert body.split("## Start here", 1)[0].strip().startswith("**600 steps")
    assert "1. **Targets, box format or anchor assignment**" in body
    assert "python -m inspector episode --checkpoint CKPT --data DATA" in body and "Loss curves" not in body
