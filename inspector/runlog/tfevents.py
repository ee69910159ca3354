"""TensorBoard event files (`events.out.tfevents.*`), read without TensorFlow.

An event file is a TFRecord stream: per record a uint64 payload length, a uint32 masked CRC of
that length, the payload (a serialized `tensorboard.Event`), and a uint32 masked CRC of the
payload. CRCs are not checked (pure-Python CRC32C would dominate the read time); a record cut
off by the end of the file is dropped with a warning, as TensorBoard itself does.

Scalars come in two styles: `simple_value` (PyTorch's SummaryWriter, TF1, detectron2) and a
rank-0 float/double `tensor` (TF2 `tf.summary.scalar`, Keras).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

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
# A first record longer than this is not the small file_version event a writer starts with.
MAX_FIRST_RECORD = 1 << 20


@dataclass(frozen=True)
class _Scalars:
    """Scalar points of one event file, per tag, in file order."""

    steps: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    wall_times: dict[str, np.ndarray]
    warnings: tuple[str, ...]


def _frame(buf: bytes, path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(payload starts, payload lengths, warnings) of every complete record in `buf`."""
    starts: list[int] = []
    lengths: list[int] = []
    pos, n = 0, len(buf)
    unpack = LENGTH.unpack_from
    size = HEADER.size
    add_start, add_length = starts.append, lengths.append  # this loop is the read's hot spot
    while pos + size <= n:
        (length,) = unpack(buf, pos)
        if pos + size + length + FOOTER_BYTES > n:
            break
        add_start(pos + size)
        add_length(length)
        pos += size + length + FOOTER_BYTES
    warnings = []
    if pos != n:
        warnings.append(f"{path.name}: the last record is truncated ({n - pos} byte(s) at offset {pos}); "
                        f"kept the {len(starts)} complete record(s) before it.")
    return np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64), warnings


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
        buf = path.read_bytes()
    except OSError as exc:
        raise InspectorError(f"cannot open ({exc.strerror or exc})", path=path) from None
    starts, lengths, warnings = _frame(buf, path)
    if starts.size == 0:
        raise InspectorError("no complete TensorBoard record", path=path)
    ok, steps, walls, values, tag_start, tag_len = _fast_simple_values(buf, starts, lengths)
    names, tag_index = _tag_names(buf, tag_start[ok], tag_len[ok])
    # Rows in file order: (record index, tag, step, wall, value); records protobuf must decode.
    order = [np.flatnonzero(ok)]
    row_tag = [tag_index]
    row_step, row_wall, row_value = [steps[ok]], [walls[ok]], [values[ok]]
    slow = np.flatnonzero(~ok)
    if slow.size:
        tag_ids = {n: i for i, n in enumerate(names)}
        recs, tags, s_steps, s_walls, s_values = [], [], [], [], []
        undecodable = 0
        for i in slow.tolist():
            a = int(starts[i])
            try:
                event = event_pb2.Event.FromString(buf[a:a + int(lengths[i])])
            except Exception:  # protobuf's DecodeError: a corrupt record, counted below
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
        if undecodable:
            warnings.append(f"{path.name}: {undecodable} record(s) are not valid events and were skipped.")
        order.append(np.asarray(recs, dtype=np.int64))
        row_tag.append(np.asarray(tags, dtype=np.int64))
        row_step.append(np.asarray(s_steps, dtype=np.int64))
        row_wall.append(np.asarray(s_walls, dtype=np.float64))
        row_value.append(np.asarray(s_values, dtype=np.float64))
    rec = np.concatenate(order)
    # Usually only the file_version record went to protobuf and the rows are already in order.
    file_order = slice(None) if np.all(rec[1:] > rec[:-1]) else np.argsort(rec, kind="stable")
    tag_of = np.concatenate(row_tag)[file_order]
    step_of = np.concatenate(row_step)[file_order]
    wall_of = np.concatenate(row_wall)[file_order]
    value_of = np.concatenate(row_value)[file_order]
    by_tag = np.argsort(tag_of, kind="stable")
    bounds = np.searchsorted(tag_of[by_tag], np.arange(len(names) + 1))
    out_steps, out_values, out_walls = {}, {}, {}
    present_tags, first_row = np.unique(tag_of, return_index=True)
    for t in present_tags[np.argsort(first_row)].tolist():  # tags in order of first appearance
        name = names[t]
        rows = by_tag[bounds[t]:bounds[t + 1]]
        if rows.size:
            out_steps[name], out_values[name], out_walls[name] = step_of[rows], value_of[rows], wall_of[rows]
    return _Scalars(out_steps, out_values, out_walls, tuple(warnings))


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
    for name in steps:
        log = assemble(str(path), NAME, framework, np.concatenate(steps[name]),
                       {name: np.concatenate(values[name])}, wall_times=np.concatenate(walls[name]))
        series.update(log.series)
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
