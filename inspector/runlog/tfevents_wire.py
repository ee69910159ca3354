"""The bytes of a TensorBoard event file: TFRecord framing and the protobuf wire format, vectorised.

An event file is a TFRecord stream: per record a uint64 payload length, a uint32 masked CRC of
that length, the payload (a serialized `tensorboard.Event`), and a uint32 masked CRC of the
payload. CRCs are not checked (pure-Python CRC32C would dominate the read time). The common record
(one `simple_value` scalar) is decoded for thousands of records at once with NumPy; anything else
goes through tensorboard's protobuf classes. tfevents builds the RunLog from what this module finds.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Iterator

import numpy as np
from tensorboard.compat.proto import event_pb2

HEADER = struct.Struct("<QI")  # payload length, masked CRC of the length
LENGTH = struct.Struct("<Q")
FOOTER_BYTES = 4  # masked CRC of the payload
# TensorFlow DataType enum values (tensorflow/core/framework/types.proto) of scalar tensors we read.
DT_FLOAT, DT_DOUBLE = 1, 2


def frame(buf, path: Path, warnings: list[str], chunk_records: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(payload starts, payload lengths) of the complete records of `buf`, `chunk_records` at a time.

    Appends a warning when the last record is cut off. Chunks keep the per-record Python ints of
    this loop to a few MB; one pair of lists for the whole file measured ~9× the payload at the peak.
    """
    pos, n = 0, len(buf)
    unpack = LENGTH.unpack_from
    size = HEADER.size
    total = 0
    while True:
        starts: list[int] = []
        lengths: list[int] = []
        add_start, add_length = starts.append, lengths.append  # this loop is the read's hot spot
        limit = chunk_records
        while pos + size <= n and limit:
            (length,) = unpack(buf, pos)
            if pos + size + length + FOOTER_BYTES > n:
                break
            add_start(pos + size)
            add_length(length)
            pos += size + length + FOOTER_BYTES
            limit -= 1
        total += len(starts)
        if starts:
            yield np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64)
        if limit:  # stopped before the chunk was full: the end of the file (or a cut-off record)
            break
    if pos != n:
        warnings.append(f"{path.name}: the last record is truncated ({n - pos} byte(s) at offset {pos}); "
                        f"kept the {total} complete record(s) before it.")


def varints(arr: np.ndarray, pos: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values as uint64, byte counts, ok) of the protobuf varints starting at each `pos`."""
    value = np.zeros(pos.shape, dtype=np.uint64)
    nbytes = np.zeros(pos.shape, dtype=np.int64)
    done = np.zeros(pos.shape, dtype=bool)
    last = arr.shape[0] - 1
    for k in range(10):
        p = pos + k
        active = ~done & (p < end)
        if not active.any():
            break
        b = arr[np.minimum(p, last)].astype(np.uint64)
        value |= np.where(active, (b & np.uint64(0x7F)) << np.uint64(7 * k), np.uint64(0))
        finished = active & (b < 0x80)
        nbytes[finished] = k + 1
        done |= finished
    return value, nbytes, done


def fast_layout(arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ok, tag start, tag length) per record: ok where it is the common event, one `simple_value` scalar.

    The wire layout `wall_time(1) [step(2)] summary(5){value(1){tag(1) simple_value(2)}}` is checked
    for all records at once (measured ~15x faster than `Event.FromString` per record on 1M events,
    bench/bench_tfevents.py); any record that deviates is left to protobuf.
    """
    last = arr.shape[0] - 1
    end = starts + lengths

    def at(p: np.ndarray) -> np.ndarray:
        return arr[np.minimum(p, last)]

    ok = (lengths > 9) & (at(starts) == 0x09)  # field 1 (wall_time), fixed64
    p = starts + 9
    has_step = at(p) == 0x10  # field 2 (step), varint; absent when the step is 0
    _, nb, good = varints(arr, p + 1, end)
    ok &= good | ~has_step
    p = np.where(has_step, p + 1 + nb, p)
    ok &= at(p) == 0x2A  # field 5 (summary), length-delimited
    summary_len, nb, good = varints(arr, p + 1, end)
    p = p + 1 + nb
    ok &= good & (p + summary_len.astype(np.int64) == end)
    ok &= at(p) == 0x0A  # Summary.value, exactly one
    value_len, nb, good = varints(arr, p + 1, end)
    p = p + 1 + nb
    ok &= good & (p + value_len.astype(np.int64) == end)
    ok &= at(p) == 0x0A  # Value.tag
    tag_len, nb, good = varints(arr, p + 1, end)
    tag_start = p + 1 + nb
    tag_len = tag_len.astype(np.int64)
    p = tag_start + tag_len
    ok &= good & (at(p) == 0x15) & (p + 5 == end)  # Value.simple_value, fixed32, and nothing after
    return ok, tag_start, tag_len


def at_every_byte(buf, dtype: str) -> np.ndarray:
    """A read-only view of `buf` as `dtype` starting at every byte offset (overlapping, unaligned).

    Indexing it reads a fixed-width field at any offset with no per-record temporaries; gathering
    the bytes as an (n, width) matrix first held ~100 B per record at pass 2's peak.
    """
    width = np.dtype(dtype).itemsize
    return np.ndarray((len(buf) - width + 1,), dtype=dtype, buffer=buf, offset=0, strides=(1,))


