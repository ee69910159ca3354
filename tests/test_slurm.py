"""scripts/slurm/: the Slurm array's own lines run locally, each SLURM_ARRAY_TASK_ID in turn, then its merge
script; the merged grid equals one unsharded `evaluate` of the same grid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SLURM = REPO / "scripts" / "slurm"
CKPT, VAL = REPO / "demo" / "runs" / "fixed" / "best.pt", REPO / "demo" / "data" / "val"
pytestmark = pytest.mark.skipif(not CKPT.is_file(), reason="demo/ not built (python -m inspector demo)")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHON": sys.executable,
        "CHECKPOINT": str(CKPT),
        "DATA": str(VAL),
        "OUT": str(tmp_path / "eval"),
        "SHARDS": "3",
        "GRID": "--k-shot 1,2 --seeds 0-1 --resamples 0",  # the shards' own summaries are not compared
        "EPISODES": "4",
        "INSPECTOR_CACHE_DIR": str(tmp_path / "cache"),
        **extra,
    }


def test_the_array_and_its_merge_give_the_unsharded_grid(tmp_path: Path) -> None:
    assert "#SBATCH --array=0-7" in (SLURM / "evaluate_array.sh").read_text()  # a real sbatch header
    for task in range(3):
        done = subprocess.run(
            ["bash", str(SLURM / "evaluate_array.sh")],
            env=_env(tmp_path, SLURM_ARRAY_TASK_ID=str(task)),
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "eval").glob("*.parquet")) == [
        f"shard{i}.parquet" for i in range(3)
    ]
    merged = subprocess.run(
        ["bash", str(SLURM / "merge.sh")], env=_env(tmp_path), cwd=REPO, capture_output=True
    )
    assert merged.returncode == 0, merged.stderr
    got = json.loads((tmp_path / "eval" / "summary.json").read_text())
    whole = subprocess.run(
        [sys.executable, "-m", "inspector", "evaluate", "--checkpoint", str(CKPT), "--data", str(VAL)]
        + ["--episodes", "4", "--k-shot", "1,2", "--seeds", "0-1", "--threads", "1", "--json"],
        env=_env(tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert whole.returncode == 0, whole.stderr
    want = json.loads(whole.stdout)
    assert json.dumps(got["cells"]) == json.dumps(want["cells"])  # as text: nan equals nan
    assert json.dumps(got["summary"]) == json.dumps(want["summary"])
    assert got["fingerprint"] == want["fingerprint"] and got["shard"] == "merged"


def test_a_missing_array_task_fails_the_merge_naming_it(tmp_path: Path) -> None:
    for task in (0, 2):  # task 1 never ran
        subprocess.run(
            ["bash", str(SLURM / "evaluate_array.sh")],
            env=_env(tmp_path, SLURM_ARRAY_TASK_ID=str(task), GRID="--k-shot 1 --seeds 0"),
            cwd=REPO,
            check=True,
            capture_output=True,
        )
    merged = subprocess.run(
        ["bash", str(SLURM / "merge.sh")], env=_env(tmp_path), cwd=REPO, capture_output=True, text=True
    )
    assert merged.returncode == 2 and "missing" in merged.stderr
