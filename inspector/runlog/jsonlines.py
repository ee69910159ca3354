"""JSON-lines loading shared by the JSON readers: numeric columns in file order, bad lines skipped.

The fast path is `pyarrow.json.read_json` (block-parallel C++) over line-aligned pieces of the file,
each piece's numeric columns copied out before the next is parsed (so the peak holds one piece's
Arrow table, not the whole file's). Only when a piece fails (a malformed or truncated line, a key
whose type changes between lines of a piece, a line that is not an object) does the tolerant path
run: the file is split into line ranges that pyarrow parses by
bisection, so every well-formed line is kept and only the bad ones fall to `json.loads` or are
skipped with a warning that names their line numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

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

# What pyarrow raises on lines it cannot take: malformed JSON (ArrowInvalid and kin) and, since its
# JSON parser does not validate UTF-8, a decode error once a non-UTF-8 key or string is read back.
_UNPARSED = (pa.ArrowException, UnicodeDecodeError)

# How many bad line numbers a warning lists before it says "…".
_SHOWN_LINES = 10


@dataclass(frozen=True)
class Column:
    """One flattened key: float64 values per row (NaN where absent) and where it was logged."""

    values: np.ndarray
    present: np.ndarray


@dataclass(frozen=True)
class JsonRows:
    """Rows of a JSON-lines file in file order: numeric columns, text columns, skipped-line notes.

    `numbers[key]` holds every key whose value is a number (or a string that parses as one);
    nested objects are flattened with "/" (`{"losses": {"bbox": 1}}` → "losses/bbox").
    `texts[key]` holds string values (None elsewhere), for keys like "mode" or "type".
    `line_numbers[i]` is the 1-based line of row i.
    """

    n_rows: int
    numbers: dict[str, Column]
    texts: dict[str, np.ndarray]
    line_numbers: np.ndarray
    warnings: list[str] = field(default_factory=list)

    def number(self, key: str) -> Column | None:
        return self.numbers.get(key)

    def text(self, key: str) -> np.ndarray:
        """Strings of `key` per row (None where absent), all-None when the key never appears."""
        found = self.texts.get(key)
        return found if found is not None else np.full(self.n_rows, None, dtype=object)


def load(path: Path, *, start: int = 0, first_line: int = 1) -> JsonRows:
    """Rows of the JSON-lines file at `path` from byte `start` on; InspectorError if none is readable.

    `first_line` is the line number of the line that begins at `start` (for warnings).
    """
    try:
        mapped = pa.memory_map(str(path), "r")
    except OSError as exc:
        raise InspectorError(f"cannot open ({exc.strerror or exc})", path=path) from None
    with mapped:
        buf = mapped.read_buffer()[start:]
        if buf.size == 0:
            raise InspectorError("the file is empty", path=path)
        chunks: list[_Chunk] = []
        try:
            for piece in line_pieces(buf, max_line=MAX_LINE_BYTES):
                table = _parse(piece)
                if piece.size > MAX_LINE_BYTES and _may_hold_long_lines(table):
                    return _tolerant(path, memoryview(buf), first_line)
                if table.num_rows:
                    numbers, texts = _columns(table)
                    chunks.append(_Chunk(table.num_rows, numbers, texts, np.zeros(0, np.int64)))
                del table  # free this piece's Arrow buffers before parsing the next piece
        except _UNPARSED:
            chunks.clear()
            return _tolerant(path, memoryview(buf), first_line)
    n = sum(c.n_rows for c in chunks)
    if n == 0:
        raise InspectorError("the file is empty (only blank lines)", path=path)
    numbers, texts = _concat(chunks, n)
    # The fast path cannot tell blank lines apart; only the tolerant path reports line numbers.
    lines = np.arange(first_line, first_line + n, dtype=np.int64)
    return JsonRows(n, numbers, texts, lines)


def _may_hold_long_lines(table: pa.Table) -> bool:
    """Whether some line could exceed MAX_LINE_BYTES: only a long string or list makes one.

    Checking the parsed columns costs nothing for numeric logs, unlike scanning the bytes for
    newlines; a hit sends the file to the tolerant path, which measures every line exactly.
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


def _parse(data: pa.Buffer | bytes | memoryview) -> pa.Table:
    options = pj.ReadOptions(block_size=_BLOCK_BYTES)
    return pj.read_json(pa.BufferReader(pa.py_buffer(data) if not isinstance(data, pa.Buffer) else data),
                        read_options=options)