def fast_fields(arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, wall times, values) of records that `_fast_layout` accepted."""
    walls = at_every_byte(arr, "<f8")[starts + 1]
    steps, _, _ = varints(arr, starts + 10, starts + lengths)
    steps[arr[starts + 9] != 0x10] = 0  # no step field: step 0
    with np.errstate(invalid="ignore"):  # a signalling NaN in damaged bytes stays NaN, without a warning
        values = at_every_byte(arr, "<f4")[starts + lengths - 4].astype(np.float64)  # the last field
    return steps.view(np.int64), walls, values  # int64 steps travel as two's complement


def _tag_words(arr: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """(len(starts), ceil(width / 8)) uint64 words that together hold each tag's bytes exactly.

    Words start every 8 bytes and the last one ends at the tag's end (overlapping the one before); a
    tag under 8 bytes is shifted down to drop the bytes read before it (a tag never starts in the
    first 8 bytes of a file). Words instead of single bytes measured ~4× faster to gather and hash.
    """
    words = at_every_byte(arr, "<u8")
    if width < 8:
        return (words[starts + (width - 8)] >> np.uint64(8 * (8 - width)))[:, None]
    offsets = np.append(np.arange((width + 7) // 8 - 1) * 8, width - 8)
    return words[starts[:, None] + offsets]


def tag_names(buf, tag_start: np.ndarray, tag_len: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(distinct tags, index of each record's tag), grouping equal byte strings without a Python loop."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    names: list[str] = []
    index = np.empty(tag_start.shape, dtype=np.int64)
    for width in np.unique(tag_len).tolist():
        rows = np.flatnonzero(tag_len == width)
        if width == 0:
            index[rows] = len(names)
            names.append("")
            continue
        starts = tag_start[rows]
        words = _tag_words(arr, starts, width)
        # Sorting uint64 hashes is several times faster than sorting the byte strings (measured on
        # 1M tags); every row is then compared with its group's first row, so a collision cannot pass.
        # A tag of up to 8 bytes is its own single word: no hash, nothing to compare.
        weights = np.random.default_rng(0).integers(1, 2**63, size=words.shape[1], dtype=np.uint64) | np.uint64(1)
        hashes = words[:, 0] if words.shape[1] == 1 else (words * weights).sum(axis=1, dtype=np.uint64)
        _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        if words.shape[1] > 1 and not np.array_equal(words, words[first[inverse]]):
            rows_as_bytes = np.ascontiguousarray(words).view(f"V{8 * words.shape[1]}").ravel()
            _, first, inverse = np.unique(rows_as_bytes, return_index=True, return_inverse=True)
            inverse = inverse.ravel()
        index[rows] = inverse + len(names)
        names.extend(bytes(buf[a:a + width]).decode("utf-8", errors="replace") for a in starts[first].tolist())
    return names, index


def tensor_scalar(tensor) -> float | None:
    """The value of a rank-0 float/double tensor; None for anything else (histograms, text, images)."""
    if tensor.tensor_shape.dim and any(d.size != 1 for d in tensor.tensor_shape.dim):
        return None
    if tensor.dtype == DT_FLOAT:
        if tensor.float_val:
            return float(tensor.float_val[0])
        if len(tensor.tensor_content) == 4:
            return struct.unpack("<f", tensor.tensor_content)[0]
    if tensor.dtype == DT_DOUBLE:
        if tensor.double_val:
            return float(tensor.double_val[0])
        if len(tensor.tensor_content) == 8:
            return struct.unpack("<d", tensor.tensor_content)[0]
    return None


def slow_points(buf, starts: np.ndarray, lengths: np.ndarray, records: np.ndarray,
                 names: list[str], tag_ids: dict[str, int]) -> tuple[np.ndarray, ...]:
    """(record index, tag id, step, wall time, value) per scalar protobuf finds in `records`, in order,
    and how many of them were not valid events; new tags are added to `names` / `tag_ids`."""
    recs, tags, steps, walls, values = [], [], [], [], []
    undecodable = 0
    for i in records.tolist():
        a = int(starts[i])
        try:
            event = event_pb2.Event.FromString(buf[a:a + int(lengths[i])])
        except Exception:  # protobuf's DecodeError: a corrupt record, counted by the caller
            undecodable += 1
            continue
        if not event.HasField("summary"):
            continue
        for v in event.summary.value:
            kind = v.WhichOneof("value")
            if kind == "simple_value":
                x = float(v.simple_value)
            elif kind == "tensor":
                x = tensor_scalar(v.tensor)
                if x is None:
                    continue
            else:
                continue
            if v.tag not in tag_ids:
                tag_ids[v.tag] = len(names)
                names.append(v.tag)
            recs.append(i)
            tags.append(tag_ids[v.tag])
            steps.append(event.step)
            walls.append(event.wall_time)
            values.append(x)
    return (np.asarray(recs, dtype=np.int64), np.asarray(tags, dtype=np.int64), np.asarray(steps, dtype=np.int64),
            np.asarray(walls, dtype=np.float64), np.asarray(values, dtype=np.float64), undecodable)


def file_order(fast_records: np.ndarray, slow_records: np.ndarray) -> slice | np.ndarray:
    """Index that puts fast-path points followed by protobuf points back in file order."""
    rec = np.concatenate([fast_records, slow_records])
    # Usually only the file_version record went to protobuf and the points are already in order.
    return slice(None) if np.all(rec[1:] > rec[:-1]) else np.argsort(rec, kind="stable")
