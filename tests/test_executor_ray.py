"""`--executor ray` on a real local Ray cluster (started here, 2 CPUs): `evaluate`'s shards and grid cells
and `diagnose DIR --runs` give exactly the numbers of one process; a task that raises is retried once and
then reported by its shard; Ctrl-C cancels the tasks; without Ray the option says how to install it."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.errors import InspectorError

ray = pytest.importorskip("ray")  # requirements-dev.txt installs it: CI runs these

from test_sweep import write_run  # noqa: E402

TESTS = Path(__file__).resolve().parent
DEMO = TESTS.parent / "demo"
FIXED, TROUBLED = DEMO / "runs" / "fixed" / "best.pt", DEMO / "runs" / "troubled" / "best.pt"
VAL = DEMO / "data" / "val"
EPISODES = ("--episodes", "4", "--threads", "1")
SEVEN = ("--episodes", "7", "--threads", "1")  # 7 episodes in 3 shards: shards of 3, 2 and 2

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """One local Ray cluster for the module; its workers can import the test adapter (tests/ on their
    path) and the commands join it (ray.is_initialized())."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), before) if p)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_CACHE_DIR", str(tmp_path / "cache"))


def run_json(capsys, *argv: str) -> tuple[dict, str]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out), err


def without_shard(out: dict) -> dict:
    """The JSON but its "shard" ("0/1" for one process, "merged" for merged tasks)."""
    return {k: v for k, v in out.items() if k != "shard"}


def test_ray_shards_give_the_single_process_numbers(capsys) -> None:
    argv = ("evaluate", "--checkpoint", str(FIXED), "--data", str(VAL), *SEVEN)
    one, _ = run_json(capsys, *argv)
    local, _ = run_json(capsys, *argv, "--executor", "local", "--shards", "3")
    remote, err = run_json(capsys, *argv, "--executor", "ray", "--shards", "3")
    assert "cells" not in one and one["shard"] == "0/1" and one["images"] == 28
    assert remote["shard"] == local["shard"] == "merged"
    assert without_shard(remote) == without_shard(one) == without_shard(local)
    assert "evaluate: 3/3 tasks done" in err and "evaluate: 1/3 tasks done, ETA" in err


@pytest.mark.parametrize("checkpoint", [FIXED, TROUBLED], ids=["fixed", "troubled"])
def test_ray_grid_of_two_seeds_gives_the_single_process_grid(capsys, tmp_path, checkpoint) -> None:
    argv = ("evaluate", "--checkpoint", str(checkpoint), "--data", str(VAL), *EPISODES)
    grid = ("--seeds", "0-1", "--resamples", "200")
    one, _ = run_json(capsys, *argv, *grid)
    out = tmp_path / "grid.parquet"
    remote, err = run_json(capsys, *argv, *grid, "--executor", "ray", "--shards", "3", "--out", str(out))
    assert [c["seed"] for c in one["cells"]] == [0, 1]
    assert without_shard(remote) == without_shard(one)
    # a tree of tasks: 3 shard tasks, then each of the 2 cells scored in a task, then the one K's intervals
    assert all(f"evaluate: {n}/{n} tasks done" in err for n in (3, 2, 1)), err
    # the merged rows written by --out are those of an unsharded grid: evaluate-merge of them agrees too
    merged, _ = run_json(capsys, "evaluate-merge", str(out), "--resamples", "200")
    assert without_shard(merged) == without_shard(one)


def test_ray_sweep_gives_the_single_process_report(capsys, tmp_path) -> None:
    for config, seed in [
        ("base", 0),
        ("base", 1),
        ("heavy", 0),
        ("heavy", 1),
        ("collapse", 0),
        ("collapse", 1),
    ]:
        write_run(tmp_path / f"{config}_seed{seed}" / "log.jsonl", config, seed)
    one, _ = run_json(capsys, "diagnose", str(tmp_path), "--runs")
    remote, err = run_json(capsys, "diagnose", str(tmp_path), "--runs", "--executor", "ray", "--shards", "4")
    assert len(one["runs"]) == 6 and all(r["error"] is None for r in one["runs"])
    assert remote == one
    assert "diagnose: 4/4 tasks done" in err


