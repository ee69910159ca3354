"""Benchmark: read_log of a 1M-scalar event file vs TensorBoard's Rust data server and EventAccumulator.

    python bench/bench_tfevents.py [--steps N] [--rounds R] [--skip-accumulator]

The file holds 10 tags x N steps (default 100k: 1M scalars), one `simple_value` per event as PyTorch's
SummaryWriter writes them, every record with valid CRCs. Contestants, timed in interleaved rounds
(bench/timing.py), each ending with every point of every tag as NumPy arrays:
- read_log: `inspector.runlog.read_log(path)`; it verifies both CRCs of every record, always;
- the Rust data server (tensorboard-data-server, the peer; bench/tb_data_server.py): start the binary on the
  logdir with `--reload once --samples-per-plugin scalars=all`, wait for its load, ListScalars + ReadScalars
  of every point over gRPC, stop it. Once with `--checksum` (every record's data CRC verified, as read_log
  does: the like-for-like peer) and once with its default (`--no-checksum`: a data CRC only when parsing
  fails). Beside each whole round, "load+fetch" is the server's own timing of its load plus the gRPC fetch,
  without the process start;
- EventAccumulator (size_guidance scalars=0: every point), which also verifies both CRCs, in pure Python.
Goals: read_log >= 1.5x faster than the data server with --checksum (issue 18), >= 10x than EventAccumulator.

Before timing, a probe flips one payload byte (a value's last byte: the event still parses) in a small copy
and prints what each reader makes of it.
"""

from __future__ import annotations

import argparse
import struct
import tempfile
from pathlib import Path

import numpy as np
import tb_data_server
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from timing import Timing, interleaved, report, speedup

from inspector.runlog import read_log

TAGS = [f"train/loss_{j}" for j in range(10)]
FILE_NAME = "events.out.tfevents.1600000000.bench.1.0"
PEER = "data server --checksum"
PEER_DEFAULT = "data server (default)"


def _record(event: event_pb2.Event) -> bytes:
    data = event.SerializeToString()
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def write_log(path: Path, steps: int) -> None:
    """An event file with valid CRCs: file_version, then the scalars."""
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


def flip_payload_byte(path: Path, record: int) -> None:
    """Flip the last payload byte of record `record` (0: file_version) in place; its CRCs stay as written."""
    buf = bytearray(path.read_bytes())
    pos = 0
    for _ in range(record):
        (length,) = struct.unpack_from("<Q", buf, pos)
        pos += 12 + length + 4
    (length,) = struct.unpack_from("<Q", buf, pos)
    buf[pos + 12 + length - 1] ^= 0x01
    path.write_bytes(bytes(buf))


def probe(tmp: Path) -> list[str]:
    """What each reader does with one flipped payload byte: 10 tags x 100 steps, scalar 5 of train/loss_0."""
    logdir = tmp / "probe"
    logdir.mkdir()
    path = logdir / FILE_NAME
    write_log(path, 100)
    flip_payload_byte(path, 1 + 5 * len(TAGS))  # step 5 of the first tag
    out = []
    log = read_log(path)
    kept = len(log.series[TAGS[0]])
    total = sum(len(s) for s in log.series.values())
    out.append(f"read_log: {kept} of 100 points of {TAGS[0]}, {total} of 1000 in all; {log.warnings[0]}")
    for checksum, name in ((True, PEER), (False, PEER_DEFAULT)):
        served = tb_data_server.load_and_fetch(logdir, checksum).series
        steps, _, values = served.get(TAGS[0], (np.zeros(0), np.zeros(0), np.zeros(0)))
        at5 = values[steps == 5]
        what = "dropped" if not at5.size else f"kept with value {float(at5[0]):.6g} (written: 0.005)"
        total = sum(s[0].size for s in served.values())
        out.append(f"{name}: {steps.size} of 100 points of {TAGS[0]}, {total} of 1000 in all; step 5 {what}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-accumulator", action="store_true", help="no EventAccumulator (~15 s a round)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"peer: {tb_data_server.version()} ({tb_data_server.binary()})")
        print("one flipped payload byte:\n  " + "\n  ".join(probe(Path(tmp))))
        logdir = Path(tmp) / "logdir"
        logdir.mkdir()
        path = logdir / FILE_NAME
        write_log(path, args.steps)
        size_mb = path.stat().st_size / 1e6
        log = read_log(path)  # warms the page cache for every contestant
        assert len(log.series) == len(TAGS) and len(log.series[TAGS[0]]) == args.steps
        for checksum in (True, False):  # the peer returns every point, the same as read_log's
            served = tb_data_server.load_and_fetch(logdir, checksum).series
            assert sorted(served) == sorted(TAGS), sorted(served)
            for tag, (steps, walls, values) in served.items():
                s = log.series[tag]
                assert np.array_equal(steps, s.steps) and np.array_equal(values, s.values), tag
                assert s.wall_times is not None and np.array_equal(walls, s.wall_times), tag

        def accumulate() -> event_accumulator.EventAccumulator:
            acc = event_accumulator.EventAccumulator(str(path), size_guidance={event_accumulator.SCALARS: 0})
            acc.Reload()
            return acc

        parts: dict[str, list[float]] = {PEER: [], PEER_DEFAULT: []}

        def serve(checksum: bool, name: str) -> None:
            fetched = tb_data_server.load_and_fetch(logdir, checksum)
            parts[name].append(fetched.load_s + fetched.fetch_s)

        contestants = {
            PEER: lambda: serve(True, PEER),
            PEER_DEFAULT: lambda: serve(False, PEER_DEFAULT),
            "read_log": lambda: read_log(path),
        }
        if not args.skip_accumulator:
            assert len(accumulate().Scalars(TAGS[0])) == args.steps
            contestants = {"EventAccumulator": accumulate, **contestants}
        timings = interleaved(contestants, args.rounds)
    for name, times in parts.items():
        timings[f"  {name}: load+fetch"] = Timing(f"  {name}: load+fetch", tuple(times))
    print(f"{len(TAGS)} tags x {args.steps} steps = {len(TAGS) * args.steps} scalars, {size_mb:.0f} MB")
    print(report(timings, PEER))
    print("read_log speed-up, median over median:")
    for peer, goal in (
        (PEER, " (goal >= 1.5x)"),
        (f"  {PEER}: load+fetch", ""),
        (PEER_DEFAULT, ""),
        (f"  {PEER_DEFAULT}: load+fetch", ""),
        ("EventAccumulator", " (goal >= 10x)"),
    ):
        if peer in timings:
            print(f"  vs {peer.strip()}: {speedup(timings, peer, 'read_log'):.2f}x{goal}")


if __name__ == "__main__":
    main()