def _leaves(name: str, arr: pa.ChunkedArray):
    """(flattened name, leaf array) pairs: structs are opened with "/" between the keys."""
    if pa.types.is_struct(arr.type):
        for field_, child in zip(arr.type, arr.flatten()):
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
    words = np.append(encoded.dictionary.to_numpy(zero_copy_only=False).astype(object), None)
    codes = pc.fill_null(encoded.indices, len(words) - 1).to_numpy(zero_copy_only=False)
    return words, codes


def _columns(table: pa.Table) -> tuple[dict[str, Column], dict[str, np.ndarray]]:
    numbers: dict[str, Column] = {}
    texts: dict[str, np.ndarray] = {}
    for top in table.column_names:
        for name, arr in _leaves(top, table.column(top)):
            kind = arr.type
            if pa.types.is_integer(kind) or pa.types.is_floating(kind):
                # Always a NumPy-owned copy: a zero-copy view would keep this piece's Arrow buffers
                # alive until the end of the read, so the Arrow pool would peak at the whole payload.
                if arr.null_count == 0:  # the common case: skip building a validity mask
                    present = np.ones(len(arr), dtype=bool)
                    values = arr.to_numpy().astype(np.float64, copy=True)
                else:
                    present = pc.is_valid(arr).to_numpy(zero_copy_only=False).copy()
                    values = pc.fill_null(pc.cast(arr, pa.float64()), math.nan).to_numpy(
                        zero_copy_only=False).copy()
                numbers[name] = Column(values, present)
            elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
                words, codes = _dictionary(arr)
                texts[name] = words[codes]
                parsed_words = pd.to_numeric(pd.Series(words, dtype=object), errors="coerce").to_numpy(np.float64)
                if np.isnan(parsed_words).all():
                    continue
                parsed = parsed_words[codes]
                present = ~np.isnan(parsed)
                if present.any():
                    numbers[name] = Column(parsed, present)
            # Booleans, lists and all-null columns are not scalars we can plot.
    return numbers, texts


def _flatten(obj: dict, prefix: str, out: dict) -> None:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, name + "/", out)
        else:
            out[name] = value


def _table_from_objects(objects: list[dict]) -> tuple[dict[str, Column], dict[str, np.ndarray]]:
    """Columns from already-parsed objects (the slow path: a handful of lines pyarrow refused)."""
    flat: list[dict] = []
    for obj in objects:
        row: dict = {}
        _flatten(obj, "", row)
        flat.append(row)
    n = len(flat)
    numbers: dict[str, Column] = {}
    texts: dict[str, np.ndarray] = {}
    names = list(dict.fromkeys(k for row in flat for k in row))
    for name in names:
        values = np.full(n, np.nan)
        present = np.zeros(n, dtype=bool)
        strings = np.full(n, None, dtype=object)
        for i, row in enumerate(flat):
            v = row.get(name)
            if isinstance(v, bool) or v is None:
                continue
            if isinstance(v, (int, float)):
                values[i] = float(v)
                present[i] = True
            elif isinstance(v, str):
                strings[i] = v
                try:
                    values[i] = float(v)
                except ValueError:
                    continue
                present[i] = not math.isnan(values[i])
        if present.any():
            numbers[name] = Column(values, present)
        if any(s is not None for s in strings):
            texts[name] = strings
    return numbers, texts


@dataclass(frozen=True)
class _Chunk:
    """Rows parsed from one range of lines (the tolerant path concatenates them in file order)."""

    n_rows: int
    numbers: dict[str, Column]
    texts: dict[str, np.ndarray]
    lines: np.ndarray


def _tolerant(path: Path, data: memoryview, first_line_no: int) -> JsonRows:
    """Every well-formed object line of `data`, bad lines skipped and named in warnings."""
    raw = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(raw == 10)
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [raw.shape[0]]])
    lengths = ends - starts
    # Blank lines ("" or a lone CR of a CRLF file) are not rows; other whitespace-only lines are
    # rare enough to be sorted out line by line below.
    lone_cr = (lengths == 1) & (raw[np.minimum(starts, max(raw.shape[0] - 1, 0))] == 13)
    keep = (lengths > 0) & ~lone_cr
    too_long = (ends - starts) > MAX_LINE_BYTES
    line_no = np.arange(first_line_no, first_line_no + starts.shape[0])
    warnings: list[str] = []
    if too_long.any():
        warnings.append(f"{int(too_long.sum())} line(s) over {MAX_LINE_BYTES} bytes skipped "
                        f"({_list_lines(line_no[too_long])}).")
    keep &= ~too_long
    idx = np.flatnonzero(keep)
    bad: list[int] = []
    chunks: list[_Chunk] = []
    _bisect(data, starts, ends, idx, line_no, chunks, bad)
    if bad:
        last = int(line_no[idx[-1]]) if idx.size else -1
        truncated = bad[-1] == last and not bytes(data[-1:]) == b"\n"
        if truncated:
            warnings.append(f"the last line ({last}) is incomplete (the run was probably still writing); skipped.")
            bad = bad[:-1]
        if bad:
            warnings.append(f"{len(bad)} malformed line(s) skipped ({_list_lines(np.array(bad))}).")
    n = sum(c.n_rows for c in chunks)
    if n == 0:
        what = "binary content" if b"\x00" in bytes(data[:4096]) else "no JSON object on any line"
        raise InspectorError(f"not a JSON-lines log ({what})", path=path)
    numbers, texts = _concat(chunks, n)
    lines = np.concatenate([c.lines for c in chunks])
    return JsonRows(n, numbers, texts, lines, warnings)


