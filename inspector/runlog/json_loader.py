"""Parsing JSON lines into columns: `Loader` turns a file's pieces into numeric and text columns in file
order, bad lines skipped and counted (jsonlines.load drives it over a file, or over what was appended).

The fast path parses line-aligned pieces of the file against the keys already known, with polars where
it provably loses nothing (json_polars.py: ~1.8× faster on flat rows), else `pyarrow.json.read_json`
(block-parallel C++); each piece's numeric columns are copied out before the next is parsed (so the peak
holds one piece's Arrow table, not the whole file's). Two things are never handed to pyarrow:

- a line nested deeper than limits.MAX_JSON_DEPTH: pyarrow's parser recurses per level, so a 63 kB
  line of 30,000 `[` killed the process and 6k-15k levels cost 8-51 s. Each piece's brackets are
  counted first (`json_depth.deep_lines`, ~3 ms per 8 MB piece) and such lines are skipped with a warning;
- a piece whose rows × distinct keys could explode: pyarrow builds a dense table per block, so a
  468 kB file whose rows each add 5 new keys became 2.35 GB. Pieces are parsed against the schema
  already seen (`explicit_schema`, unexpected keys are an error), which bounds the table to
  rows × known keys; new keys are inferred only on ranges small enough that rows × colons (an
  upper bound on rows × keys) stays under CELLS. Once more than _WIDE keys are known, the rest
  of the file is read line by line into sparse columns, and keys beyond limits.max_series() are
  dropped with a count.

Only when a piece fails does the tolerant path run: its lines are parsed by bisection, so every
well-formed line is kept and only the bad ones fall to `json.loads` or are skipped with a warning
that names their line numbers. Columns are stored densely when a key is logged on at least half of
the rows, else as (row indices, values) (`json_columns.Column`).
"""

from __future__ import annotations

import json
import math
from array import array
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from inspector import limits
from inspector.runlog import pieces as piecing
from inspector.runlog.json_ahead import CELLS, MAX_LINE_BYTES, Ahead, parse_bounded, read_ahead
from inspector.runlog.json_arrow import UNPARSED, count, leaf_count, merged, normalized
from inspector.runlog.json_columns import (
    MAX_LIST_ITEMS,
    Column,
    JsonRows,
    all_present,
    is_all_present,
    table_columns,
)
from inspector.runlog.json_depth import deep_lines
from inspector.runlog.pieces import line_pieces

# Below this many lines, bisection stops calling pyarrow and parses line by line (per-call
# overhead of pyarrow is ~50 µs; json.loads of one short line is ~5 µs).
_LINE_BY_LINE = 64

# Known keys beyond which the rest of a file is read line by line into sparse columns: a per-class
# AP table of COCO's 80 classes is ~500 keys; more than this on a table of rows is a sparse log.
_WIDE = 1024

# Dropped key names remembered for the count; past this the warning says "more than".
_COUNTED_DROPS = 1_000_000

# Worker threads parsing the next pieces while the loader takes the current one apart.
_READ_AHEAD = 2

# How many bad line numbers a warning lists before it says "…".
_SHOWN_LINES = 10


# --- the loader -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """Rows parsed from one range of lines, in file order (its columns are over its own rows)."""

    n_rows: int
    numbers: dict[str, Column]
    texts: dict[str, Column]
    lines: np.ndarray | int  # the rows' file lines, or the first of n_rows consecutive ones

    def last_line(self) -> int:
        return self.lines + self.n_rows - 1 if isinstance(self.lines, int) else int(self.lines[-1])


@dataclass
class _Notes:
    """Lines skipped, by why, for the warnings."""

    bad: list[int] = field(default_factory=list)
    too_long: list[int] = field(default_factory=list)
    deep: list[int] = field(default_factory=list)


