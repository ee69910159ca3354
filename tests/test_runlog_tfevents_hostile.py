"""Damaged and hostile event files: CRC-checked records, resynchronisation, empty records, the series cap.

Every file is built here from the TFRecord definition: uint64 length, uint32 masked CRC32C of the length,
the data (a serialized Event), uint32 masked CRC32C of the data;
mask = ((crc >> 15) | (crc << 17)) + 0xa282ead8.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import crc32c
import numpy as np
import pytest
from fuzz_catalogue import replayable
from hypothesis import given
from hypothesis import strategies as st
from tensorboard.compat.proto import event_pb2, summary_pb2

from inspector.errors import InspectorError
from inspector.runlog.readers import tfevents


def _masked_crc(data: bytes) -> int:
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _framed(data: bytes, length_crc: int | None = None, data_crc: int | None = None) -> bytes:
    """`data` as one TFRecord; a CRC given here replaces the right one (to damage it)."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", _masked_crc(length) if length_crc is None else length_crc)
        + data
        + struct.pack("<I", _masked_crc(data) if data_crc is None else data_crc)
    )


def _scalar(step: int, tag: str = "loss", value: float | None = None) -> bytes:
    return event_pb2.Event(
        wall_time=1e9 + step,
        step=step,
        summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(step) if value is None else value)]
        ),
    ).SerializeToString()


VERSION = _framed(event_pb2.Event(wall_time=1e9, file_version="brain.Event:2").SerializeToString())


def _records(n: int) -> list[bytes]:
    return [VERSION] + [_framed(_scalar(s)) for s in range(n)]


def _offset(records: list[bytes], index: int) -> int:
    return sum(len(r) for r in records[:index])


def _write(tmp_path: Path, data: bytes, name: str = "events.out.tfevents.1.host") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_corrupt_length_at_record_500_keeps_every_record_after_it(tmp_path: Path) -> None:
    records = _records(1000)
    at = _offset(records, 501)  # scalar 500 (record 0 is file_version)
    damaged = bytearray(records[501])
    damaged[0] ^= 0x40  # the length now claims 64 more bytes than the record has
    path = _write(tmp_path, b"".join(records[:501]) + bytes(damaged) + b"".join(records[502:]))
    log = tfevents.read(path)
    np.testing.assert_array_equal(log.series["loss"].steps, [s for s in range(1000) if s != 500])
    np.testing.assert_array_equal(log.series["loss"].values, [s for s in range(1000) if s != 500])
    (warning,) = log.warnings
    assert f"offset {at} ({len(damaged)} byte(s): the length does not match its CRC)" in warning
    assert "last record" not in warning


def test_bad_data_crc_is_skipped_and_named_by_offset(tmp_path: Path) -> None:
    records = _records(100)
    at = _offset(records, 43)
    data = bytearray(_scalar(42))
    data[-1] ^= 0x01  # the value's last byte: still a well-formed event, only the CRC tells
    path = _write(
        tmp_path,
        b"".join(records[:43])
        + _framed(bytes(data), data_crc=_masked_crc(_scalar(42)))
        + b"".join(records[44:]),
    )
    log = tfevents.read(path)
    assert 42 not in log.series["loss"].steps.tolist() and len(log.series["loss"]) == 99
    assert f"offset {at} ({len(records[43])} byte(s): the data does not match its CRC)" in log.warnings[0]


def test_many_damaged_stretches_are_counted(tmp_path: Path) -> None:
    records = _records(300)
    parts = [r if i % 10 != 5 else _framed(_scalar(i), length_crc=0) for i, r in enumerate(records)]
    log = tfevents.read(_write(tmp_path, b"".join(parts)))
    assert len(log.series["loss"]) == 300 - 30
    assert "skipped 30 damaged stretch(es)" in log.warnings[0] and "and 25 more" in log.warnings[0]


def test_two_million_empty_records_are_refused_saying_what_was_found(tmp_path: Path) -> None:
    path = _write(tmp_path, _framed(b"") * 2_000_000)
    with pytest.raises(InspectorError, match=r"2000000 of its 2000000 record\(s\) are empty"):
        tfevents.read(path)


def test_empty_records_among_scalars_are_counted(tmp_path: Path) -> None:
    path = _write(tmp_path, b"".join(_records(20)) + _framed(b"") * 500)
    log = tfevents.read(path)
    assert len(log.series["loss"]) == 20
    assert any("500 of its 521 record(s) are empty" in w for w in log.warnings)


def test_run_directory_without_scalars_says_so(tmp_path: Path) -> None:
    histogram = event_pb2.Event(
        wall_time=1e9,
        step=1,
        summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="w", histo=summary_pb2.HistogramProto(min=0.0, max=1.0))]
        ),
    )
    for sub in ("train", "validation"):
        (tmp_path / sub).mkdir()
        _write(tmp_path / sub, VERSION + _framed(histogram.SerializeToString()))
    refusal = r"no scalar series in 2 event file\(s\).*none of its 2 valid record\(s\) holds a scalar"
    with pytest.raises(InspectorError, match=refusal):
        tfevents.read(tmp_path)


def test_file_of_garbage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InspectorError, match=r"no valid TensorBoard record in 4000 byte\(s\).*offset 0"):
        tfevents.read(_write(tmp_path, b"junk" * 1000))


