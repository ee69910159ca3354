"""The two-pass TensorBoard reader: exact results against protobuf, shared steps, bounded memory."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import crc32c
import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2

from inspector.runlog import tfevents_wire
from inspector.runlog.readers import tfevents

HEADER = struct.Struct("<QI")


def _masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC32C of `data`."""
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _framed(data: bytes) -> bytes:
    """`data` as one TFRecord: uint64 length, masked CRC of the length, data, masked CRC of the data."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


def _record(event: event_pb2.Event) -> bytes:
    return _framed(event.SerializeToString())


def _simple(step: int, tag: str, value: float, wall: float) -> event_pb2.Event:
    return event_pb2.Event(
        wall_time=wall,
        step=step,
        summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]),
    )


def _tensor_value(tag: str, value: float) -> summary_pb2.Summary.Value:
    tensor = tensor_pb2.TensorProto(
        dtype=tfevents_wire.DT_DOUBLE,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        tensor_content=struct.pack("<d", value),
    )
    return summary_pb2.Summary.Value(tag=tag, tensor=tensor)


def _write(path: Path, events: list[event_pb2.Event]) -> Path:
    first = event_pb2.Event(wall_time=1.0, file_version="brain.Event:2")
    path.write_bytes(b"".join(_record(e) for e in [first, *events]))
    return path


def _decode(path: Path) -> dict[str, tuple[list[int], list[float], list[float]]]:
    """tag → (steps, values, wall times) of every scalar, decoded record by record with protobuf."""
    data = path.read_bytes()
    out: dict[str, tuple[list[int], list[float], list[float]]] = {}
    pos = 0
    while pos + HEADER.size <= len(data):
        (length, _) = HEADER.unpack_from(data, pos)
        if pos + HEADER.size + length + 4 > len(data):
            break
        event = event_pb2.Event.FromString(data[pos + HEADER.size : pos + HEADER.size + length])
        pos += HEADER.size + length + 4
        for v in event.summary.value:
            if v.WhichOneof("value") == "simple_value":
                x = v.simple_value
            elif v.WhichOneof("value") == "tensor":
                x = struct.unpack("<d", v.tensor.tensor_content)[0]
            else:
                continue
            steps, values, walls = out.setdefault(v.tag, ([], [], []))
            steps.append(event.step)
            values.append(x)
            walls.append(event.wall_time)
    return out


def _assert_exact(path: Path) -> tfevents._Scalars:
    got = tfevents._read_file(path)
    want = _decode(path)
    assert list(got.steps) == list(want)  # tags in order of first appearance
    for tag, (steps, values, walls) in want.items():
        np.testing.assert_array_equal(got.steps[tag], steps, err_msg=tag)
        np.testing.assert_array_equal(got.values[tag], values, err_msg=tag)
        np.testing.assert_array_equal(got.wall_times[tag], walls, err_msg=tag)
        assert got.steps[tag].dtype == np.int64 and got.values[tag].dtype == np.float64
    return got


def test_tags_at_identical_steps_share_one_steps_array(tmp_path: Path) -> None:
    tags = ["train/loss", "train/lr", "train/acc"]
    events = [
        _simple(s, t, s * 0.5 + j, 1e9 + s + 0.1 * j) for s in range(0, 300, 3) for j, t in enumerate(tags)
    ]
    path = _write(tmp_path / "events.out.tfevents.1.h", events)
    scalars = _assert_exact(path)
    a, b, c = (scalars.steps[t] for t in tags)
    assert a is b and b is c
    log = tfevents.read(path)
    assert log.series["train/loss"].steps is log.series["train/acc"].steps
    assert log.series["train/lr"].wall_times is not log.series["train/loss"].wall_times


@pytest.mark.parametrize("chunk", [1, 2, 5, tfevents._CHUNK_RECORDS])
def test_equal_counts_with_different_steps_stay_exact(
    tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tfevents, "_CHUNK_RECORDS", chunk)
    # "b" runs ahead of "a" (first seen) from step 1 on, and parts from it only at its last point;
    # "c" has as many points as both but other steps from the start.
    events = [_simple(0, "a", 0.0, 1.0), _simple(0, "b", 1.0, 2.0)]
    for s in range(1, 20):
        events += [_simple(s if s < 19 else 99, "b", s, 3.0), _simple(s, "a", -s, 4.0)]
    events += [_simple(1000 + s, "c", s, 5.0) for s in range(20)]
    scalars = _assert_exact(_write(tmp_path / "events.out.tfevents.1.h", events))
    assert scalars.steps["a"] is not scalars.steps["b"] and scalars.steps["c"] is not scalars.steps["a"]


def test_simple_and_tensor_scalars_mixed_in_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tfevents, "_CHUNK_RECORDS", 4)
    events = []
    for s in range(30):
        events.append(_simple(s, "loss", 1.0 / (s + 1), 10.0 + s))
        # A multi-value summary: a tensor scalar, a histogram (not a scalar) and a simple value.
        values = [
            _tensor_value("epoch_loss", 2.0 * s),
            summary_pb2.Summary.Value(tag="weights", histo=summary_pb2.HistogramProto(min=0.0, max=1.0)),
            summary_pb2.Summary.Value(tag="loss", simple_value=-1.0),
        ]
        if s % 3 == 0:
            events.append(
                event_pb2.Event(wall_time=20.0 + s, step=s, summary=summary_pb2.Summary(value=values))
            )
    scalars = _assert_exact(_write(tmp_path / "events.out.tfevents.1.h", events))
    assert set(scalars.steps) == {"loss", "epoch_loss"}
    assert scalars.values["loss"].size == 40


def test_truncated_last_record_is_dropped_with_a_warning(tmp_path: Path) -> None:
    events = [_simple(s, "loss", float(s), 1.0 + s) for s in range(50)]
    whole = _write(tmp_path / "whole.tfevents", events)
    cut = tmp_path / "events.out.tfevents.1.cut"
    cut.write_bytes(whole.read_bytes()[:-7])
    scalars = _assert_exact(cut)
    np.testing.assert_array_equal(scalars.steps["loss"], np.arange(49))
    assert len(scalars.warnings) == 1 and "truncated" in scalars.warnings[0]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_chunk_boundaries_do_not_change_the_result(
    tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(chunk)
    events = []
    for s in range(60):
        for tag in ("a", "bb", "ccc"):
            if rng.random() < 0.7:
                events.append(_simple(s, tag, float(rng.random()), 1e9 + float(rng.random())))
        if s % 7 == 0:
            events.append(
                event_pb2.Event(
                    wall_time=3.0, step=s, summary=summary_pb2.Summary(value=[_tensor_value("ccc", -1.0 * s)])
                )
            )
    path = _write(tmp_path / "events.out.tfevents.1.h", events)
    default = tfevents._read_file(path)
    monkeypatch.setattr(tfevents, "_CHUNK_RECORDS", chunk)
    small = _assert_exact(path)
    for tag in default.steps:
        np.testing.assert_array_equal(small.steps[tag], default.steps[tag])
        np.testing.assert_array_equal(small.values[tag], default.values[tag])


def _fixed_width_log(path: Path, n_steps: int, tags: tuple[str, ...]) -> None:
    """A SummaryWriter-style log built with NumPy: steps of 3-byte varints give every record one width."""
    first = 1 << 14
    assert first + n_steps < 1 << 21
    template = np.frombuffer(_record(_simple(first, tags[0], 0.5, 1.0)), dtype=np.uint8)
    rows = np.tile(template, (n_steps * len(tags), 1))
    step = np.repeat(np.arange(first, first + n_steps), len(tags))
    rows[:, 12 + 1 : 12 + 9] = (1e9 + step.astype(np.float64)).view(np.uint8).reshape(-1, 8)
    rows[:, 12 + 10] = (step & 0x7F) | 0x80
    rows[:, 12 + 11] = ((step >> 7) & 0x7F) | 0x80
    rows[:, 12 + 12] = step >> 14
    end = template.size - 4
    rows[:, end - 4 : end] = (step * 1e-3).astype("<f4").view(np.uint8).reshape(-1, 4)
    tag_at = end - 5 - len(tags[0])
    for j, tag in enumerate(tags):
        rows[j :: len(tags), tag_at : tag_at + len(tag)] = np.frombuffer(tag.encode(), dtype=np.uint8)
    crcs = np.asarray([_masked_crc(r[12:end].tobytes()) for r in rows], dtype="<u4")
    rows[:, end:] = crcs.view(np.uint8).reshape(-1, 4)
    path.write_bytes(rows.tobytes())


def test_reading_peaks_within_three_times_the_payload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 7's goal, on a file small enough for tracemalloc (which slows the read ~10×): smaller chunks
    # scale the per-chunk scratch down with it. bench/bench_memory.py measures 1M steps at the default.
    monkeypatch.setattr(tfevents, "_CHUNK_RECORDS", 1024)
    n_steps, tags = 100_000, ("loss", "rate")
    path = tmp_path / "events.out.tfevents.1.h"
    _fixed_width_log(path, n_steps, tags)
    tfevents.read(path)  # imports and first-call caches out of the measurement
    tracemalloc.start()
    try:
        log = tfevents.read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert set(log.series) == set(tags) and len(log.series["loss"]) == n_steps
    np.testing.assert_array_equal(log.series["rate"].steps, np.arange(1 << 14, (1 << 14) + n_steps))
    np.testing.assert_allclose(log.series["loss"].values, (log.series["loss"].steps * 1e-3).astype("f4"))
    payload = n_steps * len(tags) * 8
    assert peak <= 3 * payload, peak / payload


def test_tags_of_every_width_keep_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tags are grouped by 8-byte words: same-width tags that differ in one byte at either end or in the
    # middle, around the 8- and 16-byte word edges, and non-ASCII tags.
    tags = [c * 1 for c in "ab"] + ["x" * (w - 1) + c for w in (7, 8, 9, 16, 17) for c in "ab"]
    tags += ["a" + "m" * 14 + "z", "b" + "m" * 14 + "z", "m" * 7 + "q" + "m" * 8, "ü/loss", "é/loss"]
    monkeypatch.setattr(tfevents, "_CHUNK_RECORDS", 16)
    events = [_simple(s, t, float(j), 1.0) for s in range(5) for j, t in enumerate(tags)]
    scalars = _assert_exact(_write(tmp_path / "events.out.tfevents.1.h", events))
    assert list(scalars.values) == tags
    assert all(scalars.values[t].tolist() == [float(j)] * 5 for j, t in enumerate(tags))


def test_signalling_nan_reads_as_nan_without_a_warning(tmp_path: Path) -> None:
    import warnings

    body = _simple(3, "loss", 1.0, 1.0).SerializeToString()
    body = body[:-4] + struct.pack("<I", 0x7F800001)  # simple_value's bits: a signalling NaN
    path = tmp_path / "events.out.tfevents.1.host"
    version = _record(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2"))
    path.write_bytes(version + _framed(body))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log = tfevents.read(path)
    assert np.isnan(log.series["loss"].values).all() and log.non_finite == {"loss": 1}
