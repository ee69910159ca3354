"""Console-log rows as tables: the parser protocol, the Table a parser returns, its Columns, the plumbing.

Finding a dialect's lines (`matching`), cutting fields out of them (`fields`), turning their pairs
into a table (`rows_table`), merging eval rows into the training row of their step (`merge_rows`) and
joining per-piece columns into one table (`Collector`) are shared by every parser in text_dialects.

A key is a `Column`: its values and the rows it was logged on, or no row list when it is on every row
(most keys of a real log). A log whose lines each add keys no other line has therefore costs what it
holds, ~16 bytes per value, where a dense rows × keys table made 343 KB into 2.3 GB (issue 11).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from inspector import limits
from inspector.runlog.text_pairs import Column, column_of, extract_pairs

__all__ = [
    "FileChoice",
    "Forced",
    "PieceParser",
    "UnforcedParser",
    "Column",
    "column_of",
    "Table",
    "Selection",
    "take",
    "rows_table",
    "merge_rows",
    "Collector",
    "cap_series",
    "bools",
    "ints",
    "safe_ints",
    "matching",
    "minus",
    "fields",
    "last_row_of",
]


@dataclass(frozen=True)
class Table:
    """Rows in file order (a step and a line index each) and the keys logged on them, ready for `assemble`."""

    framework: str
    steps: np.ndarray
    columns: dict[str, Column]
    rows: np.ndarray  # line index of each row (line numbers in warnings, the truncated tail)
    step_unit: str = "iteration"
    epochs: np.ndarray | None = None
    config: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)  # line indices that looked like rows
    inherited: np.ndarray | None = None  # per row: its step was taken from an earlier line (None: none was)
    dropped: frozenset[str] = frozenset()  # keys not kept: beyond limits.max_series()
    fractional: np.ndarray | None = None  # per row: its own step had a fraction (None: no row's had)
    # Line indices where the log marks a new launch of the trainer (a "Training start…" banner); None: it
    # marks none. Lines rather than rows, so that step repairs dropping or merging rows leave them valid.
    launches: np.ndarray | None = None


FileChoice = str | int | None  # a dialect's file-wide choice: mmdet's mode, the first epoch, the step key


@dataclass(frozen=True)
class Forced:
    """A file-wide choice an earlier pass settled on, given to the parser of the next (None is a choice)."""

    value: FileChoice


class PieceParser(Protocol):
    """A dialect's parser: fed the clean lines a piece at a time, in file order; made by `parser(forced)`."""

    settled: bool  # False: a later piece contradicted the file-wide guess; read again with `wanted`
    wanted: FileChoice
    bad: list[int]  # indices of lines that looked like rows but did not parse, in file order

    def feed(self, lines: pa.Array, first: int) -> None: ...

    def finish(self) -> Table: ...


class UnforcedParser:
    """Base of a dialect parser that makes no file-wide choice: always settled; `forced` sets nothing."""

    settled: bool = True
    wanted: FileChoice = None

    def __init__(self, forced: Forced | None = None) -> None:
        self.bad: list[int] = []


@dataclass(frozen=True)
class Selection:
    """Which rows of a table to keep, worked out once for all of its columns."""

    keep: np.ndarray  # bool per old row
    index: np.ndarray  # new index of each old row (meaningful where `keep`)
    every: bool

    @staticmethod
    def of(keep: np.ndarray) -> Selection:
        keep = np.asarray(keep, dtype=bool)
        return Selection(keep, np.cumsum(keep) - 1, bool(keep.all()))

    def column(self, column: Column) -> Column | None:
        """`column` on the kept rows; None when none of its values is on one."""
        if self.every:
            return column
        if column.rows is None:
            return Column(column.values[self.keep])
        on = self.keep[column.rows]
        if not on.any():
            return None
        return Column(column.values[on], self.index[column.rows[on]])


def take(table: Table, selection: Selection) -> Table:
    """`table` with only the rows `selection` keeps (keys left without a value are gone)."""
    if selection.every:
        return table
    keep = selection.keep
    columns = {}
    for name, column in table.columns.items():
        kept = selection.column(column)
        if kept is not None:
            columns[name] = kept
    return replace(
        table,
        steps=table.steps[keep],
        columns=columns,
        rows=table.rows[keep],
        epochs=None if table.epochs is None else table.epochs[keep],
        inherited=None if table.inherited is None else table.inherited[keep],
        fractional=None if table.fractional is None else table.fractional[keep],
    )