def test_a_failing_task_is_retried_once_then_reported_by_its_shard(capsys, tmp_path, monkeypatch) -> None:
    attempts = tmp_path / "attempts"
    monkeypatch.setenv("INSPECTOR_TEST_FAILURES", str(attempts))  # travels to the task with the settings
    monkeypatch.syspath_prepend(str(TESTS))
    argv = ["evaluate", "--checkpoint", str(FIXED), "--data", str(VAL), *EPISODES]
    argv += ["--adapter", "failing_adapter:make", "--executor", "ray", "--shards", "3", "--json"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    line = err.strip().splitlines()[-1]
    # position 1 (failing_adapter.FAIL_AT) is shard 1 of 3
    assert line.startswith("inspector evaluate: error: shard 1/3 failed 2 times: RuntimeError: ")
    assert "injected failure at episode 1" in line
    assert len(attempts.read_text().splitlines()) == 2


def test_ctrl_c_cancels_the_tasks(monkeypatch) -> None:
    from inspector.executors.ray_tasks import RayPool

    real_wait = ray.wait

    def interrupted(*args, **kwargs):
        time.sleep(1.0)  # the tasks have started
        raise KeyboardInterrupt

    monkeypatch.setattr(ray, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        RayPool("evaluate", 2).map(partial(time.sleep), [120.0, 120.0], ["shard 0/2", "shard 1/2"])
    monkeypatch.setattr(ray, "wait", real_wait)
    deadline = time.monotonic() + 30
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 2  # both sleepers were cancelled, not left running


def test_without_ray_the_option_says_how_to_install_it(capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    argv = ["evaluate", "--checkpoint", str(FIXED), "--data", str(VAL), *EPISODES, "--executor", "ray"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "inspector evaluate: error: --executor ray needs Ray: pip install -r requirements-ray.txt\n"
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--shards", "0"), "--shards must be ≥ 1 (got 0)"),
        (("--ray-address", "auto"), "--ray-address and --task-gpus need --executor ray"),
        (("--executor", "ray", "--task-gpus", "-1"), "--task-gpus must be ≥ 0 (got -1.0)"),
        (("--executor", "ray", "--shard", "1/2"), "give --shard i/n or --executor / --shards, not both"),
    ],
)
def test_executor_options_are_refused_in_one_line(capsys, extra, message) -> None:
    argv = ["evaluate", "--checkpoint", str(FIXED), "--data", str(VAL), *EPISODES, *extra]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"inspector evaluate: error: {message}\n"


def test_diagnose_takes_the_executor_with_runs_only(capsys, tmp_path) -> None:
    log = write_run(tmp_path / "log.jsonl", "base", 0, steps=10)
    assert main(["diagnose", str(log), "--executor", "ray"]) == 2
    assert "give --runs" in capsys.readouterr().err


def test_eta_is_the_pace_so_far() -> None:
    from inspector.executors.progress import eta_text

    assert eta_text(0, 3, 5.0) == "ETA unknown"
    assert eta_text(2, 3, 8.0) == "ETA 4 s"
    assert eta_text(1, 10, 60.0) == "ETA 9 min"


def test_an_unreachable_cluster_is_refused_at_once() -> None:
    from inspector.executors.ray_tasks import check_reachable

    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(InspectorError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
            check_reachable(f"127.0.0.1:{port}")
    check_reachable("auto")  # left to ray.init


def test_tasks_are_given_urls_as_the_user_gave_them(monkeypatch) -> None:
    """The CLI swaps a URL for this machine's copy before a command runs; a task (maybe on another machine)
    must get the URL and fetch it there."""
    import argparse

    import inspector.cli.inputs as inputs
    from inspector.executors.sharded import inputs_of

    args = argparse.Namespace(
        checkpoint="s3://bucket/exp/best.pt", data=str(VAL), clips=None, adapter="reference", cache=False
    )
    args.shard = "0/1"
    fetched: list[str] = []

    def fetch(text: str) -> str:  # stands in for the S3 fetch (tests/test_remote*.py use a real S3 API)
        fetched.append(text)
        return "/tmp/local-copy/best.pt"

    monkeypatch.setattr(inputs, "local_file", fetch)
    inputs.resolve_remote_options(args)
    assert args.checkpoint == "/tmp/local-copy/best.pt" and fetched == ["s3://bucket/exp/best.pt"]
    sent = inputs_of(args)
    assert sent.checkpoint == "s3://bucket/exp/best.pt" and sent.data == str(VAL) and sent.clips is None


def test_a_remote_sweeps_task_reads_its_own_mirror_of_the_url(tmp_path) -> None:
    """A sweep given as a URL: each task mirrors the URL on its machine and reads the runs there, not the
    driver's copy (here the 'URL' is a second local copy; the driver's copy is gone when the task runs)."""
    import shutil
    from dataclasses import replace

    from inspector.executors.tasks import read_run_share
    from inspector.sweep import discover, read_run

    driver, elsewhere = tmp_path / "driver-mirror", tmp_path / "task-machine"
    for config, seed in [("base", 0), ("heavy", 1)]:
        write_run(driver / f"{config}_seed{seed}" / "log.jsonl", config, seed)
    shutil.copytree(driver, elsewhere)
    specs = discover(driver).runs
    want = [read_run(spec, 200) for spec in specs]
    shutil.rmtree(driver)
    got = read_run_share(specs, 200, origin=(str(elsewhere), str(driver)))
    assert [r.row.path for r in got] == [str(elsewhere / s.name / "log.jsonl") for s in specs]
    assert all(r.row.error is None for r in got)
    assert [replace(r.row, path="") for r in got] == [replace(r.row, path="") for r in want]
