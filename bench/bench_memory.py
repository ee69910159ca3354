"""Benchmark: peak memory of read_log on a 1M-step log, against its numeric payload.

    .venv/bin/python bench/bench_memory.py [--steps 1000000]
        [--formats native jsonl detectron2 csv text mmdet_text detectron2_text tfevents]

payload = n_steps × n_metrics × 8 bytes (the float64 values the RunLog must hold).

Goal (the reliability requirement): heap peak = tracemalloc peak + Arrow pool peak ≤ 3 × payload.
Each format is read in a fresh child interpreter that has already imported inspector, numpy and
pyarrow, and reports three views of the read's peak:
  - tracemalloc: the Python/NumPy heap peak (NumPy reports its buffers to tracemalloc);
  - arrow: pyarrow.default_memory_pool().max_memory() (pyarrow's own allocator, invisible to
    tracemalloc). The two peaks may happen at different moments; summing them is conservative;
  - rss: the RSS high-water mark during the read (reset just before it through /proc/self/clear_refs,
    so it is the read's own peak, as /usr/bin/time -v would see a process that only reads) minus the
    RSS before it. Reported, not judged: it also counts the page cache of memory-mapped input files
    (the JSON, CSV and tfevents readers map the file, so touched pages of a 290 MB log show up in RSS
    although the OS can drop them at any time) and allocator slack that is not returned to the OS.
Each row ends with "met" or "MISSED" against the goal.
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
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

GOAL = 3.0
TF_TAGS = 2  # serialising 10M protobuf events would take minutes; 2 tags × 1M steps is ~15 s

# Runs in the child: import first, then measure only the read.
_CHILD = r"""
import json, sys, time, tracemalloc
import numpy, pyarrow, pandas
import inspector.runlog as runlog
from inspector.runlog import read_log
# Warm up lazily imported reader modules and pyarrow kernels on a tiny file of the same format.
read_log(sys.argv[2])
def status_bytes(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(field))
# Reset the RSS high-water mark (Linux ≥ 4.0), so the peak below is the read's, not the imports'.
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
current = status_bytes("VmRSS:")
pool = pyarrow.default_memory_pool()
arrow_before = pool.max_memory()
trace = sys.argv[3] == "1"
if trace:
    tracemalloc.start()
t0 = time.perf_counter()
log = read_log(sys.argv[1])
elapsed = time.perf_counter() - t0
tm_peak = tracemalloc.get_traced_memory()[1] if trace else 0
peak = status_bytes("VmHWM:")
points = sum(len(s) for s in log.series.values())
print(json.dumps({"rss": peak - current, "tracemalloc": tm_peak, "arrow": pool.max_memory() - arrow_before,
                  "points": points, "n_steps": log.n_steps, "metrics": len(log.series), "seconds": elapsed}))
"""


def write_native(path: Path, steps: int, seed: int = 0) -> None:
    """The RunWriter format, written in bulk (RunWriter flushes per line: ~10× slower at 1M rows)."""
    from inspector.runlog.writer import FORMAT, VERSION

    rng = np.random.default_rng(seed)
    b, c, d = rng.random((3, steps)).tolist()  # Python floats: repr is the JSON number
    with open(path, "w") as fh:
        fh.write(
            json.dumps(
                {
                    "type": "header",
                    "format": FORMAT,
                    "version": VERSION,
                    "config": {"loss_weights": {"bbox": 7.5, "cls": 0.5, "dfl": 1.5}},
                }
            )
            + "\n"
        )
        fh.writelines(
            f'{{"type": "step", "step": {i}, "epoch": {i // 1000}, "time": {1.7e9 + i}, "lr": 0.001, '
            f'"losses": {{"bbox": {b[i]!r}, "cls": {c[i]!r}, "dfl": {d[i]!r}}}, '
            f'"weights": {{"bbox": 7.5, "cls": 0.5, "dfl": 1.5}}, '
            f'"total": {7.5 * b[i] + 0.5 * c[i] + 1.5 * d[i]!r}, "positives": 12.0, "pos_iou": 0.5}}\n'
            for i in range(steps)
        )


def write_csv(path: Path, steps: int) -> None:
    import bench_csv

    bench_csv.write_log(path, steps)


def write_jsonl(path: Path, steps: int) -> None:
    import bench_jsonl

    bench_jsonl.write_log(path, steps)


def write_detectron2(path: Path, steps: int, seed: int = 0) -> None:
    """Detectron2's metrics.json: one JSON object per logged iteration (`iteration` + losses + lr)."""
    rng = np.random.default_rng(seed)
    names = ["loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc", "total_loss", "lr"]
    values = rng.random((steps, len(names)))
    with open(path, "w") as fh:
        for a in range(0, steps, 50_000):
            fh.write(
                "".join(
                    f'{{"iteration": {a + i:d}, '
                    + ", ".join(f'"{n}": {v!r}' for n, v in zip(names, row, strict=True))
                    + ', "time": 0.25}\n'
                    for i, row in enumerate(values[a : a + 50_000].tolist())
                )
            )