def bools(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def ints(array: pa.Array) -> np.ndarray:
    return pc.cast(array, pa.int64()).to_numpy(zero_copy_only=False)


# Digits a counter (epoch, iteration, per-epoch length) may have. (e - 1) · N + i then stays below 1e18,
# inside int64; a longer run of digits is a damaged line, and casting it would overflow (ArrowInvalid).
MAX_COUNTER_DIGITS = 9


def safe_ints(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """int64 values of digit strings, and where they are short enough to be a counter (0 elsewhere)."""
    ok = bools(pc.less_equal(pc.utf8_length(array), MAX_COUNTER_DIGITS))
    if ok.all():
        return ints(array), ok
    values = np.zeros(len(array), dtype=np.int64)
    if ok.any():
        values[ok] = ints(array.filter(pa.array(ok)))
    return values, ok


def matching(lines: pa.Array, pattern: str) -> np.ndarray:
    return np.flatnonzero(bools(pc.match_substring_regex(lines, pattern)))


def minus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted indices in `a` but not in `b` (a mask instead of np.setdiff1d's slow hashing)."""
    if a.size == 0:
        return a
    mask = np.zeros(int(max(a.max(), b.max() if b.size else 0)) + 1, dtype=bool)
    mask[a] = True
    mask[b] = False
    return np.flatnonzero(mask)


def fields(lines: pa.Array, rows: np.ndarray, pattern: str) -> pa.StructArray:
    return pc.extract_regex(lines.take(pa.array(rows, pa.int64())), pattern)


def rows_table(
    framework: str, lines: pa.Array, rows: np.ndarray, steps: np.ndarray, drop: tuple[str, ...] = ()
) -> Table:
    """Pairs of `rows` as a table whose step per row is `steps` (rows without a pair are left out)."""
    pairs = extract_pairs(lines, rows, keep=limits.max_series() + len(drop))
    keep = np.isin(rows, pairs.rows)  # pairs.rows is the subset of `rows` that holds a pair
    columns = {k: c for k, c in pairs.columns.items() if k not in drop}
    return Table(framework, steps[keep], columns, rows[keep], dropped=frozenset(pairs.dropped))


def last_row_of(steps: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index of the last row of `steps` equal to each `wanted` step, -1 where none is (no per-row dict)."""
    if steps.size == 0:
        return np.full(wanted.size, -1, dtype=np.int64)
    order = None if bool(np.all(steps[1:] >= steps[:-1])) else np.argsort(steps, kind="stable")
    ordered = steps if order is None else steps[order]
    at = np.searchsorted(ordered, wanted, side="right") - 1
    found = (at >= 0) & (ordered[np.maximum(at, 0)] == wanted)
    rows = at if order is None else order[np.maximum(at, 0)]
    return np.where(found, rows, -1).astype(np.int64)


def merge_rows(table: Table, extra: Table, target: np.ndarray | None = None) -> Table:
    """`table` with `extra`'s values (validation, eval) merged into the last row of their step.

    `extra.steps` are the steps its values belong to and `extra.rows` their lines. An eval printed as its
    own line must join the training row of the same step rather than become a second row of that step.
    Values at a step no row has become new rows, in file order; where both give a key at one row, the
    extra value wins. A training column the extra values do not touch is passed on as it is (a 1M-row
    mmdet log used to hold every column three times here). `target` (optional), per extra row: the row of
    `table` it joins, -1 for a new row; for a dialect that knows the very line an eval follows, where
    another launch may have logged the same step.
    """
    if extra.rows.size == 0:
        return replace(table, dropped=table.dropped | extra.dropped)
    n = table.rows.size
    target = (
        last_row_of(table.steps, np.asarray(extra.steps, dtype=np.int64))
        if target is None
        else np.asarray(target, dtype=np.int64).copy()
    )
    added = np.flatnonzero(target < 0)
    target[added] = n + np.arange(added.size)
    total = n + added.size
    all_rows = np.concatenate([table.rows, extra.rows[added]]) if added.size else table.rows
    # Final position of each (old row, then added row) in file order; None: the identity.
    where = None
    if added.size:
        where = np.empty(total, dtype=np.int64)
        order = np.argsort(all_rows, kind="stable")
        where[order] = np.arange(total)
    m = extra.rows.size

    columns: dict[str, Column] = {}
    for name in dict.fromkeys([*table.columns, *extra.columns]):
        old, new = table.columns.get(name), extra.columns.get(name)
        if new is None and where is None:
            columns[name] = table.columns[name]  # `old`: the name is the table's when extra lacks it
            continue
        positions, values = [], []
        if old is not None:
            at = old.positions(n)
            positions.append(at if where is None else where[at])
            values.append(old.values)
        if new is not None:
            at = target[new.positions(m)]
            positions.append(at if where is None else where[at])
            values.append(new.values)
        columns[name] = column_of(np.concatenate(positions), np.concatenate(values), total)

    def placed(old: np.ndarray, added_values: np.ndarray) -> np.ndarray:
        if where is None:
            return old
        out = np.empty(total, dtype=old.dtype)
        out[where[:n]] = old
        out[where[n:]] = added_values
        return out

    steps = placed(table.steps, extra.steps[added])
    inherited = None if table.inherited is None else placed(table.inherited, np.zeros(added.size, dtype=bool))
    fractional = (
        None if table.fractional is None else placed(table.fractional, np.zeros(added.size, dtype=bool))
    )
    return replace(
        table,
        steps=steps,
        columns=columns,
        rows=all_rows if where is None else all_rows[order],
        epochs=None,
        inherited=inherited,
        fractional=fractional,
        dropped=table.dropped | extra.dropped,
    )


def cap_series(table: Table, limit: int) -> Table:
    """`table` with its first `limit` keys (file order); the rest are added to `dropped`."""
    if len(table.columns) <= limit:
        return table
    names = list(table.columns)
    return replace(
        table,
        columns={k: table.columns[k] for k in names[:limit]},
        dropped=table.dropped | frozenset(names[limit:]),
    )


# Per-row flags a Table may carry (Table fields of the same names).
FLAGS = ("inherited", "fractional")


class Collector:
    """Per-piece tables, joined into one Table at the end; keys beyond `limit` are counted, not kept.

    The cap is applied as pieces arrive (the first `limit` keys seen are kept), so that a log of
    ever-new keys never holds more than `limit` of them between pieces.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or limits.max_series()
        self.keys: dict[str, None] = {}
        self.dropped: set[str] = set()
        # Per piece: its row count, {"steps", "rows"[, FLAGS]}, its columns (popped while joining).
        self.parts: list[tuple[int, dict[str, np.ndarray], dict[str, Column]]] = []

    def add(
        self,
        steps: np.ndarray,
        columns: dict[str, Column],
        rows: np.ndarray,
        inherited: np.ndarray | None = None,
        fractional: np.ndarray | None = None,
        dropped: Iterable[str] = (),
    ) -> None:
        """One piece's rows; `dropped`: keys the piece had beyond the cap (counted, never kept)."""
        self.dropped.update(dropped)
        if rows.size == 0:
            return
        kept = {}
        for name, column in columns.items():
            if name in self.keys or len(self.keys) < self.limit:
                self.keys[name] = None
                kept[name] = column
            else:
                self.dropped.add(name)
        index = {"steps": steps, "rows": rows}
        for flag, mask in zip(FLAGS, (inherited, fractional), strict=True):
            if mask is not None and mask.any():
                index[flag] = mask
        self.parts.append((int(rows.size), index, kept))

    def table(self, framework: str, **extra: Any) -> Table:
        """One Table of every piece's rows; each piece's array is freed as soon as it is copied."""
        parts, self.parts = self.parts, []
        sizes = [n for n, *_ in parts]
        starts = np.cumsum([0] + sizes[:-1]).tolist()
        total = sum(sizes)
        columns: dict[str, Column] = {}
        for name in self.keys:
            pieces = [part[2].pop(name, None) for part in parts]
            if all(c is not None and c.rows is None for c in pieces):
                values: list[np.ndarray | None] = [c.values for c in pieces if c is not None]  # all are
                del pieces  # the list now holds the only reference: _join frees each piece once copied
                columns[name] = Column(_join(values, sizes, np.nan))
            else:
                given = [(c, starts[i], sizes[i]) for i, c in enumerate(pieces) if c is not None]
                del pieces
                positions = np.concatenate([c.positions(n) + at for c, at, n in given])
                columns[name] = column_of(positions, np.concatenate([c.values for c, _, _ in given]), total)
        steps = _join([part[1].pop("steps") for part in parts], sizes, 0)
        rows = _join([part[1].pop("rows") for part in parts], sizes, 0)
        flags: dict[str, Any] = {  # Table's FLAGS fields
            flag: _join([part[1].pop(flag, None) for part in parts], sizes, False)
            for flag in FLAGS
            if any(flag in part[1] for part in parts)
        }
        return Table(
            framework, steps, columns, rows, **flags, dropped=frozenset(self.dropped - set(columns)), **extra
        )


def _join(parts: list[np.ndarray | None], sizes: list[int], fill: float | bool | int) -> np.ndarray:
    """`parts` end to end, `fill` for a part that is None; freed from the list as they are copied.

    Copied into one preallocated array piece by piece (not np.concatenate), so the pieces of a column
    and the joined column are never all alive at once.
    """
    dtype = bool if isinstance(fill, bool) else np.float64 if isinstance(fill, float) else np.int64
    out = np.empty(sum(sizes), dtype=dtype)
    at = 0
    for i in range(len(parts)):
        piece, parts[i] = parts[i], None
        out[at : at + sizes[i]] = fill if piece is None else piece
        at += sizes[i]
    return out
