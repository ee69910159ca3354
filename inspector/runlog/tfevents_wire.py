"""The scalars in TensorBoard events: the protobuf wire format, decoded with NumPy.

The common record (one `simple_value` scalar) is decoded for thousands of records at once; anything else
goes through tensorboard's protobuf classes. tfevents_framing finds the records (both CRCs
checked); tfevents builds the RunLog from what this module finds.
"""

from __future__ import annotations

import functools
import struct

import numpy as np
from tensorboard.compat.proto import event_pb2, tensor_pb2

from inspector.runlog.tfevents_framing import WireBuffer, at_every_byte

# TensorFlow DataType enum values (tensorflow/core/framework/types.proto) of scalar tensors we read.
DT_FLOAT, DT_DOUBLE = 1, 2


def varints(arr: np.ndarray, pos: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values as uint64, byte counts, ok) of the protobuf varints starting at each `pos` and ending
    before `end`; where one does not end in time, ok is False and its count 0.

    Bytes after the first are read only for the varints still going on: most (lengths, tags, small
    steps) are one byte, and passes over every row for the rest took twice as long.
    """
    last = arr.shape[0] - 1
    b = arr[np.minimum(pos, last)]
    inside = pos < end
    value = np.where(inside, b & 0x7F, 0).astype(np.uint64)
    done = inside & (b < 0x80)
    nbytes = done.astype(np.int64)
    rows = np.flatnonzero(inside & ~done)  # the varints that go on past their first byte
    for k in range(1, 10):
        p = pos[rows] + k
        going = p < end[rows]
        rows, p = rows[going], p[going]
        if not rows.size:
            break
        b = arr[np.minimum(p, last)]
        value[rows] |= (b & 0x7F).astype(np.uint64) << np.uint64(7 * k)
        finished = rows[b < 0x80]
        nbytes[finished] = k + 1
        done[finished] = True
        rows = rows[b >= 0x80]
    return value, nbytes, done


def fast_layout(
    arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray
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


def fast_fields(
    arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray
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
    offsets = [*range(0, width - 8, 8), width - 8]
    # Column by column into a column-major array: hashing and comparing then run down contiguous columns.
    # One 2D gather, then sums and comparisons along rows of 2 words, took 3× as long (0.4 ms a chunk of 8k).
    out = np.empty((starts.size, len(offsets)), dtype=np.uint64, order="F")
    for j, offset in enumerate(offsets):
        out[:, j] = words[starts + offset]
    return out


# Tags a TagTable remembers per width. Past it, a chunk's other tags are grouped afresh: remembering all of
# 300k distinct tags (re-sorting the table per chunk) took a read from 0.75 s to 1.6 s.
_KNOWN_MOST = 1 << 12


class TagTable:
    """Tag ids of records' tag bytes, remembered from chunk to chunk of one file.

    `names` and `ids` are shared with the caller (protobuf-decoded tags are added there too). Each tag
    seen on the fast path is kept as (hash, id, words) per byte width; a chunk's tags are looked up among
    them (`np.searchsorted`, then every row compared word by word with the tag it found), and only rows
    that match no known tag are grouped anew. Grouping every chunk from scratch (`np.unique` with its
    stable sort) took 0.10-0.13 s of a 0.58 s read of the 1M-record bench file; the lookup takes 0.03 s.
    """

    def __init__(self, buf: WireBuffer, names: list[str], ids: dict[str, int]) -> None:
        self._buf = buf
        self._arr = np.frombuffer(buf, dtype=np.uint8)
        self.names = names
        self.ids = ids
        self._known: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # width → hashes, ids, words

    def lookup(self, tag_start: np.ndarray, tag_len: np.ndarray) -> np.ndarray:
        """The tag id (int64) of the tag bytes at each start; new tags are named and added."""
        out = np.empty(tag_start.shape, dtype=np.int64)
        widths = [int(tag_len[0])] if tag_len.size and (tag_len == tag_len[0]).all() else np.unique(tag_len)
        for width in [int(w) for w in widths]:
            rows = slice(None) if len(widths) == 1 else np.flatnonzero(tag_len == width)
            out[rows] = self._lookup_width(tag_start[rows], width)
        return out

    def _lookup_width(self, starts: np.ndarray, width: int) -> np.ndarray:
        if width == 0:
            if "" not in self.ids:
                self.ids[""] = len(self.names)
                self.names.append("")
            return np.full(starts.shape, self.ids[""], dtype=np.int64)
        words = _tag_words(self._arr, starts, width)
        hashes = _hash(words)
        out = np.empty(starts.shape, dtype=np.int64)
        miss = np.ones(starts.shape, dtype=bool)
        known = self._known.get(width)
        if known is not None:
            k_hashes, k_ids, k_words = known
            at = np.minimum(np.searchsorted(k_hashes, hashes), k_hashes.size - 1)
            hit = k_hashes[at] == hashes
            for j in range(words.shape[1]):  # every word, so that a hash collision cannot pass
                hit &= k_words[at, j] == words[:, j]
            out[hit] = k_ids[at[hit]]
            miss = ~hit
        if miss.any():
            out[miss] = self._group(starts[miss], words[miss], hashes[miss], width)
        return out

    def _group(self, starts: np.ndarray, words: np.ndarray, hashes: np.ndarray, width: int) -> np.ndarray:
        """Ids of tags that no known tag matched: equal byte strings grouped, named, and remembered."""
        # Sorting uint64 hashes is several times faster than sorting the byte strings (measured on
        # 1M tags); every row is then compared with its group's first row, so a collision cannot pass.
        # A tag of up to 8 bytes is its own single word: no hash, nothing to compare.
        _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        if words.shape[1] > 1 and not np.array_equal(words, words[first[inverse]]):
            rows_as_bytes = np.ascontiguousarray(words).view(f"V{8 * words.shape[1]}").ravel()
            _, first, inverse = np.unique(rows_as_bytes, return_index=True, return_inverse=True)
            inverse = inverse.ravel()
        found = [
            bytes(self._buf[a : a + width]).decode("utf-8", errors="replace") for a in starts[first].tolist()
        ]
        ids, names = self.ids, self.names  # inline, not a method per name: 300k distinct tags are a case
        for name in found:
            if name not in ids:
                ids[name] = len(names)
                names.append(name)
        group_ids = np.asarray([ids[name] for name in found], dtype=np.int64)
        self._remember(width, hashes[first], group_ids, words[first])
        return group_ids[inverse]

    def _remember(self, width: int, hashes: np.ndarray, ids: np.ndarray, words: np.ndarray) -> None:
        """Add tags to the known ones of `width`, skipping hashes already known (a collision's second tag
        keeps taking `_group`, which stays exact), up to _KNOWN_MOST."""
        known = self._known.get(width)
        if known is not None and known[0].size >= _KNOWN_MOST:
            return
        if known is not None:
            fresh = ~np.isin(hashes, known[0])
            hashes = np.concatenate([known[0], hashes[fresh]])
            ids = np.concatenate([known[1], ids[fresh]])
            words = np.concatenate([known[2], words[fresh]])
        hashes, keep = np.unique(hashes, return_index=True)
        self._known[width] = (hashes, ids[keep], words[keep])


def _hash(words: np.ndarray) -> np.ndarray:
    """One uint64 per row of `words`: the word itself for one word, else a fixed random-weighted sum."""
    if words.shape[1] == 1:
        return words[:, 0]
    weights = _hash_weights(words.shape[1])
    hashes = words[:, 0] * weights[0]
    for j in range(1, words.shape[1]):
        hashes += words[:, j] * weights[j]
    return hashes


@functools.cache
def _hash_weights(n: int) -> np.ndarray:
    """Odd random weights for `n` words (read-only), the same in every chunk and every read: a generator per
    chunk cost 16 µs, 2 ms of a 1M-record read."""
    weights = np.random.default_rng(0).integers(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)
    weights.flags.writeable = False
    return weights


def tensor_scalar(tensor: tensor_pb2.TensorProto) -> float | None:
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


def slow_points(
    buf: WireBuffer,
    starts: np.ndarray,
    lengths: np.ndarray,
    records: np.ndarray,
    names: list[str],
    tag_ids: dict[str, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(record index, tag id, step, wall time, value) per scalar protobuf finds in `records`, in order,
    and how many of them were not valid events; new tags are added to `names` / `tag_ids`."""
    recs, tags, steps, walls, values = [], [], [], [], []
    undecodable = 0
    for i in records.tolist():
        a = int(starts[i])
        try:
            event = event_pb2.Event.FromString(buf[a : a + int(lengths[i])])
        except Exception:  # protobuf's DecodeError: a corrupt record, counted by the caller
            undecodable += 1
            continue
        if not event.HasField("summary"):
            continue
        for v in event.summary.value:
            kind = v.WhichOneof("value")
            x: float | None
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
    return (
        np.asarray(recs, dtype=np.int64),
        np.asarray(tags, dtype=np.int64),
        np.asarray(steps, dtype=np.int64),
        np.asarray(walls, dtype=np.float64),
        np.asarray(values, dtype=np.float64),
        undecodable,
    )


def file_order(fast_records: np.ndarray, slow_records: np.ndarray) -> slice | np.ndarray:
    """Index that puts fast-path points followed by protobuf points back in file order."""
    rec = np.concatenate([fast_records, slow_records])
    # Usually only the file_version record went to protobuf and the points are already in order.
    return slice(None) if np.all(rec[1:] > rec[:-1]) else np.argsort(rec, kind="stable")
