"""What pyarrow may build from JSON lines: each key's parse type, a known schema widened by what a new range
shows, its leaf count (the table's width), and one parse of a range against a schema (or inferring one).

Split from json_loader.py, which decides what to parse when; this module only wraps pyarrow.json.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

# What pyarrow raises on lines it cannot take: malformed JSON (ArrowInvalid and kin) and, since its
# JSON parser does not validate UTF-8, a decode error once a non-UTF-8 key or string is read back.
UNPARSED = (pa.ArrowException, UnicodeDecodeError)


def normalized(kind: pa.DataType) -> pa.DataType:
    """The type a key is parsed as: every number as float64 (an
    int column meeting 0.5 must not fail), dates as text."""
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, normalized(f.type)) for f in kind])
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pa.list_(normalized(kind.value_type))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return pa.float64()
    if pa.types.is_temporal(kind):
        return pa.string()
    return kind


def merged(known: pa.DataType, seen: pa.DataType) -> pa.DataType:
    """`known` widened by `seen`: new struct fields appended,
    null replaced; on a conflict the first type stays."""
    if known.equals(seen) or pa.types.is_null(seen):
        return known
    if pa.types.is_null(known):
        return seen
    if pa.types.is_struct(known) and pa.types.is_struct(seen):
        fields = {f.name: f.type for f in known}
        for f in seen:
            fields[f.name] = merged(fields[f.name], f.type) if f.name in fields else f.type
        return pa.struct([pa.field(k, v) for k, v in fields.items()])
    if pa.types.is_list(known) and pa.types.is_list(seen):
        return pa.list_(merged(known.value_type, seen.value_type))
    return known


def leaf_count(kind: pa.DataType) -> int:
    """Columns a parsed table of this type has (a struct's leaves)."""
    if pa.types.is_struct(kind):
        return sum(leaf_count(f.type) for f in kind) or 1
    return 1


def parse(
    data: pa.Buffer | bytes | memoryview, schema: pa.StructType | None = None, *, block_bytes: int
) -> pa.Table:
    """One pyarrow parse of whole lines: against `schema` (an unknown key is an error), or inferring one;
    `block_bytes` must hold the longest line."""
    options = pj.ReadOptions(block_size=block_bytes)
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


# Bytes compared at a time by `count`: the comparison's mask stays in cache and below glibc's mmap threshold
# (128 KiB while a log is read, runlog/allocator.py), so it is not a fresh, page-faulting mapping per call.
_COUNT_BLOCK = 64 << 10


def count(data: pa.Buffer | bytes | memoryview, byte: int) -> int:
    """How many times `byte` occurs in `data`."""
    raw = np.frombuffer(data, dtype=np.uint8)
    return sum(
        int(np.count_nonzero(raw[i : i + _COUNT_BLOCK] == byte)) for i in range(0, raw.shape[0], _COUNT_BLOCK)
    )