def _loads(line: bytes) -> object:
    """The JSON value of one line, None when it is not JSON; non-UTF-8 bytes (a Latin-1 or
    Shift-JIS class name) are replaced rather than costing the row its numbers."""
    try:
        return json.loads(line)
    except UnicodeDecodeError:
        line = line.decode("utf-8", errors="replace")
    except (ValueError, RecursionError):
        return None
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def _bisect(data: memoryview, starts: np.ndarray, ends: np.ndarray, idx: np.ndarray, line_no: np.ndarray,
            out: list[_Chunk], bad: list[int]) -> None:
    """Parse lines `idx` with pyarrow, halving the range around failures; appends in file order."""
    if idx.size == 0:
        return
    if idx.size <= _LINE_BY_LINE:
        objects, lines = [], []
        for i in idx:
            line = data[starts[i]:ends[i]].tobytes()
            if not line.strip():
                continue
            obj = _loads(line)
            if isinstance(obj, dict):
                objects.append(obj)
                lines.append(line_no[i])
            else:
                bad.append(int(line_no[i]))
        if objects:
            numbers, texts = _table_from_objects(objects)
            out.append(_Chunk(len(objects), numbers, texts, np.array(lines, dtype=np.int64)))
        return
    first, last = int(idx[0]), int(idx[-1])
    if last - first + 1 == idx.size:  # contiguous lines: one zero-copy slice
        piece = data[starts[first]:ends[last]]
    else:  # join runs of contiguous lines, not single lines: few pieces even for huge files
        cut = np.flatnonzero(np.diff(idx) != 1) + 1
        runs = zip(np.concatenate([[0], cut]), np.concatenate([cut, [idx.size]]) - 1)
        piece = b"\n".join(data[starts[idx[a]]:ends[idx[b]]] for a, b in runs)
    try:
        table = _parse(piece)
        if table.num_rows != idx.size:  # a line pyarrow read as something other than one object
            raise pa.ArrowInvalid("row count mismatch")
        numbers, texts = _columns(table)
    except _UNPARSED:
        half = idx.size // 2
        _bisect(data, starts, ends, idx[:half], line_no, out, bad)
        _bisect(data, starts, ends, idx[half:], line_no, out, bad)
        return
    out.append(_Chunk(table.num_rows, numbers, texts, line_no[idx]))


def _concat(chunks: list[_Chunk], n: int) -> tuple[dict[str, Column], dict[str, np.ndarray]]:
    """Columns of all chunks, joined in order; each chunk's parts are dropped once joined (lower peak)."""
    names = list(dict.fromkeys(k for c in chunks for k in c.numbers))
    text_names = list(dict.fromkeys(k for c in chunks for k in c.texts))
    numbers: dict[str, Column] = {}
    for name in names:
        parts = [c.numbers.pop(name, None) for c in chunks]
        if len(parts) == 1:
            numbers[name] = parts[0]
            continue
        values = np.concatenate([col.values if col else np.full(c.n_rows, np.nan) for c, col in zip(chunks, parts)])
        present = np.concatenate([col.present if col else np.zeros(c.n_rows, dtype=bool)
                                  for c, col in zip(chunks, parts)])
        numbers[name] = Column(values, present)
    texts: dict[str, np.ndarray] = {}
    for name in text_names:
        parts = [c.texts.pop(name, None) for c in chunks]
        texts[name] = parts[0] if len(parts) == 1 else np.concatenate(
            [p if p is not None else np.full(c.n_rows, None, dtype=object) for c, p in zip(chunks, parts)])
    return numbers, texts


def _list_lines(lines: np.ndarray) -> str:
    shown = ", ".join(str(int(x)) for x in lines[:_SHOWN_LINES])
    more = f", … {len(lines) - _SHOWN_LINES} more" if len(lines) > _SHOWN_LINES else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"

