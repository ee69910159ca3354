"""Benchmark: read_log of a 1M-scalar TensorBoard event file vs tensorboard's EventAccumulator.

    python bench/bench_tfevents.py [--steps N]

The file holds 10 tags x N steps (default 100k: 1M scalars), one `simple_value` per event as
PyTorch's SummaryWriter writes them. Prints both times (same process) and the speed-up; the
goal is read_log >= 10x faster. EventAccumulator keeps every point (size_guidance scalars=0).
"""

from __future__ import annotations

import argparse
import struct
import tempfile
from pathlib import Path

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from timing import interleaved, report, speedup

from inspector.runlog import read_log

TAGS = [f"train/loss_{j}" for j in range(10)]


def _record(event: event_pb2.Event) -> bytes:
    data = event.SerializeToString()
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def write_log(path: Path, steps: int) -> None:
    """An event file with valid CRCs (EventAccumulator checks them): file_version, then the scalars."""
    with open(path, "wb") as fh:
        fh.write(_record(event_pb2.Event(wall_time=1.6e9, file_version="brain.Event:2")))
        for step in range(steps):
            fh.write(
                b"".join(
                    _record(
                        event_pb2.Event(
                            wall_time=1.6e9 + step,
                            step=step,
                            summary=summary_pb2.Summary(
                                value=[summary_pb2.Summary.Value(tag=tag, simple_value=step * 1e-3 + j)]
                            ),
                        )
                    )
                    for j, tag in enumerate(TAGS)
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.out.tfevents.1600000000.bench.1.0"
        write_log(path, args.steps)
        size_mb = path.stat().st_size / 1e6
        log = read_log(path)  # warms the page cache for both contestants
        assert len(log.series) == len(TAGS) and len(log.series[TAGS[0]]) == args.steps

        def accumulate():
            acc = event_accumulator.EventAccumulator(str(path), size_guidance={event_accumulator.SCALARS: 0})
            acc.Reload()
            return acc

        assert len(accumulate().Scalars(TAGS[0])) == args.steps
        timings = interleaved(
            {"EventAccumulator": accumulate, "read_log": lambda: read_log(path)}, args.rounds
        )
    print(f"{len(TAGS)} tags x {args.steps} steps = {len(TAGS) * args.steps} scalars, {size_mb:.0f} MB")
    print(report(timings, "EventAccumulator"))
    print(f"speed-up (median): {speedup(timings, 'EventAccumulator', 'read_log'):.1f}x (goal >= 10x)")


if __name__ == "__main__":
    main()
