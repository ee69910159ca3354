"""A piece of JSON lines parsed against the keys already known, apart from the loader's state, so that it can
run on a read-ahead thread (json_loader.Loader.feed): polars where it provably loses nothing, else pyarrow,
and the rows turned into columns; or nothing, for the loader's tolerant path. With the bounds every parse
respects: the longest line, the largest table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from inspector.runlog.json_arrow import UNPARSED, count, leaf_count, parse
from inspector.runlog.json_columns import Column, leaves, table_columns
from inspector.runlog.json_depth import deep_lines
from inspector.runlog.json_polars import parse_known

# Longest JSON line kept. Real metric lines are well under 10 kB; mmdet 2.x's first line (env_info +
# the whole config dump) is the largest we have seen at ~20 kB. A line over this is not a metrics
# row (a pasted blob, a binary file without newlines) and would only cost memory.
MAX_LINE_BYTES = 1_000_000

# A string or list this long in the fast path sends the file to the exact line-length check.
_LONG_VALUE = MAX_LINE_BYTES // 16

# pyarrow parses in blocks; one block must hold the longest line we accept.
_BLOCK_BYTES = max(1 << 20, MAX_LINE_BYTES + 1)

# Most table cells (rows × keys) one pyarrow call may build: 32 M float64 cells is 256 MB. A 1M-row
# native piece is ~30k rows × 14 keys = 0.4 M; the sparse file of issue 11 asked for 10k × 50k per block.
CELLS = 1 << 25

parse_bounded = partial(parse, block_bytes=_BLOCK_BYTES)


@dataclass(frozen=True)
class Ahead:
    """What `read_ahead` made of a piece: its line count, and its rows' columns, or None for the tolerant
    path."""

    n_lines: int
    rows: int = 0
    columns: tuple[dict[str, Column], dict[str, Column], dict[str, None] | None] | None = None


def read_ahead(piece: pa.Buffer, schema: pa.StructType | None, lists: bool = False) -> Ahead:
    """The piece's rows parsed against `schema`, one row per line, as columns (`table_columns`; with `lists`,
    list keys noted and opened): what `Loader.fast` needs, computed without the loader's state, so on a
    worker thread.

    polars parses when it can vouch for the rows (json_polars.py), else pyarrow, which errors on a key
    outside the schema. No columns send the piece to the tolerant path: a key outside the schema, a
    malformed or blank line, a line nested too deep for pyarrow, a value that could make a line too long, or
    a table that could grow past CELLS.
    """
    n_lines = lines_in(memoryview(piece))
    if schema is None or n_lines * (leaf_count(schema) + 1) > CELLS:
        return Ahead(n_lines)
    table = parse_known(piece, schema)
    if table is None or table.num_rows != n_lines:
        if deep_lines(piece).size:  # pyarrow's parser recurses per level: never hand it such a line
            return Ahead(n_lines)
        try:
            table = parse_bounded(piece, schema)
        except UNPARSED:
            return Ahead(n_lines)
    # A blank line (no row) or a long value: the tolerant path measures every line.
    if table.num_rows != n_lines or (piece.size > MAX_LINE_BYTES and _may_hold_long_lines(table)):
        return Ahead(n_lines)
    seen: dict[str, None] | None = {} if lists else None
    try:
        numbers, texts = table_columns(table, seen) if table.num_rows else ({}, {})
    except UNPARSED:
        return Ahead(n_lines)
    return Ahead(n_lines, table.num_rows, (numbers, texts, seen))


def lines_in(view: memoryview) -> int:
    if not len(view):
        return 0
    return count(view, 10) + (0 if view[-1] == 10 else 1)


def _may_hold_long_lines(table: pa.Table) -> bool:
    """Whether some line could exceed MAX_LINE_BYTES: only a long string or list makes one.

    Checking the parsed columns costs nothing for numeric logs, unlike scanning the bytes for
    newlines; a hit sends the piece to the tolerant path, which measures every line exactly.
    """
    if table.num_columns > MAX_LINE_BYTES // 64:
        return True
    for top in table.column_names:
        for _, arr in leaves(top, table.column(top)):
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
