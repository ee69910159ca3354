"""`evaluate`'s few-shot grid on 2 Ray workers against one process with one torch thread: same numbers, and
how much faster.

    python bench/bench_ray.py [--k-shot 1,3] [--seeds 0-1] [--episodes 20] [--rounds 3] [--workers 2]

Contestants, in interleaved rounds (bench/timing.py), on demo/runs/fixed/best.pt over demo/data/val, no
cache, each an in-process `evaluate --k-shot … --seeds … --json` (option parsing, checkpoint and dataset
hashing, the summary's bootstrap included):
- local: `--threads 1`, as today (one process, one torch thread);
- ray: `--executor ray --shards W` on a local Ray cluster of W CPUs started once before the rounds (each task
  one torch thread; its workers warmed by one untimed run), the merge and summary in this process.
Ray's own start (ray.init of a W-CPU cluster, then the warm-up run) is timed once and printed apart: a
command that starts its own cluster (no RAY_ADDRESS) pays it every time. The two JSON outputs are checked
equal (but "shard": "0/1" against "merged") before anything is timed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from timing import interleaved, report, speedup  # noqa: E402

from inspector.cli import main as cli  # noqa: E402

CKPT = REPO / "demo" / "runs" / "fixed" / "best.pt"
DATA = REPO / "demo" / "data" / "val"


def run_json(argv: list[str]) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli([*argv, "--json"]) == 0
    return json.loads(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k-shot", default="1,3")
    parser.add_argument("--seeds", default="0-1")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import ray
    import torch

    torch.set_num_threads(1)
    os.environ["INSPECTOR_CACHE_DIR"] = tempfile.mkdtemp()  # no cache is used; keep any away from ~
    argv = ["evaluate", "--checkpoint", str(CKPT), "--data", str(DATA), "--episodes", str(args.episodes)]
    argv += ["--k-shot", args.k_shot, "--seeds", args.seeds, "--threads", "1"]
    on_ray = [*argv, "--executor", "ray", "--shards", str(args.workers)]

    t0 = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    started = time.perf_counter() - t0
    t0 = time.perf_counter()
    remote = run_json(on_ray)  # the warm-up: each worker imports torch and inspector once
    warm_up = time.perf_counter() - t0
    local = run_json(argv)
    assert {k: v for k, v in remote.items() if k != "shard"} == {
        k: v for k, v in local.items() if k != "shard"
    }

    timings = interleaved(
        {
            "local (1 thread)": lambda: run_json(argv),
            f"ray ({args.workers} workers)": lambda: run_json(on_ray),
        },
        args.rounds,
    )
    ray.shutdown()
    cells = len(local["cells"])
    print(
        f"{cells} cells (K {args.k_shot} × seeds {args.seeds}), {args.episodes} episodes each, "
        f"{os.cpu_count()} cores; same JSON from both"
    )
    print(report(timings, "local (1 thread)"))
    name = f"ray ({args.workers} workers)"
    print(f"speedup of {name} over local (medians): {speedup(timings, 'local (1 thread)', name):.2f}×")
    print(f"Ray's start, once: ray.init {started:.1f} s, first run (workers importing) {warm_up:.1f} s")


if __name__ == "__main__":
    main()
