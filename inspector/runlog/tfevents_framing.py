"""Where the records of a TensorBoard event file lie (TFRecord framing), both CRCs checked, damage skipped.

An event file is a TFRecord stream: per record a uint64 payload length, a uint32 masked CRC of
that length, the payload (a serialized `tensorboard.Event`), and a uint32 masked CRC of the
payload. Both CRCs are checked (CRC32C from the `crc32c` library), and a bad record is skipped by
resynchronising on the next valid one. tfevents_wire decodes the payloads that `frame` finds.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import crc32c
import numpy as np

HEADER = struct.Struct("<QI")  # payload length, masked CRC of the length
LENGTH = struct.Struct("<Q")
FOOTER_BYTES = 4  # masked CRC of the payload
MASK_DELTA = 0xA282EAD8  # TFRecord's CRC mask: ((crc >> 15) | (crc << 17)) + MASK_DELTA
# Offsets tested per NumPy pass while resynchronising: 64 Ki offsets cost ~2 MB of temporaries.
_RESYNC_WINDOW = 1 << 16
# Records framed in the first batch after a damaged stretch; batches double again while records are valid,
# so a file damaged every few records costs framing proportional to what it keeps.
_AFTER_DAMAGE = 16
# The framer's guesses (`_Framer`): records guessed at first in one NumPy pass, doubled while every guess
# holds; a guess that frames fewer than _GUESS_GAIN records did not pay (one costs 14 µs, walking 80 records),
# so a batch is walked first; the longest period of record lengths looked for (tags written per step);
# records walked one by one when no period holds, doubling while none does. Measured on 200k-record
# buffers whose record length changes every B records: at most 1.1× the walk's time (0.16 µs a record) for
# any B up to 350, 0.5× at B = 1000, 0.13× for B = 100k; a gain of 128 instead of 192 cost 1.4× at B = 200.
_GUESS_FIRST, _GUESS_MOST, _GUESS_GAIN = 256, 1 << 13, 192
_MAX_PERIOD = 32
_WALK_FIRST, _WALK_MOST = 64, 1 << 12
# Data-CRC bytes that records found bad may cost, per byte of file (plus 1 MiB), before the search stops.
BAD_CRC_BYTES_PER_FILE_BYTE = 4
# Damaged stretches named one by one in the warning; the rest are counted.
SHOWN_DAMAGE = 5
# What tfevents reads an event file into: the file mapped in memory, or b"" for an empty file.
WireBuffer = bytes | mmap.mmap


@dataclass(frozen=True)
class Damage:
    """A stretch of bytes that holds no valid record: where it starts, how long it is, and why."""

    offset: int
    size: int
    reason: str


def unmask(stored: np.ndarray) -> np.ndarray:
    """The CRC32C values that TFRecord's masked CRCs stand for (mask = rotate right 15, + 0xa282ead8)."""
    rot = (stored.astype(np.uint32) - np.uint32(MASK_DELTA)).astype(np.uint32)
    return ((rot >> np.uint32(17)) | (rot << np.uint32(15))).astype(np.uint32)


def _length_tables() -> tuple[np.ndarray, int]:
    """(8, 256) tables and a constant with crc32c(8 bytes) = const ^ XOR_j table[j, byte_j].

    CRC32C is affine over GF(2), so the CRC of a fixed-width field splits into one lookup per byte
    (slicing-by-8); the tables are taken from the crc32c library itself, so they cannot drift from it.
    """
    zero = crc32c.crc32c(bytes(8))
    table = np.empty((8, 256), dtype=np.uint32)
    for j in range(8):
        for b in range(256):
            table[j, b] = crc32c.crc32c(bytes(j) + bytes([b]) + bytes(7 - j)) ^ zero
    return table, zero


_LENGTH_TABLE, _LENGTH_ZERO = _length_tables()


def length_crcs(lengths: np.ndarray) -> np.ndarray:
    """crc32c of each little-endian uint64 in `lengths`, vectorised (8 lookups per value)."""
    v = lengths.astype(np.uint64)
    crc = np.full(v.shape, _LENGTH_ZERO, dtype=np.uint32)
    for j in range(8):
        crc ^= _LENGTH_TABLE[j][((v >> np.uint64(8 * j)) & np.uint64(0xFF)).astype(np.intp)]
    return crc


