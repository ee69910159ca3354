"""Benchmark: read_log of a 1M-row JSON-lines log vs a bare pyarrow.json.read_json of the same file.

    python bench/bench_jsonl.py [--rows N]

Prints both times (best of 5 interleaved runs, same process) and their ratio; the goal is a ratio ≤ 1.3.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.json as pj

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed
from inspector.runlog import read_log  # noqa: E402

METRICS = 10


def write_log(path: Path, rows: int, seed: int = 0) -> None:
    """A generic JSON-lines log: {"step": i, "m0": …, …, "m9": …} per line."""
    rng = np.random.default_rng(seed)
    values = rng.random((rows, METRICS))
    names = [f"m{j}" for j in range(METRICS)]
    with open(path, "w") as fh:
        chunk = 50_000
        for a in range(0, rows, chunk):
            block = values[a : a + chunk]
            fh.write(
                "".join(
                    f'{{"step": {a + i:d}, '
                    + ", ".join(f'"{n}": {v!r}' for n, v in zip(names, row.tolist(), strict=True))
                    + "}\n"
                    for i, row in enumerate(block)
                )
            )


def best_times(fns: list, repeat: int = 5) -> list[float]:
    """Best wall time of each function; runs are interleaved so background load hits both alike."""
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return [min(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.jsonl"
        write_log(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        log = read_log(path)  # also warms the page cache for both contestants
        assert len(log.series) == METRICS and len(log.series["m0"]) == args.rows
        bare, ours = best_times([lambda: pj.read_json(path), lambda: read_log(path)])
    print(f"{args.rows} rows x {METRICS} metrics, {size_mb:.0f} MB")
    print(f"pyarrow.json.read_json: {bare:.3f} s")
    print(f"read_log:               {ours:.3f} s")
    print(f"ratio: {ours / bare:.2f}x (goal <= 1.3x)")


if __name__ == "__main__":
    main()
