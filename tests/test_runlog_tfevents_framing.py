"""TFRecord framing (inspector/runlog/tfevents_framing.py): the guessing framer finds exactly the records the
one-by-one walk finds, and a flipped bit anywhere in a record (its length, the length's CRC, the payload, the
payload's CRC) costs that record only, with a warning naming the file and the record's offset.

Files are built here from the TFRecord definition: uint64 length, uint32 masked CRC32C of the length, the
data, uint32 masked CRC32C of the data; mask = ((crc >> 15) | (crc << 17)) + 0xa282ead8.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import crc32c
import numpy as np
import pytest
from fuzz_catalogue import replayable
from hypothesis import given
from hypothesis import strategies as st
from tensorboard.compat.proto import event_pb2, summary_pb2

from inspector.runlog import read_log
from inspector.runlog.readers import tfevents
from inspector.runlog.tfevents_framing import _Framer


def _masked_crc(data: bytes) -> int:
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _framed(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


def _scalar(step: int, tag: str) -> bytes:
    return event_pb2.Event(
        wall_time=1e9 + step,
        step=step,
        summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(step))]),
    ).SerializeToString()


VERSION = _framed(event_pb2.Event(wall_time=1e9, file_version="brain.Event:2").SerializeToString())


def _walk(buf: bytes, pos: int, count: int) -> tuple[list[int], list[int]]:
    """The definition: each record starts where the one before ended, while its header and payload fit."""
    starts, lengths = [], []
    while pos + 12 <= len(buf) and count:
        (length,) = struct.unpack_from("<Q", buf, pos)
        if pos + 12 + length + 4 > len(buf):
            break
        starts.append(pos + 12)
        lengths.append(length)
        pos += 12 + length + 4
        count -= 1
    return starts, lengths


@replayable(150)
@given(
    period=st.lists(st.integers(0, 80), min_size=1, max_size=12),
    repeats=st.integers(1, 400),
    breaks=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 300)), max_size=8),
    tail=st.tuples(st.integers(0, 80), st.integers(0, 100)),
    counts=st.lists(st.integers(1, 3000), min_size=1, max_size=6),
)
def test_the_framer_frames_what_the_walk_frames(
    period: list[int], repeats: int, breaks: list[tuple[int, int]], tail: tuple[int, int], counts: list[int]
) -> None:
    # Lengths that repeat with a period, broken here and there (a new tag, a longer step varint), and a
    # last record cut anywhere: in its header, its payload or its footer. The framer trusts lengths (CRCs
    # are checked after), so headers carry no CRC here.
    lengths = period * repeats
    for at, length in breaks:
        if at < len(lengths):
            lengths[at] = length
    rng = random.Random(len(lengths))

    def record(n: int) -> bytes:
        return struct.pack("<Q", n) + bytes(4) + rng.randbytes(n) + bytes(4)

    tail_length, cut = tail
    last = record(period[0] if tail_length == 0 else tail_length)  # period[0]: what the framer guesses next
    buf = b"".join(record(n) for n in lengths) + last[: cut % len(last)]
    framer = _Framer(buf, np.frombuffer(buf, dtype=np.uint8))
    pos, i = 0, 0
    while True:
        count = counts[i % len(counts)]
        want = _walk(buf, pos, count)
        starts, got = framer.take(pos, count)
        assert (starts.tolist(), got.tolist()) == want
        assert starts.dtype == np.int64 and got.dtype == np.int64
        if not want[0]:
            break
        pos, i = want[0][-1] + want[1][-1] + 4, i + 1
    assert pos >= len(buf) - len(last)


def test_the_framer_on_buffers_too_short_for_a_header() -> None:
    for buf in (b"", b"\x01", bytes(11)):
        starts, lengths = _Framer(buf, np.frombuffer(buf, dtype=np.uint8)).take(0, 10)
        assert starts.size == 0 and lengths.size == 0


def _log(n: int) -> list[bytes]:
    return [VERSION] + [_framed(_scalar(s, "train/loss")) for s in range(n)]


@pytest.mark.parametrize("where", ["length", "length_crc", "payload", "payload_crc"])
def test_every_flipped_bit_of_a_record_costs_that_record_only(tmp_path: Path, where: str) -> None:
    records = _log(6)
    victim = 3  # the scalar at step 2
    at = sum(len(r) for r in records[:victim])
    size = len(records[victim])
    span = {
        "length": (0, 8),
        "length_crc": (8, 12),
        "payload": (12, size - 4),
        "payload_crc": (size - 4, size),
    }
    lo, hi = span[where]
    path = tmp_path / "events.out.tfevents.1.host"
    for byte in range(lo, hi):
        for bit in (0, 7):
            damaged = bytearray(records[victim])
            damaged[byte] ^= 1 << bit
            path.write_bytes(b"".join(records[:victim]) + bytes(damaged) + b"".join(records[victim + 1 :]))
            log = read_log(path)
            assert log.series["train/loss"].steps.tolist() == [0, 1, 3, 4, 5], (byte, bit)
            (warning,) = log.warnings
            assert warning.startswith(f"{path.name}: skipped 1 damaged stretch(es)"), warning
            assert f"offset {at} " in warning, (byte, bit, warning)


@pytest.mark.parametrize("byte", [0, 5, 20, -5])  # the length's low and high bytes, a payload byte, the value
def test_one_flipped_byte_in_a_large_file_is_caught_on_the_fast_path(tmp_path: Path, byte: int) -> None:
    # 10 tags × 2,000 steps: full default chunks, and the framer guessing thousands of records at once.
    tags = [f"train/loss_{j}" for j in range(10)]
    records = [VERSION] + [_framed(_scalar(s, t)) for s in range(2000) for t in tags]
    victim = 1 + 1234 * 10 + 7  # step 1234 of train/loss_7
    damaged = bytearray(records[victim])
    damaged[byte if byte >= 0 else len(damaged) - 4 + byte] ^= 0x10
    at = sum(len(r) for r in records[:victim])
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(b"".join(records[:victim]) + bytes(damaged) + b"".join(records[victim + 1 :]))
    log = tfevents.read(path)
    for tag in tags:
        want = [s for s in range(2000) if not (tag == "train/loss_7" and s == 1234)]
        np.testing.assert_array_equal(log.series[tag].steps, want)
        np.testing.assert_array_equal(log.series[tag].values, want)
    (warning,) = log.warnings
    assert warning.startswith(f"{path.name}: ") and f"offset {at} " in warning, warning
