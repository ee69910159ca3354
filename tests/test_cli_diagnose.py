"""`python -m inspector diagnose` as a user runs it: a real subprocess on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inspector", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


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
