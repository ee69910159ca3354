"""Benchmark: how reading and analysing a native JSON-lines log grow with its length (10k to 5M steps).

    .venv/bin/python bench/bench_scaling.py [--steps 10000 100000 1000000 5000000] [--rounds 3]

For each length a native log (RunWriter's format: 3 raw losses, their weights, total, lr, positives,
pos_iou; bench_memory.write_native) is written once, then read and analysed in a fresh child interpreter per
round (inspector, numpy and pyarrow imported and warmed up on a small log first). Each child reports:
  - read: `read_log` wall and CPU seconds, and its RSS growth: the high-water mark during the read (reset
    through /proc/self/clear_refs just before it) minus the RSS before it, as a multiple of the numeric
    payload (steps × series × 8 bytes, what the RunLog must hold);
  - analysis: `diagnose` wall and CPU seconds and the RSS high-water mark from before the read to its end.
Rounds of all lengths are interleaved (round 1 of every length, then round 2, …); min and median reported.
Goal (issue 18): RSS growth of the read ≤ 4× the payload at 1M and 5M steps, and cost growing linearly.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for where in (REPO, REPO / "bench"):
    if str(where) not in sys.path:
        sys.path.insert(0, str(where))

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

from bench_memory import write_native  # noqa: E402

GOAL = 4.0

_CHILD = r"""
import json, sys, time
import numpy, pyarrow, pandas
from inspector.runlog import read_log
from inspector.diagnose import diagnose
diagnose(read_log(sys.argv[2]))  # warm up lazily imported modules on a small log
def status_bytes(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(field))
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
start = status_bytes("VmRSS:")
w0, c0 = time.perf_counter(), time.process_time()
log = read_log(sys.argv[1])
w1, c1 = time.perf_counter(), time.process_time()
read_peak = status_bytes("VmHWM:") - start
diagnose(log)
w2, c2 = time.perf_counter(), time.process_time()
payload = log.n_steps * len(log.series) * 8
print(json.dumps({"steps": log.n_steps, "series": len(log.series), "payload": payload,
                  "read_wall": w1 - w0, "read_cpu": c1 - c0, "read_rss": read_peak,
                  "analysis_wall": w2 - w1, "analysis_cpu": c2 - c1,
                  "total_rss": status_bytes("VmHWM:") - start}))
"""


def measure(path: Path, warm: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(warm)], capture_output=True, text=True, cwd=REPO
    )
    if out.returncode:
        raise SystemExit(f"reading {path.name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="*", default=[10_000, 100_000, 1_000_000, 5_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm.jsonl"
        write_native(warm, 2_000)
        paths = {}
        for n in args.steps:
            paths[n] = Path(tmp) / f"native_{n}.jsonl"
            write_native(paths[n], n)
        runs: dict[int, list[dict]] = {n: [] for n in args.steps}
        for _ in range(args.rounds):  # interleaved: every length once per round
            for n in args.steps:
                runs[n].append(measure(paths[n], warm))
        sizes = {n: paths[n].stat().st_size for n in args.steps}
    print(
        f"{'steps':>9} {'file MB':>8} {'payload MB':>10} | {'read s (min/med)':>16} {'read CPU s':>10} "
        f"{'µs/step':>7} {'RSS/payload':>11} | {'analysis s (min/med)':>20} {'CPU s':>6} {'µs/step':>7} "
        f"{'RSS/payload':>11}"
    )
    for n in args.steps:
        r = runs[n]
        payload = r[0]["payload"]

        def mm(key: str, r: list[dict] = r) -> tuple[float, float]:
            values = [x[key] for x in r]
            return min(values), statistics.median(values)

        rw, rc, rr = mm("read_wall"), mm("read_cpu"), mm("read_rss")
        aw, ac, tr = mm("analysis_wall"), mm("analysis_cpu"), mm("total_rss")
        verdict = "" if n < 1_000_000 else (" met" if rr[1] / payload <= GOAL else " MISSED")
        print(
            f"{n:>9,} {sizes[n] / 1e6:>8.1f} {payload / 1e6:>10.2f} | {rw[0]:>7.3f}/{rw[1]:<8.3f} "
            f"{rc[1]:>10.3f} {rw[1] / n * 1e6:>7.2f} {rr[1] / payload:>8.2f}×{verdict:<5}| "
            f"{aw[0]:>9.3f}/{aw[1]:<10.3f} {ac[1]:>6.3f} {aw[1] / n * 1e6:>7.2f} {tr[1] / payload:>10.2f}×"
        )
    print(
        f"goal: read RSS growth ≤ {GOAL:g}× the payload at 1M and 5M steps (median of {args.rounds} rounds)"
    )


if __name__ == "__main__":
    main()
