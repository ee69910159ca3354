"""The protobuf wire format in NumPy (inspector/runlog/tfevents_wire.py): varints against protobuf's encoder,
and tags told apart by their bytes even when their hashes collide, across chunks."""

from __future__ import annotations

import struct
from pathlib import Path

import crc32c
import numpy as np
import pytest
from google.protobuf.internal.encoder import _VarintBytes
from tensorboard.compat.proto import event_pb2

from inspector.runlog import tfevents_wire
from inspector.runlog.readers import tfevents


def test_varints_read_what_protobuf_writes_and_refuse_what_runs_past_the_end() -> None:
    values = [0, 1, 127, 128, 300, 16383, 16384, 2**21 - 1, 2**21, 2**35 + 7, 2**63 - 1, 2**64 - 1]
    encoded = [_VarintBytes(v) for v in values]  # 2**64 - 1 is how protobuf writes int64 -1: 10 bytes
    buf = np.frombuffer(b"".join(encoded) + b"\x80\x80", dtype=np.uint8)  # then one that never ends
    pos = np.cumsum([0] + [len(e) for e in encoded])
    end = np.append(pos[1:], buf.size)
    got, nbytes, ok = tfevents_wire.varints(buf, pos, end)
    assert got[:-1].tolist() == values and nbytes[:-1].tolist() == [len(e) for e in encoded] and ok[:-1].all()
    assert not ok[-1] and nbytes[-1] == 0
    # The same varints, each cut one byte short by its end: none is complete.
    _, nbytes, ok = tfevents_wire.varints(buf, pos[:-1], pos[:-1] + np.array([len(e) - 1 for e in encoded]))
    assert not ok.any() and not nbytes.any()


def _masked_crc(data: bytes) -> int:
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _framed(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


def _scalar_bytes(step: int, tag: bytes, value: float) -> bytes:
    """A simple_value event written field by field (protobuf's classes take only valid UTF-8 tags)."""
    inner = b"\x0a" + _VarintBytes(len(tag)) + tag + b"\x15" + struct.pack("<f", value)
    summary_value = b"\x0a" + _VarintBytes(len(inner)) + inner
    return (
        b"\x09"
        + struct.pack("<d", 1e9 + step)
        + b"\x10"
        + _VarintBytes(step)
        + b"\x2a"
        + _VarintBytes(len(summary_value))
        + summary_value
    )


def _colliding_tags() -> tuple[bytes, bytes]:
    """Two 16-byte tags whose two words hash alike: w0·a + w1·b = w0·c + w1·d (mod 2⁶⁴)."""
    w0, w1 = (int(w) for w in tfevents_wire._hash_weights(2))
    a, b = struct.unpack("<QQ", b"train/loss_box_1")
    c = struct.unpack("<Q", b"train/ls")[0]
    d = (b + (a - c) * w0 * pow(w1, -1, 2**64)) % 2**64
    first, second = struct.pack("<QQ", a, b), struct.pack("<QQ", c, d)
    words = np.frombuffer(first + second, dtype="<u8").reshape(2, 2)
    hashes = tfevents_wire._hash(words)
    assert hashes[0] == hashes[1] and first != second
    return first, second


@pytest.mark.parametrize("chunk", [3, 8192])
def test_tags_with_colliding_hashes_stay_apart(
    tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tfevents, "_CHUNK_RECORDS", chunk)
    first, second = _colliding_tags()
    version = _framed(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
    records = [_framed(_scalar_bytes(s, tag, s + (0.5 if tag == second else 0.0))) for s in range(1, 20)
               for tag in (first, second)]  # fmt: skip
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(version + b"".join(records))
    log = tfevents.read(path)
    names = [first.decode(), second.decode("utf-8", errors="replace")]
    assert list(log.series) == names
    np.testing.assert_array_equal(log.series[names[0]].values, np.arange(1, 20))
    np.testing.assert_array_equal(log.series[names[1]].values, np.arange(1, 20) + 0.5)
