"""JSON-lines rows as columns: the `Column` and `JsonRows` records every JSON reader works on, and a parsed
Arrow table turned into them (structs flattened with "/", strings deduplicated, numeric lists opened)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


def leaves(name: str, arr: pa.ChunkedArray) -> Iterator[tuple[str, pa.ChunkedArray]]:
    """(flattened name, leaf array) pairs: structs are opened with "/" between the keys."""
    if pa.types.is_struct(arr.type):
        for field_, child in zip(arr.type, arr.flatten(), strict=False):
            yield from leaves(f"{name}/{field_.name}", child)
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


def all_present(n: int) -> np.ndarray:
    """A read-only mask of n True values that takes no memory (one byte, broadcast): what a column logged on
    every row holds as `present` (13 such masks were 0.23× the payload of a 1M-step native log)."""
    return np.broadcast_to(np.True_, (n,))


def is_all_present(mask: np.ndarray) -> bool:
    """Whether `mask` is an `all_present` mask (checked by its layout, not by reading it)."""
    return mask.ndim == 1 and mask.strides == (0,) and bool(mask[:1].all())


def _column(values: np.ndarray, present: np.ndarray) -> Column:
    """Dense, or sparse when fewer than half the rows log the key (an eval key on 1 row in 1,000)."""
    if present.all() or 2 * np.count_nonzero(present) >= present.size:
        return Column.dense(values, present)
    at = np.flatnonzero(present)
    return Column(int(present.size), values[at], None, at)


def table_columns(
    table: pa.Table, lists: dict[str, None] | None = None
) -> tuple[dict[str, Column], dict[str, Column]]:
    """(numeric, text) columns of a table; given `lists`, list leaves are noted there and opened."""
    numbers: dict[str, Column] = {}
    texts: dict[str, Column] = {}
    for top in table.column_names:
        for name, arr in leaves(top, table.column(top)):
            kind = arr.type
            if arr.null_count == len(arr):
                continue
            if pa.types.is_integer(kind) or pa.types.is_floating(kind):
                # Always a NumPy-owned copy: a zero-copy view would keep this piece's Arrow buffers
                # alive until the end of the read, so the Arrow pool would peak at the whole payload.
                if arr.null_count == 0:  # the common case: skip building a validity mask
                    present = all_present(len(arr))
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