class Loader:
    """Parses a file's pieces into chunks: the known schema, the admitted keys and what was skipped."""

    def __init__(self, lists: bool = False) -> None:
        self.schema: pa.StructType | None = None
        self.line_by_line = False  # past _WIDE keys: the rest of the file goes to json.loads
        self.chunks: list[Chunk] = []
        self.notes = _Notes()
        self.cap = limits.max_series()
        self.admitted: dict[str, dict[str, None]] = {"numbers": {}, "texts": {}}
        self.dropped: dict[str, set[str]] = {"numbers": set(), "texts": set()}
        # Keys seen holding a list (None: lists are skipped, as they always were); as many as series.
        self.lists: dict[str, None] | None = {} if lists else None

    def list_seen(self, names: dict[str, None] | None) -> None:
        """Remember keys that held a list (the first max_series() of them)."""
        if self.lists is None or not names:
            return
        for name in names:
            if len(self.lists) >= self.cap:
                break
            self.lists[name] = None

    def _list_names(self) -> dict[str, None] | None:
        """A fresh, ordered record of the keys that hold lists (same warnings every run); None: skip lists."""
        return None if self.lists is None else {}

    def admit(self, kind: str, name: str) -> bool:
        """Whether key `name` is kept: known already, or among the first max_series() of its kind."""
        known = self.admitted[kind]
        if name in known:
            return True
        if len(known) < self.cap:
            known[name] = None
            return True
        if len(self.dropped[kind]) < _COUNTED_DROPS:
            self.dropped[kind].add(name)
        return False

    def add(
        self, n_rows: int, numbers: dict[str, Column], texts: dict[str, Column], lines: np.ndarray | int
    ) -> None:
        numbers = {k: c for k, c in numbers.items() if self.admit("numbers", k)}
        texts = {k: c for k, c in texts.items() if self.admit("texts", k)}
        self.chunks.append(Chunk(n_rows, numbers, texts, lines))

    def fast(self, piece: pa.Buffer, first_line: int, ahead: Ahead | None = None) -> int | None:
        """Lines of a whole piece parsed against the known schema;
        None (nothing kept) when it needs the tolerant path. `ahead`: the piece's `read_ahead`, if done."""
        if self.schema is None or self.line_by_line:
            return None
        if ahead is None:
            ahead = read_ahead(piece, self.schema, self.lists is not None)
        if ahead.columns is None:
            return None
        numbers, texts, seen = ahead.columns
        if ahead.rows:
            self.list_seen(seen)
            self.add(ahead.rows, numbers, texts, first_line)
        return ahead.n_lines

    def tolerant(self, data: memoryview, first_line_no: int) -> int:
        """Every well-formed object line of `data` (a piece),
        bad lines noted; the number of lines in `data`."""
        raw = np.frombuffer(data, dtype=np.uint8)
        newlines = np.flatnonzero(raw == 10)
        starts = np.concatenate([[0], newlines + 1])
        ends = np.concatenate([newlines, [raw.shape[0]]])
        if starts[-1] == raw.shape[0]:  # the piece ends with a newline: no line after it
            starts, ends = starts[:-1], ends[:-1]
        lengths = ends - starts
        # Blank lines ("" or a lone CR of a CRLF file) are not rows; other whitespace-only lines are
        # rare enough to be sorted out line by line below.
        lone_cr = (lengths == 1) & (raw[np.minimum(starts, max(raw.shape[0] - 1, 0))] == 13)
        keep = (lengths > 0) & ~lone_cr
        too_long = lengths > MAX_LINE_BYTES
        line_no = np.arange(first_line_no, first_line_no + starts.shape[0])
        self.notes.too_long += line_no[too_long].tolist()
        keep &= ~too_long
        deep = deep_lines(data)
        deep = deep[deep < keep.size]
        deep = deep[keep[deep]]
        self.notes.deep += line_no[deep].tolist()
        keep[deep] = False
        idx = np.flatnonzero(keep)
        # Ranges of about a piece each, so a bisection never parses more than a piece at once.
        group = np.cumsum(lengths[idx]) // (8 << 20)
        cuts = np.flatnonzero(np.diff(group)) + 1
        for part in np.split(idx, cuts):
            self._bisect(data, starts, ends, part, line_no)
        return int(starts.shape[0])

    def _bisect(
        self, data: memoryview, starts: np.ndarray, ends: np.ndarray, idx: np.ndarray, line_no: np.ndarray
    ) -> None:
        """Parse lines `idx` with pyarrow where it is safe,
        halving the range around failures, in file order."""
        stack = [idx]
        while stack:
            idx = stack.pop()
            if idx.size == 0:
                continue
            if idx.size <= _LINE_BY_LINE or self.line_by_line:
                self._line_by_line(data, starts, ends, idx, line_no)
                continue
            piece = _joined(data, starts, ends, idx)
            if self._arrow(piece, idx, line_no):
                continue
            if self.line_by_line:
                stack.append(idx)
                continue
            half = idx.size // 2
            stack += [idx[half:], idx[:half]]

    def _arrow(self, piece: bytes | memoryview, idx: np.ndarray, line_no: np.ndarray) -> bool:
        """Parse one range with pyarrow when its table is bounded:
        against the known keys, else inferring when small."""
        rows = int(idx.size)
        table = None
        if self.schema is not None and rows * (leaf_count(self.schema) + 1) <= CELLS:
            try:
                table = parse_bounded(piece, self.schema)
            except UNPARSED:
                table = None
        if table is None and rows * (count(piece, ord(":")) + 1) <= CELLS:
            try:
                table = parse_bounded(piece)
            except UNPARSED:
                return False
            seen = normalized(pa.struct(list(table.schema)))
            widened = seen if self.schema is None else merged(self.schema, seen)
            if leaf_count(widened) > _WIDE:
                self.line_by_line = True
                return False
            self.schema = widened
        if table is None or table.num_rows != rows:  # a line pyarrow read as something other than one object
            return False
        seen = self._list_names()
        try:
            numbers, texts = table_columns(table, seen)
        except UNPARSED:
            return False
        self.list_seen(seen)
        self.add(rows, numbers, texts, line_no[idx])
        return True

    def _line_by_line(
        self, data: memoryview, starts: np.ndarray, ends: np.ndarray, idx: np.ndarray, line_no: np.ndarray
    ) -> None:
        """Lines `idx` through json.loads into sparse columns (keys admitted as they come)."""
        numbers: dict[str, tuple[array, array]] = {}
        texts: dict[str, tuple[array, list]] = {}
        words: dict[str, str] = {}
        lines: list[int] = []
        for i in idx.tolist():
            line = data[starts[i] : ends[i]].tobytes()
            if not line.strip():
                continue
            obj = _loads(line)
            if not isinstance(obj, dict):
                self.notes.bad.append(int(line_no[i]))
                continue
            row = len(lines)
            lines.append(int(line_no[i]))
            flat: dict = {}
            seen = self._list_names()
            _flatten(obj, "", flat, seen)
            self.list_seen(seen)
            for name, v in flat.items():
                if isinstance(v, bool) or v is None:
                    continue
                if isinstance(v, (int, float)):
                    if name in numbers or self.admit("numbers", name):
                        at, vals = numbers.setdefault(name, (array("q"), array("d")))
                        at.append(row)
                        vals.append(_as_float(v))
                elif isinstance(v, str):
                    if name in texts or self.admit("texts", name):
                        at, strs = texts.setdefault(name, (array("q"), []))
                        at.append(row)
                        strs.append(words.setdefault(v, v))
                    try:
                        number = float(v)
                    except ValueError:
                        continue
                    if not math.isnan(number) and (name in numbers or self.admit("numbers", name)):
                        at, vals = numbers.setdefault(name, (array("q"), array("d")))
                        at.append(row)
                        vals.append(number)
        if not lines:
            return
        n = len(lines)
        self.chunks.append(
            Chunk(
                n,
                {
                    k: Column.of(n, np.frombuffer(at, np.int64), np.frombuffer(v, np.float64).copy())
                    for k, (at, v) in numbers.items()
                },
                {
                    k: Column.of(n, np.frombuffer(at, np.int64), np.array(s, dtype=object))
                    for k, (at, s) in texts.items()
                },
                np.array(lines, dtype=np.int64),
            )
        )

    def feed(self, buf: pa.Buffer, first_line: int, consumed: Callable[[int], None] | None = None) -> int:
        """Parse `buf` (whole lines) piece by piece; the line number after its last line. `consumed(n)` is
        told each time the first n bytes of `buf` are parsed (so a mapping can let go of their pages).

        Once the keys are known, the next pieces' polars parses (`read_ahead`) run on _READ_AHEAD worker
        threads while this one turns the current piece into columns; polars and NumPy release the GIL, and one
        polars parse uses one core. A read-ahead done against fewer keys than are known by the time its piece
        comes up is still right: it was only accepted if every key in the piece was among them.
        """
        line, done = first_line, 0
        pieces = line_pieces(buf, max_line=MAX_LINE_BYTES)
        if buf.size <= piecing.PIECE_BYTES:
            for piece in pieces:
                parsed = self.fast(piece, line)
                line += parsed if parsed is not None else self.tolerant(memoryview(piece), line)
            return line
        queued: deque[tuple[pa.Buffer, Future[Ahead] | None]] = deque()
        lists = self.lists is not None
        with ThreadPoolExecutor(_READ_AHEAD, thread_name_prefix="jsonl") as pool:
            while True:
                while len(queued) <= _READ_AHEAD and (piece := next(pieces, None)) is not None:
                    known = self.schema if not self.line_by_line else None
                    queued.append((piece, pool.submit(read_ahead, piece, known, lists) if known else None))
                    if known is None:
                        break  # the keys are learnt from this piece: later ones wait for them
                if not queued:
                    return line
                piece, job = queued.popleft()
                parsed = self.fast(piece, line, job.result() if job is not None else None)
                line += parsed if parsed is not None else self.tolerant(memoryview(piece), line)
                done += piece.size
                del piece, job
                if consumed is not None:
                    consumed(done)

    def finish(self, path: Path, data_tail: bytes) -> JsonRows:
        """All chunks joined in file order, with the warnings of what was skipped."""
        warnings: list[str] = []
        notes = self.notes
        if notes.too_long:
            warnings.append(
                f"{len(notes.too_long)} line(s) over {MAX_LINE_BYTES} bytes skipped "
                f"({_list_lines(np.array(notes.too_long))})."
            )
        if notes.deep:
            warnings.append(
                f"{len(notes.deep)} line(s) nested deeper than {limits.MAX_JSON_DEPTH} levels skipped "
                f"({_list_lines(np.array(sorted(notes.deep)))})."
            )
        bad = sorted(notes.bad)
        n = sum(c.n_rows for c in self.chunks)
        if bad:
            last = max([bad[-1]] + [c.last_line() for c in self.chunks if c.n_rows])
            if bad[-1] == last and not data_tail.endswith(b"\n"):
                warnings.append(
                    f"the last line ({last}) is incomplete (the run was probably still writing); skipped."
                )
                bad = bad[:-1]
            if bad:
                warnings.append(f"{len(bad)} malformed line(s) skipped ({_list_lines(np.array(bad))}).")
        for kind, what in (("numbers", "series"), ("texts", "text keys")):
            dropped = len(self.dropped[kind])
            if dropped:
                count = f"more than {dropped}" if dropped >= _COUNTED_DROPS else str(dropped)
                warnings.append(
                    f"{count} {what} dropped: the log has {count} more distinct "
                    f"{'numeric' if kind == 'numbers' else 'text'} keys than the first {self.cap} "
                    "that are kept (INSPECTOR_MAX_SERIES); a log with that many is usually "
                    "machine-generated."
                )
        if n == 0:
            return JsonRows(0, {}, {}, np.zeros(0, np.int64), warnings, tuple(self.lists or ()))
        lines = np.empty(n, dtype=np.int64)
        row = 0
        for c in self.chunks:
            lines[row : row + c.n_rows] = (
                np.arange(c.lines, c.lines + c.n_rows) if isinstance(c.lines, int) else c.lines
            )
            row += c.n_rows
        numbers, texts = _concat(self.chunks, n)
        self.chunks = []
        return JsonRows(n, numbers, texts, lines, warnings, tuple(self.lists or ()))


