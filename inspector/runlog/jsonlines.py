"""JSON-lines loading shared by the JSON readers: numeric columns in file order, bad lines skipped.

The fast path is `pyarrow.json.read_json` (block-parallel C++) over line-aligned pieces of the file,
each piece's numeric columns copied out before the next is parsed (so the peak holds one piece's
Arrow table, not the whole file's). Two things are never handed to pyarrow:

- a line nested deeper than limits.MAX_JSON_DEPTH: pyarrow's parser recurses per level, so a 63 kB
  line of 30,000 `[` killed the process and 6k-15k levels cost 8-51 s. Each piece's brackets are
  counted first (`deep_lines`, ~3 ms per 8 MB piece) and such lines are skipped with a warning;
- a piece whose rows × distinct keys could explode: pyarrow builds a dense table per block, so a
  468 kB file whose rows each add 5 new keys became 2.35 GB. Pieces are parsed against the schema
  already seen (`explicit_schema`, unexpected keys are an error), which bounds the table to
  rows × known keys; new keys are inferred only on ranges small enough that rows × colons (an
  upper bound on rows × keys) stays under _CELLS. Once more than _WIDE keys are known, the rest
  of the file is read line by line into sparse columns, and keys beyond limits.max_series() are
  dropped with a count.

Only when a piece fails does the tolerant path run: its lines are parsed by bisection, so every
well-formed line is kept and only the bad ones fall to `json.loads` or are skipped with a warning
that names their line numbers. Columns are stored densely when a key is logged on at least half of
the rows, else as (row indices, values) (`Column`).
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from inspector import limits
from inspector.errors import InspectorError
from inspector.runlog.pieces import line_pieces

# Longest JSON line kept. Real metric lines are well under 10 kB; mmdet 2.x's first line (env_info +
# the whole config dump) is the largest we have seen at ~20 kB. A line over this is not a metrics
# row (a pasted blob, a binary file without newlines) and would only cost memory.
MAX_LINE_BYTES = 1_000_000

# A string or list this long in the fast path sends the file to the exact line-length check.
_LONG_VALUE = MAX_LINE_BYTES // 16

# pyarrow parses in blocks; one block must hold the longest line we accept.
_BLOCK_BYTES = max(1 << 20, MAX_LINE_BYTES + 1)

# Below this many lines, bisection stops calling pyarrow and parses line by line (per-call
# overhead of pyarrow is ~50 µs; json.loads of one short line is ~5 µs).
_LINE_BY_LINE = 64

# Most table cells (rows × keys) one pyarrow call may build: 32 M float64 cells is 256 MB. A 1M-row
# native piece is ~30k rows × 14 keys = 0.4 M; the sparse file of issue 11 asked for 10k × 50k per block.
_CELLS = 1 << 25

# Known keys beyond which the rest of a file is read line by line into sparse columns: a per-class
# AP table of COCO's 80 classes is ~500 keys; more than this on a table of rows is a sparse log.
_WIDE = 1024

# Dropped key names remembered for the count; past this the warning says "more than".
_COUNTED_DROPS = 1_000_000

# What pyarrow raises on lines it cannot take: malformed JSON (ArrowInvalid and kin) and, since its
# JSON parser does not validate UTF-8, a decode error once a non-UTF-8 key or string is read back.
_UNPARSED = (pa.ArrowException, UnicodeDecodeError)

# How many bad line numbers a warning lists before it says "…".
_SHOWN_LINES = 10

# Items of one list value opened into columns by `load(..., lists=True)`: pycocotools' COCOeval.stats,
# the list DETR-family logs write, has 12 (bbox/segm) or 10 (keypoints); the cap bounds the columns
# one line can add.
MAX_LIST_ITEMS = 64


@dataclass(frozen=True)
class Column:
    """One flattened key's values at the rows that logged it, over a table of `n` rows.

    Dense (`rows` is None): `values` has one entry per row and `present` marks the logged rows.
    Sparse: `rows` holds the increasing indices of the logged rows and `values` one entry each.
    Number columns hold float64 (NaN where absent when dense); text columns hold objects (None).
    """

    n: int
    values: np.ndarray
    present: np.ndarray | None = None
    rows: np.ndarray | None = None

    @staticmethod
    def dense(values: np.ndarray, present: np.ndarray) -> Column:
        return Column(int(values.shape[0]), values, present)

    @staticmethod
    def of(n: int, at: np.ndarray, values: np.ndarray) -> Column:
        """The column logged at rows `at` (increasing) with `values`:
        dense when at least half the rows log it."""
        at = np.asarray(at, dtype=np.int64)
        if 2 * at.size < n:
            return Column(n, values, None, at)
        fill = None if values.dtype == object else np.nan
        full = np.full(n, fill, dtype=values.dtype)
        full[at] = values
        present = np.zeros(n, dtype=bool)
        present[at] = True
        return Column(n, full, present)

    @property
    def sparse(self) -> bool:
        return self.rows is not None

    def _dense_present(self) -> np.ndarray:
        """`present` of a dense column (`rows` is None): every dense column is built with it."""
        return cast(np.ndarray, self.present)

    def positions(self) -> np.ndarray:
        """Increasing row indices where the key was logged."""
        return self.rows if self.rows is not None else np.flatnonzero(self._dense_present())

    def logged(self) -> np.ndarray:
        """The values at `positions()`."""
        if self.rows is not None:
            return self.values
        present = self._dense_present()
        return self.values if present.all() else self.values[present]

    def count(self) -> int:
        return int(self.rows.size) if self.rows is not None else int(np.count_nonzero(self._dense_present()))

    def mask(self) -> np.ndarray:
        """Whether each row logged the key."""
        if self.rows is None:
            return self._dense_present()
        out = np.zeros(self.n, dtype=bool)
        out[self.rows] = True
        return out

    def full(self) -> np.ndarray:
        """One value per row (NaN, or None for text, where absent)."""
        if self.rows is None:
            return self.values
        fill = None if self.values.dtype == object else np.nan
        out = np.full(self.n, fill, dtype=self.values.dtype)
        out[self.rows] = self.values
        return out

    def only(self, rows: np.ndarray) -> Column:
        """This column logged only at the rows where the boolean mask `rows` holds (same table)."""
        if self.rows is None:
            return self if rows.all() else Column(self.n, self.values, self.present & rows)
        keep = rows[self.rows]
        return self if keep.all() else Column(self.n, self.values[keep], None, self.rows[keep])

    def take(self, rows: np.ndarray) -> Column:
        """The column over the table of the rows where the boolean mask `rows` holds, renumbered."""
        if rows.all():
            return self
        n = int(np.count_nonzero(rows))
        if self.rows is None:
            return Column(n, self.values[rows], self._dense_present()[rows])
        keep = rows[self.rows]
        new_index = np.cumsum(rows) - 1
        return Column(n, self.values[keep], None, new_index[self.rows[keep]])


@dataclass(frozen=True)
class JsonRows:
    """Rows of a JSON-lines file in file order: numeric columns, text columns, skipped-line notes.

    `numbers[key]` holds every key whose value is a number (or a string that parses as one);
    nested objects are flattened with "/" (`{"losses": {"bbox": 1}}` → "losses/bbox").
    `texts[key]` holds string values, for keys like "mode" or "type".
    `line_numbers[i]` is the 1-based line of row i.
    `lists` (only from `load(..., lists=True)`) names the keys whose value was a list on some row; the
    numeric items of each are in `numbers` as "key[0]", "key[1]", … (the first MAX_LIST_ITEMS).
    """

    n_rows: int
    numbers: dict[str, Column]
    texts: dict[str, Column]
    line_numbers: np.ndarray
    warnings: list[str] = field(default_factory=list)
    lists: tuple[str, ...] = ()

    def number(self, key: str) -> Column | None:
        return self.numbers.get(key)

    def text(self, key: str) -> np.ndarray:
        """Strings of `key` per row (None where absent), all-None when the key never appears."""
        found = self.texts.get(key)
        return found.full() if found is not None else np.full(self.n_rows, None, dtype=object)


# --- nesting depth, before any parser sees a line ------------------------------------------------

_DEPTH_MARKS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN_MARKS = bytes(b for b in range(256) if b not in b"[{\n")
_DELTA = np.zeros(256, dtype=np.int8)
_DELTA[[ord("["), ord("{")]] = 1
_DELTA[[ord("]"), ord("}")]] = -1
_STRING = re.compile(rb'"(?:[^"\\\n]|\\.)*"?')


def deep_lines(data: bytes | memoryview | pa.Buffer, limit: int | None = None) -> np.ndarray:
    """0-based indices of the lines of `data` nested deeper than
    `limit` (MAX_JSON_DEPTH), brackets in strings aside.

    A line can only be that deep if it holds more than `limit` opening brackets, so first only the
    `[`, `{` and newline bytes are kept (bytes.translate, ~4 ms per 8 MB piece; a metric line has a
    handful) and counted per line. The few lines over the count are then measured exactly.
    """
    limit = limits.MAX_JSON_DEPTH if limit is None else limit
    view = memoryview(data)
    # 1 MB at a time: translating a copy of the whole piece would add the piece to the read's peak.
    opens = np.frombuffer(
        b"".join(
            bytes(view[i : i + (1 << 20)]).translate(None, _OPEN_MARKS) for i in range(0, len(view), 1 << 20)
        ),
        dtype=np.uint8,
    )
    newlines = np.flatnonzero(opens == 10)
    if opens.size - newlines.size <= limit:  # not enough openings in the whole piece
        return np.zeros(0, dtype=np.int64)
    before = np.concatenate([[0], newlines - np.arange(newlines.size), [opens.size - newlines.size]])
    candidates = np.flatnonzero(np.diff(before) > limit)
    if candidates.size == 0:
        return candidates.astype(np.int64)
    raw = bytes(view)
    ends = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], ends + 1])
    ends = np.append(ends, len(raw))
    deep = [i for i in candidates.tolist() if _exact_depth(raw[starts[i] : ends[i]]) > limit]
    return np.array(deep, dtype=np.int64)


def _exact_depth(line: bytes) -> int:
    """Deepest bracket nesting of one line, strings (with their escapes) skipped."""
    stripped = _STRING.sub(b'""', line)
    marks = np.frombuffer(stripped.translate(None, _DEPTH_MARKS), dtype=np.uint8)
    return int(np.cumsum(_DELTA[marks], dtype=np.int64).max(initial=0)) if marks.size else 0


# --- schemas: what pyarrow may build --------------------------------------------------------------


def _normalized(kind: pa.DataType) -> pa.DataType:
    """The type a key is parsed as: every number as float64 (an
    int column meeting 0.5 must not fail), dates as text."""
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _normalized(f.type)) for f in kind])
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pa.list_(_normalized(kind.value_type))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return pa.float64()
    if pa.types.is_temporal(kind):
        return pa.string()
    return kind


def _merged(known: pa.DataType, seen: pa.DataType) -> pa.DataType:
    """`known` widened by `seen`: new struct fields appended,
    null replaced; on a conflict the first type stays."""
    if known.equals(seen) or pa.types.is_null(seen):
        return known
    if pa.types.is_null(known):
        return seen
    if pa.types.is_struct(known) and pa.types.is_struct(seen):
        fields = {f.name: f.type for f in known}
        for f in seen:
            fields[f.name] = _merged(fields[f.name], f.type) if f.name in fields else f.type
        return pa.struct([pa.field(k, v) for k, v in fields.items()])
    if pa.types.is_list(known) and pa.types.is_list(seen):
        return pa.list_(_merged(known.value_type, seen.value_type))
    return known


def _leaf_count(kind: pa.DataType) -> int:
    if pa.types.is_struct(kind):
        return sum(_leaf_count(f.type) for f in kind) or 1
    return 1


def _parse(data: pa.Buffer | bytes | memoryview, schema: pa.StructType | None = None) -> pa.Table:
    options = pj.ReadOptions(block_size=_BLOCK_BYTES)
    parse = (
        pj.ParseOptions()
        if schema is None
        else pj.ParseOptions(explicit_schema=pa.schema(list(schema)), unexpected_field_behavior="error")
    )
    return pj.read_json(
        pa.BufferReader(pa.py_buffer(data) if not isinstance(data, pa.Buffer) else data),
        read_options=options,
        parse_options=parse,
    )


def _count(data: pa.Buffer | bytes | memoryview, byte: int) -> int:
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == byte))


# --- the loader -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
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


class _Loader:
    """Parses a file's pieces into chunks: the known schema, the admitted keys and what was skipped."""

    def __init__(self, lists: bool = False) -> None:
        self.schema: pa.StructType | None = None
        self.line_by_line = False  # past _WIDE keys: the rest of the file goes to json.loads
        self.chunks: list[_Chunk] = []
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
        self.chunks.append(_Chunk(n_rows, numbers, texts, lines))

    def fast(self, piece: pa.Buffer, first_line: int) -> int | None:
        """Lines of a whole piece parsed against the known schema;
        None (nothing kept) when it needs the tolerant path."""
        if self.schema is None or self.line_by_line:
            return None
        n_lines = _lines_in(memoryview(piece))
        if n_lines * (_leaf_count(self.schema) + 1) > _CELLS:
            return None
        try:
            table = _parse(piece, self.schema)
        except _UNPARSED:
            return None
        # A blank line (no row) or a long value: the tolerant path measures every line.
        if table.num_rows != n_lines or (piece.size > MAX_LINE_BYTES and _may_hold_long_lines(table)):
            return None
        if table.num_rows:
            seen = self._list_names()
            try:
                numbers, texts = _columns(table, seen)
            except _UNPARSED:
                return None
            self.list_seen(seen)
            self.add(table.num_rows, numbers, texts, first_line)
        return n_lines

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
        if self.schema is not None and rows * (_leaf_count(self.schema) + 1) <= _CELLS:
            try:
                table = _parse(piece, self.schema)
            except _UNPARSED:
                table = None
        if table is None and rows * (_count(piece, ord(":")) + 1) <= _CELLS:
            try:
                table = _parse(piece)
            except _UNPARSED:
                return False
            seen = _normalized(pa.struct(list(table.schema)))
            widened = seen if self.schema is None else _merged(self.schema, seen)
            if _leaf_count(widened) > _WIDE:
                self.line_by_line = True
                return False
            self.schema = widened
        if table is None or table.num_rows != rows:  # a line pyarrow read as something other than one object
            return False
        seen = self._list_names()
        try:
            numbers, texts = _columns(table, seen)
        except _UNPARSED:
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
            _Chunk(
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


def load(path: Path, *, start: int = 0, first_line: int = 1, lists: bool = False) -> JsonRows:
    """Rows of the JSON-lines file at `path` from byte `start` on; InspectorError if none is readable.

    `first_line` is the line number of the line that begins at `start` (for warnings). With `lists`,
    a list of numbers is opened into columns "key[i]" and the keys that held lists are named in
    `JsonRows.lists`; without it, lists are skipped.
    """
    try:
        mapped = pa.memory_map(str(path), "r")
    except OSError as exc:
        raise InspectorError(f"cannot open ({exc.strerror or exc})", path=path) from None
    loader = _Loader(lists)
    with mapped:
        buf = mapped.read_buffer()[start:]
        if buf.size == 0:
            raise InspectorError("the file is empty", path=path)
        line = first_line
        for piece in line_pieces(buf, max_line=MAX_LINE_BYTES):
            view = memoryview(piece)
            parsed = None if deep_lines(view).size else loader.fast(piece, line)
            line += parsed if parsed is not None else loader.tolerant(view, line)
        tail = buf[max(0, buf.size - 1) :].to_pybytes()
        head = buf[:4096].to_pybytes()
    rows = loader.finish(path, tail)
    if rows.n_rows == 0:
        if not (loader.notes.bad or loader.notes.deep or loader.notes.too_long):
            raise InspectorError("the file is empty (only blank lines)", path=path)
        what = "binary content" if b"\x00" in head else "no JSON object on any line"
        raise InspectorError(f"not a JSON-lines log ({what})", path=path)
    return rows


def _lines_in(view: memoryview) -> int:
    if not len(view):
        return 0
    return _count(view, 10) + (0 if view[-1] == 10 else 1)


def _joined(data: memoryview, starts: np.ndarray, ends: np.ndarray, idx: np.ndarray) -> bytes | memoryview:
    """The bytes of lines `idx`: one zero-copy slice when contiguous, else runs of contiguous lines joined."""
    first, last = int(idx[0]), int(idx[-1])
    if last - first + 1 == idx.size:
        return data[starts[first] : ends[last]]
    cut = np.flatnonzero(np.diff(idx) != 1) + 1
    runs = zip(np.concatenate([[0], cut]), np.concatenate([cut, [idx.size]]) - 1, strict=True)
    return b"\n".join(data[starts[idx[a]] : ends[idx[b]]] for a, b in runs)


def _may_hold_long_lines(table: pa.Table) -> bool:
    """Whether some line could exceed MAX_LINE_BYTES: only a long string or list makes one.

    Checking the parsed columns costs nothing for numeric logs, unlike scanning the bytes for
    newlines; a hit sends the piece to the tolerant path, which measures every line exactly.
    """
    if table.num_columns > MAX_LINE_BYTES // 64:
        return True
    for top in table.column_names:
        for _, arr in _leaves(top, table.column(top)):
            kind = arr.type
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                longest = pc.max(pc.binary_length(arr)).as_py() or 0
            elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
                longest = 2 * (pc.max(pc.list_value_length(arr)).as_py() or 0)
            else:
                continue
            if longest > _LONG_VALUE:
                return True
    return False


def _leaves(name: str, arr: pa.ChunkedArray) -> Iterator[tuple[str, pa.ChunkedArray]]:
    """(flattened name, leaf array) pairs: structs are opened with "/" between the keys."""
    if pa.types.is_struct(arr.type):
        for field_, child in zip(arr.type, arr.flatten(), strict=False):
            yield from _leaves(f"{name}/{field_.name}", child)
    else:
        yield name, arr


def _dictionary(arr: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct strings + a trailing None, per-row index into them): nulls point at the None.

    Labels such as "type": "step" have a handful of distinct values; indexing `words` with `codes`
    gives an object array whose rows share those few str objects (one pointer per row) instead of
    a new str per row (measured 5× less heap on 1M native rows), and number-parsing runs on the
    distinct values only.
    """
    encoded = pc.dictionary_encode(arr).combine_chunks()
    words = np.append(
        encoded.dictionary.to_numpy(zero_copy_only=False).astype(object), np.array([None], dtype=object)
    )
    codes = pc.fill_null(encoded.indices, len(words) - 1).to_numpy(zero_copy_only=False)
    return words, codes


def _column(values: np.ndarray, present: np.ndarray) -> Column:
    """Dense, or sparse when fewer than half the rows log the key (an eval key on 1 row in 1,000)."""
    if present.all() or 2 * np.count_nonzero(present) >= present.size:
        return Column.dense(values, present)
    at = np.flatnonzero(present)
    return Column(int(present.size), values[at], None, at)


def _columns(
    table: pa.Table, lists: dict[str, None] | None = None
) -> tuple[dict[str, Column], dict[str, Column]]:
    """(numeric, text) columns of a table; given `lists`, list leaves are noted there and opened."""
    numbers: dict[str, Column] = {}
    texts: dict[str, Column] = {}
    for top in table.column_names:
        for name, arr in _leaves(top, table.column(top)):
            kind = arr.type
            if arr.null_count == len(arr):
                continue
            if pa.types.is_integer(kind) or pa.types.is_floating(kind):
                # Always a NumPy-owned copy: a zero-copy view would keep this piece's Arrow buffers
                # alive until the end of the read, so the Arrow pool would peak at the whole payload.
                if arr.null_count == 0:  # the common case: skip building a validity mask
                    present = np.ones(len(arr), dtype=bool)
                    values = arr.to_numpy().astype(np.float64, copy=True)
                else:
                    present = pc.is_valid(arr).to_numpy(zero_copy_only=False).copy()
                    values = (
                        pc.fill_null(pc.cast(arr, pa.float64()), math.nan)
                        .to_numpy(zero_copy_only=False)
                        .copy()
                    )
                numbers[name] = _column(values, present)
            elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
                words, codes = _dictionary(arr)
                strings = words[codes]
                texts[name] = _column(strings, codes != len(words) - 1)
                parsed_words = pd.to_numeric(pd.Series(words, dtype=object), errors="coerce").to_numpy(
                    np.float64
                )
                if np.isnan(parsed_words).all():
                    continue
                parsed = parsed_words[codes]
                present = ~np.isnan(parsed)
                if present.any():
                    numbers[name] = _column(parsed, present)
            elif lists is not None and (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
                lists[name] = None
                numbers.update(_list_items(name, arr))
            # Booleans, lists (unless asked for) and all-null columns are not scalars we can plot.
    return numbers, texts


def _list_items(name: str, arr: pa.ChunkedArray) -> dict[str, Column]:
    """Columns "name[i]" of a list column's numeric items, i < MAX_LIST_ITEMS; {} for lists of anything else.

    Built from the flattened items, so a list on few rows costs its items, not rows × items.
    """
    item = arr.type.value_type
    if not (pa.types.is_integer(item) or pa.types.is_floating(item)):
        return {}
    lists = arr.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(lists)  # the items of the non-null lists, in row order
    rows = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    valid = pc.is_valid(flat).to_numpy(zero_copy_only=False)
    values = pc.fill_null(pc.cast(flat, pa.float64()), math.nan).to_numpy(zero_copy_only=False)
    first = np.cumsum(lengths) - lengths
    position = np.arange(rows.size, dtype=np.int64) - first[rows]
    out: dict[str, Column] = {}
    for i in range(min(int(lengths.max(initial=0)), MAX_LIST_ITEMS)):
        at = (position == i) & valid
        if at.any():
            out[f"{name}[{i}]"] = Column.of(len(arr), rows[at], values[at])
    return out


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


def _concat(chunks: list[_Chunk], n: int) -> tuple[dict[str, Column], dict[str, Column]]:
    """Columns of all chunks, joined in order; each chunk's parts are dropped once joined (lower peak)."""
    return _join(chunks, n, "numbers"), _join(chunks, n, "texts")


def _join(chunks: list[_Chunk], n: int, kind: str) -> dict[str, Column]:
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
            out[name] = Column.dense(
                np.concatenate([col.values for _, col in found]),
                np.concatenate([col.present for _, col in found]),
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
