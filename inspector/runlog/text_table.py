"""Console-log rows as row-aligned tables: the Table a dialect parser returns, and the column plumbing.

Finding a dialect's lines (`matching`), cutting fields out of them (`fields`), turning their pairs
into a table (`rows_table`), merging eval rows into the training row of their step (`merge_rows`) and
joining per-piece columns into one table (`Collector`) are shared by every parser in text_dialects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from inspector.runlog.text_pairs import extract_pairs


@dataclass(frozen=True)
class Table:
    """Row-aligned columns in file order, ready for `assemble`."""

    framework: str
    steps: np.ndarray
    columns: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    rows: np.ndarray                 # line index of each row (for the truncated-tail check)
    step_unit: str = "iteration"
    epochs: np.ndarray | None = None
    config: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)   # line indices that looked like rows



def bools(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def ints(array: pa.Array) -> np.ndarray:
    return pc.cast(array, pa.int64()).to_numpy(zero_copy_only=False)


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


def rows_table(framework: str, lines: pa.Array, rows: np.ndarray, steps: np.ndarray,
                drop: tuple[str, ...] = ()) -> Table:
    """Pairs of `rows` as a table whose step per row is `steps`."""
    pairs = extract_pairs(lines, rows)
    keep = np.isin(rows, pairs.rows)
    at = np.searchsorted(pairs.rows, rows[keep])
    columns = {k: v[at] for k, v in pairs.columns.items() if k not in drop}
    present = {k: pairs.present[k][at] for k in columns}
    return Table(framework, steps[keep], columns, present, rows[keep])


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


def merge_rows(table: Table, rows: np.ndarray, steps: np.ndarray, columns: dict[str, np.ndarray]) -> Table:
    """`table` with extra values (validation, eval) merged into the last row of their step.

    `assemble` keeps one row per repeated step, so an eval printed as its own line must join the
    training row of the same step rather than become a second row that would replace it. Values at
    a step no row has become new rows, in file order.

    Memory: a training column the extra values do not touch is passed on as it is; the others are
    built one at a time directly in their final order (a 1M-row mmdet log used to hold every column
    three times here).
    """
    if rows.size == 0:
        return table
    n = table.rows.size
    target = last_row_of(table.steps, np.asarray(steps, dtype=np.int64))
    extra = np.flatnonzero(target < 0)
    target[extra] = n + np.arange(extra.size)
    total = n + extra.size
    all_rows = np.concatenate([table.rows, rows[extra]]) if extra.size else table.rows
    # Position of each (old row, then extra row) in file order; the identity when nothing is added.
    order = np.argsort(all_rows, kind="stable") if extra.size else None
    where = None
    if order is not None:
        where = np.empty(total, dtype=np.int64)
        where[order] = np.arange(total)

    def placed(old: np.ndarray | None, fill: float | bool, at: np.ndarray | None, values) -> np.ndarray:
        """`old` (the training rows' values) moved to its final rows, with `values` written at `at`."""
        if at is None and where is None and old is not None:
            return old
        out = np.full(total, fill, dtype=np.float64 if isinstance(fill, float) else bool)
        if old is not None and where is None:
            out[:n] = old
        elif old is not None:
            out[where[:n]] = old
        if at is not None:
            out[at] = values
        return out

    cols, pres = {}, {}
    for name in dict.fromkeys([*table.columns, *columns]):
        at = new = None
        if name in columns:
            new = np.asarray(columns[name], dtype=np.float64)
            given = ~np.isnan(new)
            new, at = new[given], target[given] if where is None else where[target[given]]
        cols[name] = placed(table.columns.get(name), np.nan, at, new)
        pres[name] = placed(table.present.get(name), False, at, True)
    all_steps = np.concatenate([table.steps, steps[extra]])[order] if extra.size else table.steps
    return Table(table.framework, all_steps, cols, pres, all_rows if order is None else all_rows[order],
                 table.step_unit, None, table.config, table.warnings, table.bad_lines)


class Collector:
    """Per-piece row-aligned columns, joined into one Table at the end (a missing key: NaN, absent)."""

    def __init__(self) -> None:
        # Per piece: its row count, {"steps", "rows"}, columns, present (dicts: popped while joining).
        self.parts: list[tuple[int, dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]] = []

    def add(self, steps: np.ndarray, columns: dict[str, np.ndarray], present: dict[str, np.ndarray],
            rows: np.ndarray) -> None:
        if rows.size:
            # A key on every row of the piece keeps no mask (most keys of a large log): less to hold.
            present = {k: p for k, p in present.items() if not p.all()}
            self.parts.append((int(rows.size), {"steps": steps, "rows": rows}, columns, present))

    def table(self, framework: str, **extra) -> Table:
        """One Table of every piece's rows; each piece's array is freed as soon as it is copied."""
        parts, self.parts = self.parts, []
        sizes = [n for n, *_ in parts]
        keys = list(dict.fromkeys(k for part in parts for k in part[2]))
        # A part without the key has no value there; one with the key but no mask has it on every row.
        present = {k: _join([part[3] for part in parts], k, sizes, True,
                            missing=[k not in part[2] for part in parts]) for k in keys}
        columns = {k: _join([part[2] for part in parts], k, sizes, np.nan) for k in keys}
        steps = _join([part[1] for part in parts], "steps", sizes, 0)
        rows = _join([part[1] for part in parts], "rows", sizes, 0)
        return Table(framework, steps, columns, present, rows, **extra)


def _join(parts: list[dict[str, np.ndarray]], key: str, sizes: list[int], fill: float | bool | int,
          missing: list[bool] | None = None) -> np.ndarray:
    """parts[i][key] end to end (popped from each part); `fill` where a part lacks it, False where `missing`.

    Copied into one preallocated array piece by piece (not np.concatenate), so the pieces of a column
    and the joined column are never all alive at once.
    """
    dtype = bool if isinstance(fill, bool) else np.float64 if isinstance(fill, float) else np.int64
    out = np.empty(sum(sizes), dtype=dtype)
    at = 0
    for i, part in enumerate(parts):
        piece = part.pop(key, None)
        out[at:at + sizes[i]] = (False if missing and missing[i] else fill) if piece is None else piece
        at += sizes[i]
    return out
