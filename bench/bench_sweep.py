"""Reading a sweep: 200 runs × 10k steps (native JSON lines), serially vs in parallel (threads, processes).

    .venv/bin/python bench/bench_sweep.py [--runs 200] [--steps 10000] [--rounds 3]

The runs are written with `RunWriter` (3 lr settings × seeds, root/lr<x>/seed<k>/log.jsonl, an eval every
500 steps) and not timed. Each round times `discover` + `read_sweep` once per executor, interleaved so that
background load hits all alike; prints min and median seconds and the speed-up of each over serial, then
how one run's time splits between reading and diagnosing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed
from timing import interleaved, report  # noqa: E402

from inspector.diagnose import diagnose  # noqa: E402
from inspector.runlog import RunWriter, read_logs  # noqa: E402
from inspector.sweep import discover, read_sweep  # noqa: E402
from inspector.sweep.reading import Parallel  # noqa: E402

LRS = (1e-3, 3e-4, 1e-4)
EVAL_EVERY = 500


def write_run(path: Path, steps: int, lr: float, seed: int) -> None:
    """One native run: bbox and cls decaying with noise, a cosine lr, mAP rising; seeded."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps, dtype=np.float64)
    bbox = (0.3 + np.exp(-t / (steps / 4))) * (1 + 0.1 * rng.standard_normal(steps))
    cls = (0.5 + 2 * np.exp(-t / (steps / 3))) * (1 + 0.1 * rng.standard_normal(steps))
    sched = 1e-6 + (lr - 1e-6) * 0.5 * (1 + np.cos(np.pi * t / steps))
    peak = 0.5 + 0.05 * rng.standard_normal()
    config = {"lr": lr, "seed": seed, "loss_weights": {"bbox": 7.5, "cls": 0.5}}
    with RunWriter(path, config=config) as w:
        for i in range(steps):
            w.step(i, losses={"bbox": bbox[i], "cls": cls[i]}, lr=sched[i], positives=12.0)
            if (i + 1) % EVAL_EVERY == 0:
                w.eval(i, {"map50": peak * (1 - np.exp(-i / (steps / 3))), "map50_95": 0.6 * peak})


def write_sweep(root: Path, runs: int, steps: int) -> None:
    for k in range(runs):
        lr = LRS[k % len(LRS)]
        write_run(root / f"lr{lr:g}" / f"seed{k // len(LRS)}" / "log.jsonl", steps, lr, k)


def timed_rounds(root: Path, rounds: int, workers: int | None) -> None:
    """`rounds` interleaved rounds of discover + read_sweep per executor; prints min, median, speed-ups."""
    found = discover(root)
    warm = read_sweep(found, "serial")  # warms the page cache and the imports for every contestant
    assert all(r.read for r in warm.rows), [r.error for r in warm.rows if not r.read][:3]

    def contestant(parallel: Parallel) -> Callable[[], object]:
        def run() -> None:
            assert read_sweep(discover(root), parallel, workers).rows == warm.rows

        return run

    timings = interleaved({p: contestant(p) for p in ("serial", "threads", "processes")}, rounds)
    shown = ", ".join(f"{t:.2f}" for t in timings["processes"].times)
    print(f"processes, round by round: {shown} s (the first pool starts the forkserver)")
    print(report(timings, "serial"))
    for name, t in timings.items():
        print(f"{name:>9}: {1000 * t.median / len(found.runs):.0f} ms per run (median)")


def split_one_run(root: Path, n: int = 20) -> None:
    """How one run's time splits between reading the log and diagnosing it (median over `n` runs)."""
    reads, diags = [], []
    for spec in discover(root).runs[:n]:
        t0 = time.perf_counter()
        log = read_logs([spec.path])
        t1 = time.perf_counter()
        diagnose(log)
        reads.append(t1 - t0)
        diags.append(time.perf_counter() - t1)
    print(
        f"one run (median of {len(reads)}): read {1000 * statistics.median(reads):.0f} ms, "
        f"diagnose {1000 * statistics.median(diags):.0f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="parallel workers (default: one per core)")
    ap.add_argument("--root", type=Path, default=None, help="keep the sweep here (written when missing)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp)
        if not any(root.rglob("log.jsonl")):
            t0 = time.perf_counter()
            write_sweep(root, args.runs, args.steps)
            print(f"written in {time.perf_counter() - t0:.1f} s")
        size = sum(p.stat().st_size for p in root.rglob("log.jsonl")) / 1e6
        t0 = time.perf_counter()
        found = discover(root)
        print(f"{len(found.runs)} runs, {size:.0f} MB; discover {time.perf_counter() - t0:.3f} s")
        timed_rounds(root, args.rounds, args.workers)
        split_one_run(root)


if __name__ == "__main__":
    main()
