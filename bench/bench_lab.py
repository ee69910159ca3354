"""The loss-balance lab and error analysis against `evaluate` on the same episodes: time ratios.

    python bench/bench_lab.py [--rounds 3] [--checkpoint demo/runs/troubled/best.pt]

Interleaved rounds in one process, each round timing, on the demo's validation set and the checkpoint's own
episode shape: `evaluate` over 50 episodes, `balance` over the same 50, `evaluate` over 100, `errors` over the
same 100, and `coverage` over the same 100. Prints min and median seconds of each and the ratios of the
medians to `evaluate` on the same episodes (the goal: each within 3×). One torch thread, as the CLI's
default for evaluation.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from timing import interleaved, report, speedup  # noqa: E402

from inspector.cli import main as cli  # noqa: E402

GOAL_RATIO = 3.0


def _timed(argv: list[str]) -> float:
    """Seconds `python -m inspector <argv>` takes in this process (its output swallowed)."""
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = cli(argv)
    if status != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {status}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkpoint", default=str(REPO / "demo" / "runs" / "troubled" / "best.pt"))
    parser.add_argument("--data", default=str(REPO / "demo" / "data" / "val"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    common = ["--checkpoint", args.checkpoint, "--data", args.data, "--json"]
    runs: dict[str, Callable[[], object]] = {
        "evaluate 50": lambda: _timed(["evaluate", *common, "--episodes", "50"]),
        "balance 50": lambda: _timed(["balance", *common, "--episodes", "50"]),
        "evaluate 100": lambda: _timed(["evaluate", *common, "--episodes", "100"]),
        "errors 100": lambda: _timed(["errors", *common, "--episodes", "100"]),
        "coverage 100": lambda: _timed(["coverage", *common, "--episodes", "100"]),
    }
    timings = interleaved(runs, args.rounds)
    print(report(timings, "evaluate 50"))
    for lab, base in (
        ("balance 50", "evaluate 50"),
        ("errors 100", "evaluate 100"),
        ("coverage 100", "evaluate 100"),
    ):
        ratio = speedup(timings, lab, base)
        verdict = "within" if ratio <= GOAL_RATIO else "OVER"
        print(f"{lab} / {base}: {ratio:.2f}× (median; {verdict} the {GOAL_RATIO:g}× goal)")


if __name__ == "__main__":
    main()
