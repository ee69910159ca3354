"""`diagnose --follow` in a real subprocess while a writer appends: one JSON object per change, steps that
only grow, and a last object that equals `diagnose --json` of the finished log."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from inspector.runlog import RunWriter

REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "inspector", *args]


class Lines(threading.Thread):
    """A subprocess's stdout lines as they come, so the test writes only once the follower has polled."""

    def __init__(self, proc: subprocess.Popen) -> None:
        super().__init__(daemon=True)
        self.proc, self.lines, self.first = proc, [], threading.Event()

    def run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self.first.set()

    def wait_first(self) -> None:
        assert self.first.wait(60), "the follower printed nothing"


def test_follow_prints_one_json_object_per_change_until_idle(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    writer = RunWriter(path, config={"loss_weights": {"bbox": 7.5, "cls": 0.5}})
    writer.step(0, losses={"bbox": 1.0, "cls": 1.0}, lr=1e-3)
    writer.close()
    proc = subprocess.Popen(
        _cli("diagnose", str(path), "--follow", "--json", "--interval", "0.2", "--idle-exit", "3"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = Lines(proc)
    lines.start()
    try:
        lines.wait_first()
        for burst in range(4):
            with RunWriter(path) as log:
                for step in range(1 + 100 * burst, 1 + 100 * (burst + 1)):
                    log.step(step, losses={"bbox": 1 / step, "cls": 0.5}, lr=1e-3)
            time.sleep(0.8)
        proc.wait(timeout=60)
        lines.join(10)
    finally:
        proc.kill()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    records = [json.loads(line) for line in lines.lines if line.strip()]
    steps = [r["follow"]["last_step"] for r in records]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 400 and len(records) >= 3
    assert all(r["follow"]["incremental"] for r in records[1:])
    assert sum(r["follow"]["parsed_bytes"] for r in records) <= path.stat().st_size
    final = json.loads(
        subprocess.run(
            _cli("diagnose", str(path), "--json"), cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
    )
    last = records[-1]
    del last["follow"]
    assert last == final


def test_follow_markdown_prints_the_report_then_the_changes(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with RunWriter(path, config={"loss_weights": {"bbox": 7.5}}) as log:
        log.step(0, losses={"bbox": 1.0}, lr=1e-3)
    proc = subprocess.Popen(
        _cli("diagnose", str(path), "--follow", "--interval", "0.2", "--idle-exit", "2"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = Lines(proc)
    lines.start()
    lines.wait_first()
    with RunWriter(path) as log:
        for step in range(1, 50):
            log.step(step, losses={"bbox": 1.0}, lr=1e-3)
    proc.wait(timeout=60)
    lines.join(10)
    out = "".join(lines.lines)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert out.startswith(f"# {path} (inspector_jsonl, native) · last step 0, data")
    assert "last step 49, data" in out and "+49 step(s)" in out and "(appended bytes)" in out
