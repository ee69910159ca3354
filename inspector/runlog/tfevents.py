"""TensorBoard event files (`events.out.tfevents.*`), read without TensorFlow.

An event file is a TFRecord stream: per record a uint64 payload length, a uint32 masked CRC of
that length, the payload (a serialized `tensorboard.Event`), and a uint32 masked CRC of the
payload. CRCs are not checked (pure-Python CRC32C would dominate the read time); a record cut
off by the end of the file is dropped with a warning, as TensorBoard itself does.

Scalars come in two styles: `simple_value` (PyTorch's SummaryWriter, TF1, detectron2) and a
rank-0 float/double `tensor` (TF2 `tf.summary.scalar`, Keras).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from tensorboard.compat.proto import event_pb2

from inspector.errors import InspectorError
from inspector.runlog.record import RunLog, assemble

NAME = "tfevents"
DESCRIPTION = "TensorBoard event file or run directory (events.out.tfevents.*)"

FILE_MARKER = "tfevents"
HEADER = struct.Struct("<QI")  # payload length, masked CRC of the length
LENGTH = struct.Struct("<Q")
FOOTER_BYTES = 4  # masked CRC of the payload
# TensorFlow DataType enum values (tensorflow/core/framework/types.proto) of scalar tensors we read.
DT_FLOAT, DT_DOUBLE = 1, 2
# Records decoded per vectorised pass: large enough that NumPy's per-call overhead vanishes, small
# enough that the per-record temporaries (offsets, varint scratch) stay a few MB whatever the file size.
_CHUNK_RECORDS = 1 << 14
# A first record longer than this is not the small file_version event a writer starts with.
MAX_FIRST_RECORD = 1 << 20


@dataclass(frozen=True)
class _Scalars:
    """Scalar points of one event file, per tag, in file order."""

    steps: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    wall_times: dict[str, np.ndarray]
    warnings: tuple[str, ...]


def _frame(buf, path: Path, warnings: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(payload starts, payload lengths) of the complete records of `buf`, _CHUNK_RECORDS at a time.

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
        limit = _CHUNK_RECORDS
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


def _varints(arr: np.ndarray, pos: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _gather(arr: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    """(len(pos), width) uint8 matrix of the bytes at each position (clipped to the buffer)."""
    idx = np.minimum(pos[:, None] + np.arange(width), arr.shape[0] - 1)
    return arr[idx]


def _fast_simple_values(buf: bytes, starts: np.ndarray, lengths: np.ndarray):
    """Vectorised decode of the common record: one `simple_value` scalar per event.

    Measured ~15x faster than `Event.FromString` per record on 1M events (bench/bench_tfevents.py):
    the wire layout `wall_time(1) [step(2)] summary(5){value(1){tag(1) simple_value(2)}}` is checked
    for all records at once; any record that deviates is left to protobuf.
    Returns (ok mask, steps, wall_times, values, tag_start, tag_len) over all records.
    """
    arr = np.frombuffer(buf, dtype=np.uint8)
    last = arr.shape[0] - 1
    end = starts + lengths

    def at(p: np.ndarray) -> np.ndarray:
        return arr[np.minimum(p, last)]

    ok = (lengths > 9) & (at(starts) == 0x09)  # field 1 (wall_time), fixed64
    wall = _gather(arr, starts + 1, 8).copy().view("<f8").ravel()
    p = starts + 9
    has_step = at(p) == 0x10  # field 2 (step), varint; absent when the step is 0
    step, nb, good = _varints(arr, p + 1, end)
    ok &= good | ~has_step
    p = np.where(has_step, p + 1 + nb, p)
    step = np.where(has_step, step, np.uint64(0))
    ok &= at(p) == 0x2A  # field 5 (summary), length-delimited
    summary_len, nb, good = _varints(arr, p + 1, end)
    p = p + 1 + nb
    ok &= good & (p + summary_len.astype(np.int64) == end)
    ok &= at(p) == 0x0A  # Summary.value, exactly one
    value_len, nb, good = _varints(arr, p + 1, end)
    p = p + 1 + nb
    ok &= good & (p + value_len.astype(np.int64) == end)
    ok &= at(p) == 0x0A  # Value.tag
    tag_len, nb, good = _varints(arr, p + 1, end)
    tag_start = p + 1 + nb
    tag_len = tag_len.astype(np.int64)
    p = tag_start + tag_len
    ok &= good & (at(p) == 0x15) & (p + 5 == end)  # Value.simple_value, fixed32, and nothing after
    values = _gather(arr, p + 1, 4).copy().view("<f4").ravel().astype(np.float64)
    return ok, step.view(np.int64), wall, values, tag_start, tag_len


def _tag_names(buf: bytes, tag_start: np.ndarray, tag_len: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(distinct tags, index of each record's tag), grouping equal byte strings without a Python loop."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    names: list[str] = []
    index = np.empty(tag_start.shape, dtype=np.int64)
    for width in np.unique(tag_len):
        rows = np.flatnonzero(tag_len == width)
        if width == 0:
            index[rows] = len(names)
            names.append("")
            continue
        block = _gather(arr, tag_start[rows], int(width))
        # Sorting uint64 hashes is several times faster than sorting the byte strings (measured on
        # 1M tags); every row is then compared with its group's first row, so a collision cannot pass.
        weights = np.random.default_rng(0).integers(1, 2**63, size=int(width), dtype=np.uint64) | np.uint64(1)
        hashes = (block.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
        _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        if not np.array_equal(block, block[first[inverse]]):
            contiguous = np.ascontiguousarray(block).view(f"V{int(width)}").ravel()
            _, first, inverse = np.unique(contiguous, return_index=True, return_inverse=True)
            inverse = inverse.ravel()
        index[rows] = inverse + len(names)
        names.extend(bytes(block[i]).decode("utf-8", errors="replace") for i in first.tolist())
    return names, index


def _tensor_scalar(tensor) -> float | None:
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


def _read_file(path: Path) -> _Scalars:
    """Every scalar point of one event file, per tag in file order."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            # Memory-mapped, not read: the file's bytes stay in the page cache instead of a Python
            # bytes object as large as the file (6× the payload of a simple_value log).
            buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    except OSError as exc:
        raise InspectorError(f"cannot open ({exc.strerror or exc})", path=path) from None
    warnings: list[str] = []
    names: list[str] = []
    tag_ids: dict[str, int] = {}
    # Per field, tag id → that tag's pieces, one per chunk.
    parts: tuple[dict[int, list[np.ndarray]], ...] = ({}, {}, {})  # steps, values, wall times
    first_seen: dict[int, tuple[int, int]] = {}   # tag id → (chunk, row) where it first appears
    undecodable = 0
    n_records = 0
    try:
        for chunk, (starts, lengths) in enumerate(_frame(buf, path, warnings)):
            n_records += starts.size
            tag_of, step_of, wall_of, value_of, bad = _decode_chunk(buf, starts, lengths, names, tag_ids)
            undecodable += bad
            by_tag = np.argsort(tag_of, kind="stable")
            sorted_tags = tag_of[by_tag]
            bounds = np.flatnonzero(np.diff(sorted_tags)) + 1
            for a, b in zip(np.concatenate([[0], bounds]).tolist(), np.append(bounds, by_tag.size).tolist()):
                if a == b:
                    continue
                rows, t = by_tag[a:b], int(sorted_tags[a])
                first_seen.setdefault(t, (chunk, int(rows[0])))
                for store, field_ in zip(parts, (step_of, value_of, wall_of)):
                    store.setdefault(t, []).append(field_[rows])
    finally:
        if isinstance(buf, mmap.mmap):
            buf.close()
    if n_records == 0:
        raise InspectorError("no complete TensorBoard record", path=path)
    if undecodable:
        warnings.append(f"{path.name}: {undecodable} record(s) are not valid events and were skipped.")
    out_steps, out_values, out_walls = {}, {}, {}
    outs: tuple[dict[str, np.ndarray], ...] = ({}, {}, {})
    for t in sorted(first_seen, key=first_seen.__getitem__):  # tags in order of first appearance
        # Field by field, dropping a tag's pieces as soon as they are joined: the peak holds the
        # result plus one field of one tag, not two copies of everything.
        for store, out in zip(parts, outs):
            pieces = store.pop(t)
            out[names[t]] = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
            del pieces
    out_steps, out_values, out_walls = outs
    return _Scalars(out_steps, out_values, out_walls, tuple(warnings))


