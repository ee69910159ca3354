"""Benchmark: read_log of a 1M-row CSV (step + 10 metrics) vs a bare pyarrow.csv.read_csv of the same file.

    python bench/bench_csv.py [--rows N]

Prints both times (best of 3, same process) and their ratio; the goal is a ratio ≤ 1.3.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
from timing import interleaved, report

from inspector.runlog import read_log

METRICS = 10


def write_log(path: Path, rows: int, seed: int = 0) -> None:
    """A generic CSV log: a `step` column and metrics m0..m9."""
    rng = np.random.default_rng(seed)
    table = np.column_stack([np.arange(rows), rng.random((rows, METRICS))])
    header = ",".join(["step", *(f"m{j}" for j in range(METRICS))])
    np.savetxt(path, table, delimiter=",", header=header, comments="", fmt=["%d"] + ["%.8g"] * METRICS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.csv"
        write_log(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        log = read_log(path)  # also warms the page cache for both contestants
        assert log.format == "csv" and len(log.series) == METRICS and len(log.series["m0"]) == args.rows
        timings = interleaved(
            {"pyarrow.csv.read_csv": lambda: pacsv.read_csv(path), "read_log": lambda: read_log(path)},
            args.rounds,
        )
    print(f"{args.rows} rows x {METRICS} metrics, {size_mb:.0f} MB, {args.rounds} interleaved rounds")
    print(report(timings, "pyarrow.csv.read_csv"))
    print("goal: read_log <= 1.3x pyarrow.csv.read_csv (median)")


if __name__ == "__main__":
    main()