def _joined(data: memoryview, starts: np.ndarray, ends: np.ndarray, idx: np.ndarray) -> bytes | memoryview:
    """The bytes of lines `idx`: one zero-copy slice when contiguous, else runs of contiguous lines joined."""
    first, last = int(idx[0]), int(idx[-1])
    if last - first + 1 == idx.size:
        return data[starts[first] : ends[last]]
    cut = np.flatnonzero(np.diff(idx) != 1) + 1
    runs = zip(np.concatenate([[0], cut]), np.concatenate([cut, [idx.size]]) - 1, strict=True)
    return b"\n".join(data[starts[idx[a]] : ends[idx[b]]] for a, b in runs)


def _flatten(obj: dict, prefix: str, out: dict, lists: dict[str, None] | None = None) -> None:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, name + "/", out, lists)
        elif lists is not None and isinstance(value, list):
            lists[name] = None
            for i, item in enumerate(value[:MAX_LIST_ITEMS]):  # numbers only, as _list_items
                if isinstance(item, (int, float)) and not isinstance(item, bool):
                    out[f"{name}[{i}]"] = item
        else:
            out[name] = value


def _as_float(v: int | float) -> float:
    try:
        return float(v)
    except OverflowError:  # an int beyond float range (10**400): not a finite value
        return math.inf if v > 0 else -math.inf