def _decode_chunk(buf, starts: np.ndarray, lengths: np.ndarray, names: list[str], tag_ids: dict[str, int]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(tag id, step, wall time, value) per scalar point of these records in file order, and how many
    records were undecodable; new tags are added to `names` / `tag_ids`."""
    ok, steps, walls, values, tag_start, tag_len = _fast_simple_values(buf, starts, lengths)
    chunk_names, chunk_index = _tag_names(buf, tag_start[ok], tag_len[ok])
    for name in chunk_names:
        if name not in tag_ids:
            tag_ids[name] = len(names)
            names.append(name)
    global_id = np.asarray([tag_ids[n] for n in chunk_names], dtype=np.int64)
    order = [np.flatnonzero(ok)]
    row_tag = [global_id[chunk_index] if chunk_names else np.zeros(0, np.int64)]
    row_step, row_wall, row_value = [steps[ok]], [walls[ok]], [values[ok]]
    slow = np.flatnonzero(~ok)
    undecodable = 0
    if slow.size:
        recs, tags, s_steps, s_walls, s_values = [], [], [], [], []
        for i in slow.tolist():
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
                    x = _tensor_scalar(v.tensor)
                    if x is None:
                        continue
                else:
                    continue
                if v.tag not in tag_ids:
                    tag_ids[v.tag] = len(names)
                    names.append(v.tag)
                recs.append(i)
                tags.append(tag_ids[v.tag])
                s_steps.append(event.step)
                s_walls.append(event.wall_time)
                s_values.append(x)
        order.append(np.asarray(recs, dtype=np.int64))
        row_tag.append(np.asarray(tags, dtype=np.int64))
        row_step.append(np.asarray(s_steps, dtype=np.int64))
        row_wall.append(np.asarray(s_walls, dtype=np.float64))
        row_value.append(np.asarray(s_values, dtype=np.float64))
    rec = np.concatenate(order)
    # Usually only the file_version record went to protobuf and the rows are already in order.
    file_order = slice(None) if np.all(rec[1:] > rec[:-1]) else np.argsort(rec, kind="stable")
    return (np.concatenate(row_tag)[file_order], np.concatenate(row_step)[file_order],
            np.concatenate(row_wall)[file_order], np.concatenate(row_value)[file_order], undecodable)


def _event_files(directory: Path) -> list[Path]:
    """Event files directly in `directory` or one level below, oldest first (by name's timestamp)."""
    found = [p for p in directory.glob(f"*{FILE_MARKER}*") if p.is_file()]
    found += [p for p in directory.glob(f"*/*{FILE_MARKER}*") if p.is_file()]

    def key(p: Path):
        parts = p.name.split(".")
        stamp = parts[3] if len(parts) > 3 and parts[3].isdigit() else ""
        return (str(p.parent), stamp.zfill(20), p.name)

    return sorted(found, key=key)


def _framework(tags: Sequence[str]) -> str:
    names = {t.rsplit("/", 1)[-1] if not t.startswith(("train/", "val/")) else t for t in tags}
    if "total_loss" in names and any(n.startswith("loss_") for n in names):
        return "detectron2"
    if any(t.endswith("train/box_loss") for t in tags):
        return "ultralytics"
    return "tensorboard"


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """A RunLog of every scalar tag in an event file, or in all event files of a run directory.

    In a directory, files are read oldest first and a later file wins where steps overlap; when
    event files sit in several sub-directories (e.g. Keras's train/ and validation/), each tag is
    prefixed with its sub-directory so same-named tags stay apart.
    """
    files = _event_files(path) if path.is_dir() else [path]
    if not files:
        raise InspectorError("no TensorBoard event files (events.out.tfevents.*) in this directory", path=path)
    prefix = len({f.parent for f in files}) > 1
    steps: dict[str, list[np.ndarray]] = {}
    values: dict[str, list[np.ndarray]] = {}
    walls: dict[str, list[np.ndarray]] = {}
    warnings: list[str] = []
    for f in files:
        scalars = _read_file(f)
        warnings.extend(scalars.warnings)
        head = "" if not prefix or f.parent == path else f"{f.parent.relative_to(path).as_posix()}/"
        for tag in scalars.steps:
            name = head + tag
            steps.setdefault(name, []).append(scalars.steps[tag])
            values.setdefault(name, []).append(scalars.values[tag])
            walls.setdefault(name, []).append(scalars.wall_times[tag])
    framework = _framework(list(steps))
    # Restarts are judged per tag, as TensorBoard does: tags logged at different rates (an eval
    # every N steps written after the training step) must not read as a step going backwards.
    series, non_finite, segments = {}, {}, []
    tag_warnings: dict[str, list[str]] = {}
    shared: list[np.ndarray] = []   # distinct step arrays seen so far
    for name in list(steps):
        log = assemble(str(path), NAME, framework, _joined(steps.pop(name)),
                       {name: _joined(values.pop(name))}, wall_times=_joined(walls.pop(name)))
        for tag, s in log.series.items():
            # Tags logged at the same steps (the usual case) share one steps array: on a 2-tag log
            # that is a sixth of the result's memory.
            same = next((a for a in shared if a.shape == s.steps.shape and np.array_equal(a, s.steps)), None)
            if same is None:
                shared.append(s.steps)
            series[tag] = s if same is None else replace(s, steps=same)
        non_finite.update(log.non_finite)
        if len(log.segments) > len(segments):
            segments = log.segments
        for w in log.warnings:
            if "non-finite value(s) kept as NaN" not in w:  # summed over tags below
                tag_warnings.setdefault(w, []).append(name)
    for w, tags in tag_warnings.items():
        warnings.append(f"{', '.join(tags)}: {w}")
    if non_finite:
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(non_finite.items()))
        warnings.append(f"{sum(non_finite.values())} non-finite value(s) kept as NaN ({detail}).")
    config = {"event_files": [str(f) for f in files]}
    return RunLog(str(path), NAME, framework, series, config, segments, warnings, non_finite)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The parts end to end; the part itself (no copy) when there is only one."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _first_record_is_event(head: bytes) -> bool:
    if len(head) < HEADER.size:
        return False
    length, _ = HEADER.unpack_from(head, 0)
    if length > MAX_FIRST_RECORD or HEADER.size + length > len(head):
        return False
    event = event_pb2.Event.FromString(head[HEADER.size:HEADER.size + length])
    return event.file_version.startswith("brain.Event")


def sniff(path: Path, head: bytes) -> float:
    """0.9 for an event file (by name or by a first record holding `file_version: brain.Event:*`)."""
    try:
        if path.is_dir():
            return 0.9 if _event_files(path) else 0.0
        if FILE_MARKER in path.name and head:
            return 0.9
        return 0.9 if _first_record_is_event(head) else 0.0
    except Exception:  # sniff never raises: not decodable means not ours
        return 0.0