def _headers_ok(arr: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Whether a TFRecord header at each offset `at` is valid: its length matches its CRC and the record
    fits in the file."""
    n = arr.shape[0]
    lengths = at_every_byte(arr, "<u8")[at]
    ok = length_crcs(lengths) == unmask(at_every_byte(arr, "<u4")[at + 8])
    room = (n - HEADER.size - FOOTER_BYTES - at).astype(np.int64)
    return ok & (room >= 0) & (lengths <= np.maximum(room, 0).astype(np.uint64))


class _CrcBudget:
    """Bytes a read may spend on the data CRCs of records that turn out bad.

    Every failed record costs its claimed length; headers nested in the payloads of bad records could
    otherwise make a 2 MB file cost 10⁵ × 1 MB of CRC (quadratic). Counted in file order, so the result does
    not depend on the chunk size.
    """

    def __init__(self, size: int) -> None:
        self.left = BAD_CRC_BYTES_PER_FILE_BYTE * size + (1 << 20)

    def spend(self, nbytes: int) -> bool:
        self.left -= nbytes
        return self.left >= 0


def _data_ok(buf: WireBuffer, start: int, length: int) -> bool:
    (stored,) = struct.unpack_from("<I", buf, start + length)
    return crc32c.crc32c(buf[start : start + length]) == int(unmask(np.asarray([stored]))[0])


def _resync(buf: WireBuffer, arr: np.ndarray, pos: int, budget: _CrcBudget) -> tuple[int, bool]:
    """(offset of the next valid record at or after `pos`, or len(buf); whether the budget ran out)."""
    n = len(buf)
    last = n - HEADER.size - FOOTER_BYTES  # the last offset a record (even an empty one) can start at
    while pos <= last:
        at = np.arange(pos, min(pos + _RESYNC_WINDOW, last + 1), dtype=np.int64)
        for q in at[_headers_ok(arr, at)].tolist():
            (length,) = LENGTH.unpack_from(buf, q)
            if _data_ok(buf, q + HEADER.size, length):
                return q, False
            if not budget.spend(length):
                return n, True
        pos = int(at[-1]) + 1
    return n, False


class _Framer:
    """`take(pos, count)`: the records from `pos` on, each starting where the one before ended, as the
    sequential walk over the lengths finds them, but for thousands of records per NumPy pass where record
    lengths repeat.

    The walk is sequential by nature (a start is the previous start plus the previous length), and in
    Python it cost 0.3 µs a record: 0.3 s of a 0.72 s read of the 1M-record bench file
    (bench/bench_tfevents.py). But a log repeats its record lengths with the period of the tags it writes
    per step, so the next lengths are guessed as the last period repeated, the length at every guessed
    start is read in one gather, and each record up to the first whose length differs from its guess is
    exactly what the walk finds (its start follows from lengths all read back). That first record is taken
    with its real length, and a new period is looked for. Where no period holds, the walk goes on one
    record at a time, in batches that double while guesses keep failing, so a file of irregular lengths
    costs little more than the walk alone. Lengths are trusted here; `_valid_prefix` checks both CRCs.
    """

    def __init__(self, buf: WireBuffer, arr: np.ndarray) -> None:
        self._buf = buf
        self._n = len(buf)
        self._lengths = at_every_byte(arr, "<u8") if self._n >= LENGTH.size else np.zeros(0, np.uint64)
        self._recent: list[int] = []  # the last lengths framed, at most 2 * _MAX_PERIOD
        self._guess_size = _GUESS_FIRST
        self._walk_size = _WALK_FIRST
        self._walk_next = False  # the last guess failed early: walk a batch before guessing again

    def take(self, pos: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(payload starts, payload lengths) of up to `count` records from `pos`, int64: the walk stops
        early only where a record's header or payload runs past the end of the buffer."""
        starts: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        stopped = False
        while count > 0 and not stopped:
            period = None if self._walk_next else self._period()
            if period is None:
                at, size, stopped = self._walk(pos, min(count, self._walk_size))
                self._walk_size = min(2 * self._walk_size, _WALK_MOST)
                self._walk_next = False
            else:
                want = min(count, self._guess_size)
                at, size, stopped = self._guess(pos, want, period)
                # Every guess held: guess twice as many next time; else about twice what this one framed.
                full = at.size >= want
                self._guess_size = min(2 * want, _GUESS_MOST) if full else max(_GUESS_FIRST, 2 * at.size)
                if at.size >= _GUESS_GAIN:
                    self._walk_size = _WALK_FIRST
                else:  # a guess costs what walking ~80 records does: walk a growing batch first
                    self._walk_next = True
            if not at.size:
                break
            starts.append(at + HEADER.size)
            lengths.append(size)
            count -= at.size
            pos = int(at[-1] + size[-1]) + HEADER.size + FOOTER_BYTES
            self._recent = (self._recent + size[-2 * _MAX_PERIOD :].tolist())[-2 * _MAX_PERIOD :]
        if not starts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(starts), np.concatenate(lengths)

    def _period(self) -> int | None:
        """The shortest period (≤ _MAX_PERIOD) that the recent lengths repeat twice, if any."""
        recent = self._recent
        for p in range(1, min(_MAX_PERIOD, len(recent) // 2) + 1):
            if recent[-p:] == recent[-2 * p : -p]:
                return p
        return None

    def _guess(self, pos: int, want: int, period: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """(header offsets, lengths, whether the buffer ended) of the records that the guess of `want`
        records, the recent lengths repeated with `period`, frames exactly as the walk would."""
        # np.tile, not np.resize: resize joins `want / period` copies one by one (70 ms of a 0.64 s read).
        guess = np.tile(np.asarray(self._recent[-period:], dtype=np.int64), -(-want // period))[:want]
        at = np.empty(want, dtype=np.int64)
        at[0] = pos
        np.cumsum(guess[:-1] + (HEADER.size + FOOTER_BYTES), out=at[1:])
        at[1:] += pos
        room = (self._n - HEADER.size - FOOTER_BYTES) - at  # payload bytes that fit after each header
        read = self._lengths[np.clip(at, 0, max(self._n - LENGTH.size, 0))]
        held = (room >= guess) & (read == guess.astype(np.uint64))
        m = want if held.all() else int(held.argmin())
        if m == want:
            return at, guess, False
        # Record m starts where the walk would put it (the lengths before it were read back): take it
        # with its real length, if it fits.
        start = int(at[m])
        if start + HEADER.size > self._n:
            return at[:m], guess[:m], True
        (length,) = LENGTH.unpack_from(self._buf, start)
        if start + HEADER.size + length + FOOTER_BYTES > self._n:
            return at[:m], guess[:m], True
        guess[m] = length
        return at[: m + 1], guess[: m + 1], False

    def _walk(self, pos: int, count: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """(header offsets, lengths, whether the buffer ended) of up to `count` records, one at a time."""
        n = self._n
        buf = self._buf
        unpack = LENGTH.unpack_from
        size = HEADER.size
        starts: list[int] = []
        lengths: list[int] = []
        add_start, add_length = starts.append, lengths.append
        while pos + size <= n and count:
            (length,) = unpack(buf, pos)
            if pos + size + length + FOOTER_BYTES > n:
                break
            add_start(pos)
            add_length(length)
            pos += size + length + FOOTER_BYTES
            count -= 1
        return np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64), count > 0


def _valid_prefix(
    buf: WireBuffer, arr: np.ndarray, at: np.ndarray, size: np.ndarray, careful: bool
) -> tuple[int, int]:
    """(how many of the records that `_Framer` framed at payload starts `at` with lengths `size` are valid
    before the first bad one, data-CRC bytes spent on records after it).

    Both CRCs are checked: the lengths' as NumPy lookups; the data's with one library call per record,
    +0.2 µs a record (measured on 1M; the same CRC as NumPy table lookups over the gathered payloads took
    0.29 µs). `careful` checks one record at a time up to the first bad one, so that records framed after
    it cost nothing.
    """
    ok = length_crcs(size) == unmask(at_every_byte(arr, "<u4")[at - FOOTER_BYTES])
    good = int(ok.argmin()) if not ok.all() else ok.size
    expected = unmask(at_every_byte(arr, "<u4")[at[:good] + size[:good]])
    crc = crc32c.crc32c
    starts, lengths = at[:good].tolist(), size[:good].tolist()
    if careful:
        for i, (a, length, want) in enumerate(zip(starts, lengths, expected.tolist(), strict=True)):
            if crc(buf[a : a + length]) != want:
                return i, 0
        return good, 0
    crcs = [crc(buf[a : a + length]) for a, length in zip(starts, lengths, strict=True)]
    bad = np.flatnonzero(np.asarray(crcs, dtype=np.int64) != expected)
    if not bad.size:
        return good, 0
    return int(bad[0]), int(size[int(bad[0]) + 1 :].sum())


def frame(
    buf: WireBuffer, path: Path, warnings: list[str], chunk_records: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(payload starts, payload lengths) of the valid records of `buf`, up to `chunk_records` at a time.

    A record is valid when its length matches the length's CRC, it fits in the file and its data matches
    the data's CRC (as TensorBoard's readers check). Past a bad one the reader resynchronises on the next
    valid record, so one damaged record costs only itself; each skipped stretch is named by byte offset in
    a warning. Chunks keep the per-record Python ints to a few MB; one pair of lists for the whole file
    measured ~9× the payload at the peak.
    """
    n = len(buf)
    arr = np.frombuffer(buf, dtype=np.uint8) if n else np.zeros(0, dtype=np.uint8)
    budget = _CrcBudget(n)
    damage: list[Damage] = []
    pos, total, want = 0, 0, chunk_records
    wasted = 0  # data-CRC bytes of records framed after a bad one in the same batch
    held_starts: list[np.ndarray] = []
    held_lengths: list[np.ndarray] = []
    held = 0
    framer = _Framer(buf, arr)
    while pos < n:
        requested = min(want, chunk_records - held)
        starts, lengths = framer.take(pos, requested)
        good, spent = (
            _valid_prefix(buf, arr, starts, lengths, wasted > budget.left) if starts.size else (0, 0)
        )
        wasted += spent
        if good < starts.size:  # the bad record's own CRC, in file order
            budget.spend(int(lengths[good]))
        if good:
            held_starts.append(starts[:good])
            held_lengths.append(lengths[:good])
            held += good
            total += good
            pos = int(starts[good - 1] + lengths[good - 1]) + FOOTER_BYTES
        if good < starts.size or (starts.size < requested and pos < n):
            # The record at `pos` is bad, or runs past the end: skip to the next valid one.
            reason = _why(buf, arr, pos)
            nxt, gave_up = _resync(buf, arr, pos + 1, budget)
            if gave_up:
                reason += "; too much damage to search further"
            damage.append(Damage(pos, nxt - pos, reason))
            pos = nxt
            want = _AFTER_DAMAGE  # re-framing after a bad record stays proportional to what was kept
        else:
            want = min(2 * want, chunk_records)
        if held and (held == chunk_records or pos >= n):
            yield np.concatenate(held_starts), np.concatenate(held_lengths)
            held_starts, held_lengths, held = [], [], 0
    if held:
        yield np.concatenate(held_starts), np.concatenate(held_lengths)
    warnings.extend(damage_warnings(path, damage, total, n))


def _why(buf: WireBuffer, arr: np.ndarray, pos: int) -> str:
    """Why the record at `pos` is not valid, in words."""
    n = len(buf)
    if pos + HEADER.size > n:
        return "a cut-off header"
    length, stored = HEADER.unpack_from(buf, pos)
    if int(length_crcs(np.asarray([length], dtype=np.uint64))[0]) != int(unmask(np.asarray([stored]))[0]):
        return "the length does not match its CRC"
    if pos + HEADER.size + length + FOOTER_BYTES > n:
        return f"a record of {length} byte(s) that runs past the end of the file"
    return "the data does not match its CRC"


def damage_warnings(path: Path, damage: list[Damage], kept: int, size: int) -> list[str]:
    """Warnings naming each skipped stretch by byte offset (the first few, then a count)."""
    if not damage:
        return []
    last = damage[-1]
    out = []
    if last.offset + last.size == size and (last.reason.startswith(("a cut-off", "a record of"))):
        # The common case of a log copied while it was written: only the end is cut off.
        out.append(
            f"{path.name}: the last record is truncated ({last.size} byte(s) at offset {last.offset}); "
            f"kept the {kept} complete record(s) before it."
        )
        damage = damage[:-1]
    if damage:
        shown = "; ".join(f"offset {d.offset} ({d.size} byte(s): {d.reason})" for d in damage[:SHOWN_DAMAGE])
        more = f"; and {len(damage) - SHOWN_DAMAGE} more" if len(damage) > SHOWN_DAMAGE else ""
        out.append(
            f"{path.name}: skipped {len(damage)} damaged stretch(es), {sum(d.size for d in damage)} "
            f"byte(s) in all, and kept the {kept} valid record(s) around them: {shown}{more}."
        )
    return out


def at_every_byte(buf: np.ndarray, dtype: str) -> np.ndarray:
    """A read-only view of `buf` as `dtype` starting at every byte offset (overlapping, unaligned).

    Indexing it reads a fixed-width field at any offset with no per-record temporaries; gathering
    the bytes as an (n, width) matrix first held ~100 B per record at pass 2's peak.
    """
    width = np.dtype(dtype).itemsize
    return np.ndarray((len(buf) - width + 1,), dtype=dtype, buffer=buf, offset=0, strides=(1,))