def write_text(path: Path, steps: int) -> None:
    import bench_text

    bench_text.write_log(path, steps)


def write_mmdet_text(path: Path, steps: int, seed: int = 0) -> None:
    """An mmdet 2.x console log: `Epoch [e][i/N]` train lines (10 metrics) and an `Epoch(val)` line
    per epoch."""
    rng = np.random.default_rng(seed)
    per_epoch = 1000
    values = rng.random((steps, 7)).round(4)
    with open(path, "w") as fh:
        fh.write("2023-02-08 16:24:10,617 - mmdet - INFO - Environment info:\n")
        for a in range(0, steps, per_epoch):
            e = a // per_epoch + 1
            fh.write(
                "".join(
                    f"2023-02-08 16:24:25,413 - mmdet - INFO - Epoch [{e}][{i + 1}/{per_epoch}]\t"
                    f"lr: 1.000e-03, "
                    f"eta: 0:03:28, time: 0.695, data_time: 0.270, memory: 3730, loss_rpn_cls: {v[0]}, "
                    f"loss_rpn_bbox: {v[1]}, loss_cls: {v[2]}, acc: {v[3]}, loss_bbox: {v[4]}, "
                    f"loss_mask: {v[5]}, "
                    f"loss: {v[6]}\n"
                    for i, v in enumerate(values[a : a + per_epoch].tolist())
                )
            )
            fh.write(
                f"2023-02-08 16:24:43,825 - mmdet - INFO - Epoch(val) [{e}][13]\tbbox_mAP: 0.0673, "
                f"bbox_mAP_50: 0.0952\n"
            )


def write_detectron2_text(path: Path, steps: int, seed: int = 0) -> None:
    """A Detectron2 log.txt: `iter: N` lines with five losses, lr and timings."""
    rng = np.random.default_rng(seed)
    values = rng.random((steps, 5)).round(5)
    with open(path, "w") as fh:
        for a in range(0, steps, 50_000):
            fh.write(
                "".join(
                    f"[11/30 01:16:13] d2.utils.events INFO:  eta: 1:54:02  iter: {a + i}  "
                    f"total_loss: {v[0]}  "
                    f"loss_cls: {v[1]}  loss_box_reg: {v[2]}  loss_rpn_cls: {v[3]}  loss_rpn_loc: {v[4]}  "
                    f"time: 0.6813  data_time: 0.3694  lr: 0.004  max_mem: 11811M\n"
                    for i, v in enumerate(values[a : a + 50_000].tolist())
                )
            )


def write_tfevents(path: Path, steps: int) -> None:
    import bench_tfevents

    bench_tfevents.TAGS = bench_tfevents.TAGS[:TF_TAGS]
    bench_tfevents.write_log(path, steps)


WRITERS = {
    "native": (write_native, "log.jsonl"),
    "jsonl": (write_jsonl, "scalars.jsonl"),
    "detectron2": (write_detectron2, "metrics.json"),
    "csv": (write_csv, "log.csv"),
    "text": (write_text, "train.log"),
    "mmdet_text": (write_mmdet_text, "20230208_162410.log"),
    "detectron2_text": (write_detectron2_text, "log.txt"),
    "tfevents": (write_tfevents, "events.out.tfevents.1.bench.0"),
}


def measure(path: Path, warm: Path, trace: bool) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(warm), "1" if trace else "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if out.returncode:
        raise SystemExit(f"reading {path.name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--formats", nargs="*", default=list(WRITERS))
    args = parser.parse_args()
    print(
        f"{'format':<9} {'file MB':>8} {'payload MB':>10} {'rss/payload':>11} {'tracemalloc/payload':>19} "
        f"{'arrow/payload':>13} {'heap/payload':>12} {'read s':>7}  goal: heap ≤ {GOAL:g}× payload"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.formats:
            write, filename = WRITERS[name]
            (Path(tmp) / name).mkdir()
            path, warm = Path(tmp) / name / filename, Path(tmp) / f"warm_{filename}"
            t0 = time.perf_counter()
            write(path, args.steps)
            write(warm, 50)
            written = time.perf_counter() - t0
            plain = measure(path, warm, trace=False)  # rss and arrow without tracemalloc's overhead
            traced = measure(path, warm, trace=True)
            payload = plain["n_steps"] * plain["metrics"] * 8
            heap = traced["tracemalloc"] + plain["arrow"]
            verdict = "met" if heap <= GOAL * payload else "MISSED"
            print(
                f"{name:<9} {path.stat().st_size / 1e6:>8.1f} {payload / 1e6:>10.1f} "
                f"{plain['rss'] / payload:>11.2f} {traced['tracemalloc'] / payload:>19.2f} "
                f"{plain['arrow'] / payload:>13.2f} {heap / payload:>12.2f} "
                f"{plain['seconds']:>7.2f}  {verdict:<6}"
                f"   ({plain['n_steps']} steps × {plain['metrics']} metrics; written in {written:.0f} s)"
            )


if __name__ == "__main__":
    main()