def _loads(line: bytes) -> object:
    """The JSON value of one line, None when it is not JSON; non-UTF-8 bytes (a Latin-1 or
    Shift-JIS class name) are replaced rather than costing the row its numbers."""
    try:
        return json.loads(line)
    except UnicodeDecodeError:
        text = line.decode("utf-8", errors="replace")
    except (ValueError, RecursionError):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _concat(chunks: list[Chunk], n: int) -> tuple[dict[str, Column], dict[str, Column]]:
    """Columns of all chunks, joined in order; each chunk's parts are dropped once joined (lower peak)."""
    return _join(chunks, n, "numbers"), _join(chunks, n, "texts")


def _join(chunks: list[Chunk], n: int, kind: str) -> dict[str, Column]:
    parts: dict[str, list[tuple[int, Column]]] = {}
    offset = 0
    for c in chunks:
        for name, col in getattr(c, kind).items():
            parts.setdefault(name, []).append((offset, col))
        getattr(c, kind).clear()  # the joined parts below hold the only references (a lower peak)
        offset += c.n_rows
    out: dict[str, Column] = {}
    text = kind == "texts"
    for name in list(parts):
        found = parts.pop(name)  # this key's parts are freed once it is joined (a lower peak)
        if len(found) == 1 and found[0][1].n == n:
            out[name] = found[0][1]
            continue
        dense_parts = len(found) == len(chunks) and all(not col.sparse for _, col in found)
        if dense_parts:  # the usual key, logged in every chunk: join the dense parts as they are
            masks = [col._dense_present() for _, col in found]
            out[name] = Column.dense(
                np.concatenate([col.values for _, col in found]),
                all_present(n) if all(map(is_all_present, masks)) else np.concatenate(masks),
            )
            continue
        at = np.concatenate([col.positions() + off for off, col in found])
        values = np.concatenate([col.logged() for _, col in found]).astype(
            object if text else np.float64, copy=False
        )
        out[name] = Column.of(n, at, values)
    return out


def _list_lines(lines: np.ndarray) -> str:
    shown = ", ".join(str(int(x)) for x in lines[:_SHOWN_LINES])
    more = f", … {len(lines) - _SHOWN_LINES} more" if len(lines) > _SHOWN_LINES else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"
