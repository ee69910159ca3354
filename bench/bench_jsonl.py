"""Benchmark: read_log of a 1M-row JSON-lines log vs a bare polars.read_ndjson (and pyarrow.json.read_json).

    python bench/bench_jsonl.py [--rows N] [--rounds R]

Prints each contestant's min and median over interleaved rounds in one process, and its median as a multiple
of polars'. The peer is the strongest parser here (issue 18: read_log ≤ 1.0× polars.read_ndjson); the bare
parsers only parse, while read_log also checks that polars lost nothing, numbers the lines and turns the
rows into series.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.json as pj

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed
from timing import interleaved, report  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.jsonl"
        write_log(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        log = read_log(path)  # also warms the page cache for both contestants
        assert len(log.series) == METRICS and len(log.series["m0"]) == args.rows
        timings = interleaved(
            {
                "polars.read_ndjson": lambda: pl.read_ndjson(path),
                "pyarrow.json.read_json": lambda: pj.read_json(path),
                "read_log": lambda: read_log(path),
            },
            args.rounds,
        )
    print(f"{args.rows} rows x {METRICS} metrics, {size_mb:.0f} MB, {args.rounds} interleaved rounds")
    print(report(timings, "polars.read_ndjson"))
    print("goal: read_log <= 1.0x polars.read_ndjson (median)")


if __name__ == "__main__":
    main()
