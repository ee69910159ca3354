"""Remote logs, run directories and checkpoints through the CLI, the Follower and the app, against a real
S3 API (moto's server mode on localhost, tests/s3_server.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_follow import assert_same_series
from tfevents_records import framed, scalar_event
from tiny_model import save_tiny

from inspector.live import Follower
from inspector.remote import Mirror
from inspector.runlog import RunWriter, read_logs

pytest_plugins = ["tests.s3_server"]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def remote_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "remote-cache"
    monkeypatch.setenv("INSPECTOR_REMOTE_CACHE", str(cache))
    return cache


def _native(path: Path, first: int, last: int) -> bytes:
    with RunWriter(path, config={"loss_weights": {"bbox": 7.5, "cls": 0.5}} if first == 0 else None) as log:
        for step in range(first, last):
            log.step(step, losses={"bbox": 1 / (step + 1), "cls": 0.5}, lr=1e-3)
            if step % 100 == 99:
                log.eval(step, {"map50": step / 1000})
    return path.read_bytes()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )


def test_diagnose_reads_an_s3_log_and_names_it_by_its_url(s3_bucket, tmp_path: Path) -> None:
    local = tmp_path / "log.jsonl"
    s3_bucket.put("exp1/log.jsonl", _native(local, 0, 500))
    url = s3_bucket.url("exp1/log.jsonl")
    done = _cli("diagnose", url, "--json")
    assert done.returncode == 0, done.stderr
    remote = json.loads(done.stdout)
    here = json.loads(_cli("diagnose", str(local), "--json").stdout)
    assert remote["source"] == url and remote["steps"] == here["steps"] == 500
    assert [f["id"] for f in remote["findings"]] == [f["id"] for f in here["findings"]]
    assert remote["components"] == here["components"]


def test_diagnose_reads_a_tensorboard_run_directory_from_a_prefix(s3_bucket) -> None:
    events = framed([scalar_event(s, t, s * 0.5) for s in range(300) for t in ("loss/bbox", "loss/cls")])
    s3_bucket.put("runs/a/events.out.tfevents.1.host", events)
    s3_bucket.put(
        "runs/a/train/events.out.tfevents.2.host", framed([scalar_event(s, "lr", 1e-3) for s in range(300)])
    )
    done = _cli("diagnose", s3_bucket.url("runs/a"), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["format"] == "tfevents" and out["steps"] == 300


def test_a_missing_object_is_one_line_naming_the_url_without_credentials(s3_bucket) -> None:
    url = s3_bucket.url("nope/log.jsonl").replace("s3://", "s3://AKIDSECRET:sshh@")
    done = _cli("diagnose", url)
    assert done.returncode == 2
    assert "nope/log.jsonl" in done.stderr and "sshh" not in done.stderr and "Traceback" not in done.stderr


def test_following_an_s3_log_costs_two_requests_per_grown_poll(s3_bucket, tmp_path: Path) -> None:
    local = tmp_path / "log.jsonl"
    s3_bucket.put("live/log.jsonl", _native(local, 0, 1000))
    follower = Follower([], mirror=Mirror(s3_bucket.url("live/log.jsonl")))
    assert follower.poll().log.last_step == 999
    with s3_bucket.recording() as quiet:
        unchanged = follower.poll()
    assert not unchanged.changed and len(quiet) == 1 and unchanged.remote_requests == 1
    before = local.stat().st_size
    s3_bucket.put("live/log.jsonl", _native(local, 1000, 1100))  # the job re-uploads the whole object
    with s3_bucket.recording() as grown:
        poll = follower.poll()
    assert len(grown) == 2 and poll.remote_requests == 2
    ranged = [r for r in grown if r["method"] == "GET"]
    assert len(ranged) == 1 and ranged[0]["headers"].get("Range", "").startswith(f"bytes={before - 64}-")
    assert poll.remote_bytes == local.stat().st_size - before + 64
    assert poll.parsed_bytes == local.stat().st_size - before and poll.incremental
    assert_same_series(poll.log, read_logs([local]))


def test_episode_runs_a_checkpoint_and_a_dataset_from_s3(s3_bucket, tmp_path: Path) -> None:
    ckpt = save_tiny(tmp_path / "tiny.pt")
    s3_bucket.put("ckpt/tiny.pt", ckpt.read_bytes())
    val = REPO / "demo" / "data" / "val"
    s3_bucket.put_all(
        {f"data/val/{p.relative_to(val).as_posix()}": p.read_bytes() for p in val.rglob("*") if p.is_file()}
    )
    args = ["--index", "0", "--seed", "0", "--json"]
    remote = _cli(
        "episode", "--checkpoint", s3_bucket.url("ckpt/tiny.pt"), "--data", s3_bucket.url("data/val"), *args
    )
    assert remote.returncode == 0, remote.stderr
    here = _cli("episode", "--checkpoint", str(ckpt), "--data", str(val), *args)
    a, b = json.loads(remote.stdout), json.loads(here.stdout)
    assert a == b


def test_the_app_opens_an_s3_log_below_a_remote_root_and_refuses_others(
    s3_bucket, tmp_path, monkeypatch
) -> None:
    local = tmp_path / "log.jsonl"
    s3_bucket.put("team/exp1/log.jsonl", _native(local, 0, 300))
    monkeypatch.setenv("INSPECTOR_ROOTS", f"{tmp_path}{os.pathsep}{s3_bucket.url('team')}")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.sidebar.radio(key="run_kind").set_value("server path").run()
    at.sidebar.text_input(key="run_path").input(s3_bucket.url("team/exp1/log.jsonl")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.metric if m.label == "Steps"] == ["300"]
    assert any(s3_bucket.url("team/exp1/log.jsonl") in h.value for h in at.subheader)
    at.sidebar.text_input(key="run_path").input(s3_bucket.url("team2/log.jsonl")).run()
    assert not at.exception
    assert any("outside" in e.value for e in at.main.error), [e.value for e in at.main.error]


def test_the_app_follows_an_s3_log(s3_bucket, tmp_path, monkeypatch) -> None:
    local = tmp_path / "log.jsonl"
    s3_bucket.put("team/live/log.jsonl", _native(local, 0, 200))
    monkeypatch.setenv("INSPECTOR_ROOTS", s3_bucket.url("team"))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.sidebar.radio(key="run_kind").set_value("server path").run()
    at.sidebar.text_input(key="run_path").input(s3_bucket.url("team/live/log.jsonl")).run()
    at.sidebar.toggle(key="follow").set_value(True).run()
    s3_bucket.put("team/live/log.jsonl", _native(local, 200, 400))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value for c in at.caption if "Following" in c.value]
    assert captions and "last step 399" in captions[0] and "request(s)" in captions[0], captions
    assert [m.value for m in at.metric if m.label == "Steps"] == ["400"]


def test_a_sweep_prefix_in_s3_is_read_run_by_run(s3_bucket, tmp_path: Path) -> None:
    for lr in ("lr1e-3", "lr1e-4"):
        for seed in (0, 1):
            local = tmp_path / f"{lr}_seed{seed}.jsonl"
            s3_bucket.put(f"sweep/{lr}_seed{seed}/log.jsonl", _native(local, 0, 200 + 100 * seed))
    done = _cli("diagnose", s3_bucket.url("sweep"), "--runs", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["root"] == s3_bucket.url("sweep")
    assert sorted(r["name"] for r in out["runs"]) == [
        "lr1e-3_seed0",
        "lr1e-3_seed1",
        "lr1e-4_seed0",
        "lr1e-4_seed1",
    ]
    assert sorted(g["name"] for g in out["groups"]) == ["lr1e-3_seed*", "lr1e-4_seed*"]


def test_protocol_results_and_a_split_file_are_read_from_s3(s3_bucket, tmp_path: Path) -> None:
    """evaluate-merge's shard files, compare's A and B and evaluate's --split may be URLs."""
    ckpt, val = REPO / "demo" / "runs" / "fixed" / "best.pt", REPO / "demo" / "data" / "val"
    if not ckpt.is_file():
        pytest.skip("demo/ not built")
    s3_bucket.put("protocol/split.txt", b"circle\nstar\n")
    grid = [
        "--checkpoint",
        str(ckpt),
        "--data",
        str(val),
        "--k-shot",
        "1",
        "--seeds",
        "0,1",
        "--episodes",
        "2",
    ]
    grid += ["--threads", "1", "--resamples", "0", "--split", s3_bucket.url("protocol/split.txt")]
    for i in range(2):
        out = tmp_path / f"s{i}.parquet"
        done = _cli("evaluate", *grid, "--shard", f"{i}/2", "--out", str(out), "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["split"]["novel"] == ["circle", "star"]
        s3_bucket.put(f"protocol/s{i}.parquet", out.read_bytes())
    urls = [s3_bucket.url(f"protocol/s{i}.parquet") for i in range(2)]
    merged_file = tmp_path / "merged.parquet"
    merged = _cli("evaluate-merge", *urls, "--resamples", "0", "--out", str(merged_file), "--json")
    assert merged.returncode == 0, merged.stderr
    assert [c["seed"] for c in json.loads(merged.stdout)["cells"]] == [0, 1]
    s3_bucket.put("protocol/merged.parquet", merged_file.read_bytes())
    url = s3_bucket.url("protocol/merged.parquet")
    same = _cli("compare", url, url, "--metric", "map50", "--json")
    assert same.returncode == 0, same.stderr
    assert [v["delta"] for v in json.loads(same.stdout)["verdicts"]] == [0.0]
