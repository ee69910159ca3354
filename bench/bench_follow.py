"""Benchmark: one Follower poll after 1k new steps vs a fresh full read, on a 1M-step log.

    python bench/bench_follow.py [--steps 1000000] [--new 1000] [--rounds 5]

For inspector's native JSON-lines log and a TensorBoard event file: each round appends `--new` steps,
then times a poll of a Follower that has read the log so far and a fresh `read_logs` of the same bytes
(interleaved, same process). Prints min and median of each, their ratio, and the bytes each parsed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed
from timing import interleaved, report, speedup  # noqa: E402

from inspector.live import Follower  # noqa: E402
from inspector.runlog import read_logs  # noqa: E402
from tests.tfevents_records import framed, scalar_event  # noqa: E402


def native_rows(first: int, count: int, seed: int) -> str:
    """`count` step rows from step `first` in RunWriter's format (written directly: 1M rows in seconds)."""
    rng = np.random.default_rng(seed)
    v = rng.random((count, 3))
    return "".join(
        f'{{"type": "step", "step": {first + i}, "losses": {{"bbox": {a!r}, "cls": {b!r}}}, '
        f'"total": {c!r}, "lr": 0.001}}\n'
        for i, (a, b, c) in enumerate(v.tolist())
    )


def native_header() -> str:
    config = {"loss_weights": {"bbox": 7.5, "cls": 0.5}}
    return json.dumps({"type": "header", "format": "inspector-runlog/1", "config": config}) + "\n"


def event_records(first: int, count: int, seed: int) -> bytes:
    """`count` steps of two scalar tags, framed as TensorBoard writes them."""
    rng = np.random.default_rng(seed)
    return framed(
        [
            scalar_event(first + i, tag, v, wall_time=1e9 + i)
            for i, (a, b) in enumerate(rng.random((count, 2)).tolist())
            for tag, v in (("loss/bbox", a), ("loss/cls", b))
        ]
    )


def bench(name: str, path: Path, append: Callable[[int], None], steps: int, new: int, rounds: int) -> None:
    follower = Follower([path])
    follower.poll()
    parsed: list[int] = []
    timings = interleaved(
        {
            "poll": lambda: parsed.append(follower.poll().parsed_bytes),  # after each round's append
            "full read": lambda: read_logs([path]),
        },
        rounds,
        before_round=lambda r: append(steps + r * new),
    )
    size = sum(f.stat().st_size for f in ([path] if path.is_file() else path.iterdir()))
    print(
        f"{name}: {size / 1e6:.1f} MB, +{new:,} steps per round "
        f"({statistics.median(parsed) / 1e3:.1f} kB parsed per poll)"
    )
    print(report(timings, "poll", unit="ms"))
    print(f"  full read / poll (median): {speedup(timings, 'full read', 'poll'):.1f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        native = Path(tmp) / "log.jsonl"
        with open(native, "w") as fh:
            fh.write(native_header())
            for a in range(0, args.steps, 100_000):
                fh.write(native_rows(a, min(100_000, args.steps - a), a))

        def add_native(first: int) -> None:
            with open(native, "a") as fh:
                fh.write(native_rows(first, args.new, first))

        bench("native JSON lines", native, add_native, args.steps, args.new, args.rounds)
        run = Path(tmp) / "run"
        run.mkdir()
        events = run / "events.out.tfevents.1.host"
        with open(events, "wb") as fh:
            for a in range(0, args.steps, 100_000):
                fh.write(event_records(a, min(100_000, args.steps - a), a))

        def add_events(first: int) -> None:
            with open(events, "ab") as fh:
                fh.write(event_records(first, args.new, first))

        bench("TensorBoard run directory", run, add_events, args.steps, args.new, args.rounds)


if __name__ == "__main__":
    main()
