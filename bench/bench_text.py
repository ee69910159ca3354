"""Prints how much faster the text reader parses a 1M-line key=value log than a per-line regex loop.

Baseline (named in the issue): `for line in f: re.findall(r"(\\w+)=([-+.\\deE]+)", line)` appending
floats to per-key lists. Both run in this process on the same file; each is timed best of 3.
Usage: python bench/bench_text.py [n_lines]
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from timing import interleaved, report, speedup  # noqa: E402

from inspector.runlog.readers.text import read_log  # noqa: E402


def write_log(path: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    loss, bbox, lr = rng.random(n), rng.random(n), rng.random(n) * 1e-3
    with open(path, "w") as fh:
        fh.writelines(
            f"step={i} loss={loss[i]:.5f} loss_bbox={bbox[i]:.5f} lr={lr[i]:.3e}\n" for i in range(n)
        )


def naive(path: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    with open(path) as fh:
        for line in fh:
            for key, value in re.findall(r"(\w+)=([-+.\deE]+)", line):
                out.setdefault(key, []).append(float(value))
    return out


def main(n: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.log"
        write_log(path, n)
        log = read_log(path)
        assert len(log.series["loss"]) == n and log.series["loss"].steps[-1] == n - 1
        timings = interleaved({"naive re.findall": lambda: naive(path), "read_log": lambda: read_log(path)})
    print(f"{n} lines, 5 interleaved rounds")
    print(report(timings, "naive re.findall"))
    print(f"speed-up (median): {speedup(timings, 'naive re.findall', 'read_log'):.2f}x (goal >= 3x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