def test_distinct_tags_are_capped_keeping_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTOR_MAX_SERIES", "50")
    monkeypatch.setattr(tfevents, "_CHUNK_RECORDS", 64)  # the cap holds across chunks
    tags = [f"t{j:03d}" for j in range(200)]
    path = _write(tmp_path, VERSION + b"".join(_framed(_scalar(s, t)) for s in range(3) for t in tags))
    log = tfevents.read(path)
    assert list(log.series) == tags[:50]
    assert all(len(log.series[t]) == 3 for t in tags[:50])
    assert any("150 tag(s) beyond the first 50 were dropped (450 point(s))" in w for w in log.warnings)


def test_tags_across_files_of_a_run_are_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTOR_MAX_SERIES", "30")
    for k, sub in enumerate(("a", "b")):
        (tmp_path / sub).mkdir()
        _write(tmp_path / sub, VERSION + b"".join(_framed(_scalar(1, f"t{k}{j:02d}")) for j in range(20)))
    log = tfevents.read(tmp_path)
    assert len(log.series) == 30 and "a/t019" in log.series and "b/t010" not in log.series
    assert any("10 tag(s) beyond the first 30 of the run were dropped" in w for w in log.warnings)


_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from pathlib import Path
from inspector.errors import InspectorError
from inspector.runlog.readers import tfevents
try:
    log = tfevents.read(Path(sys.argv[1]))
except InspectorError as exc:
    print("refused", exc)
else:
    print("series", len(log.series))
"""


def _run_capped(path: Path, timeout: float = 60) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_two_megabytes_of_distinct_tags_read_under_one_gigabyte(tmp_path: Path) -> None:
    # The shortest scalar records (3-byte tags, no step) as many distinct tags as 2 MB holds (~54k).
    records, size, j = [VERSION], len(VERSION), 0
    while size < 2_000_000:
        records.append(_framed(_scalar(0, f"{j:x}")))
        size += len(records[-1])
        j += 1
    path = _write(tmp_path, b"".join(records[:-1]))
    assert _run_capped(path).strip() == "series 5000"


def test_nested_fake_headers_cost_bounded_crc_work(tmp_path: Path) -> None:
    # Valid length headers every 16 bytes, each claiming a record to the end of the file with bad data:
    # checking every one in full would be 1 MB × 65k of CRC (~5 s); the CRC budget ends the search.
    n = 1 << 20
    buf = bytearray(os.urandom(n))
    for q in range(0, n - 16, 16):
        length = struct.pack("<Q", n - q - 16)
        buf[q : q + 12] = length + struct.pack("<I", _masked_crc(length))
    path = _write(tmp_path, bytes(buf))
    t0 = time.perf_counter()
    out = _run_capped(path)
    assert out.startswith("refused") and "too much damage" in out
    assert time.perf_counter() - t0 < 20


KINDS = ("length_crc", "data_crc", "truncated", "garbage")


def _corrupt(kind: str, step: int, cut: int, junk: bytes) -> bytes:
    data = _scalar(step)
    if kind == "length_crc":
        return _framed(data, length_crc=_masked_crc(struct.pack("<Q", len(data))) ^ 1)
    if kind == "data_crc":
        return _framed(data, data_crc=_masked_crc(data) ^ 0x80)
    if kind == "truncated":
        whole = _framed(data)
        return whole[: 1 + cut % (len(whole) - 1)]
    return junk


@pytest.mark.parametrize("kind", KINDS)
@replayable(40)
@given(
    n=st.integers(1, 60),
    where=st.integers(0, 1000),
    cut=st.integers(0, 1000),
    junk=st.binary(min_size=1, max_size=80),
    chunk=st.sampled_from([1, 2, 3, 7, 8192]),
)
def test_one_corrupt_record_anywhere_keeps_all_others(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    n: int,
    where: int,
    cut: int,
    junk: bytes,
    chunk: int,
) -> None:
    monkeypatch.setattr(tfevents, "_CHUNK_RECORDS", chunk)
    records = _records(n)
    index = 1 + where % (n + 1)  # after the file_version record, before any scalar or at the end
    bad = _corrupt(kind, 10**6, cut, junk)  # a step no good record has: kept, it would show
    at = _offset(records, index)
    path = _write(tmp_path, b"".join(records[:index]) + bad + b"".join(records[index:]))
    log = tfevents.read(path)
    np.testing.assert_array_equal(log.series["loss"].steps, np.arange(n))
    np.testing.assert_array_equal(log.series["loss"].values, np.arange(n, dtype=np.float64))
    damage = [w for w in log.warnings if "offset" in w]
    assert len(damage) == 1 and re.search(rf"\boffset {at}\b", damage[0]), (log.warnings, at)


def test_run_directory_keeps_its_good_files_around_a_damaged_one(tmp_path: Path) -> None:
    _write(tmp_path, b"".join(_records(20)), name="events.out.tfevents.1.host")
    _write(tmp_path, b"junk" * 1000, name="events.out.tfevents.2.host")
    log = tfevents.read(tmp_path)
    assert log.series["loss"].steps.tolist() == list(range(20))
    assert any(
        w.startswith("events.out.tfevents.2.host skipped: no valid TensorBoard record") for w in log.warnings
    )


def test_run_directory_ignores_fifos_and_symlinks_that_lead_outside(tmp_path: Path) -> None:
    run, outside = tmp_path / "run", tmp_path / "outside"
    run.mkdir()
    outside.mkdir()
    _write(run, b"".join(_records(5)), name="events.out.tfevents.1.host")
    secret = _write(outside, VERSION + _framed(_scalar(1, tag="secret")), name="events.out.tfevents.9.other")
    (run / "events.out.tfevents.3.link").symlink_to(secret)
    os.mkfifo(run / "events.out.tfevents.4.fifo")
    log = tfevents.read(run)  # neither blocks on the FIFO nor reads the other directory's file
    assert list(log.series) == ["loss"]
