"""JSON-lines rows that grow as a followed log is appended to, at a cost that follows the new rows.

A follower's `jsonlines.load` parses only the appended lines into a `JsonRows` of their own; joining it
to the rows so far with `np.concatenate` copied every column each poll (74 ms of a 100 ms poll on a
1M-row log). Here each column lives in an array with spare capacity (half as much again as it
holds, as a Python list grows), the new rows are copied into the spare room, and the `JsonRows` handed
out holds views of the filled part. Those views never change afterwards: later rows only go past their
end, and a column that outgrows its array moves to a new one, leaving the old views as they were.

Written here, not taken from a library: pyarrow's and NumPy's arrays are fixed-size, and a pyarrow
ChunkedArray would hand the readers chunked columns they do not take.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inspector.runlog.json_columns import Column, JsonRows


class _Growing:
    """A 1-D array filled from the front, with room to append."""

    def __init__(self, dtype: np.dtype | type) -> None:
        self.buf = np.empty(0, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + values.shape[0]
        if need > self.buf.shape[0]:
            grown = np.empty(max(need + need // 2, 1024), dtype=self.buf.dtype)
            grown[: self.n] = self.buf[: self.n]
            self.buf = grown
        self.buf[self.n : need] = values
        self.n = need

    def view(self) -> np.ndarray:
        return self.buf[: self.n]


@dataclass
class _Key:
    """One key's column: dense (a value and a present flag per row) or sparse (rows that logged it)."""

    values: _Growing
    present: _Growing | None  # dense
    rows: _Growing | None  # sparse

    @classmethod
    def empty(cls, dtype: np.dtype, dense: bool, n: int) -> _Key:
        key = cls(
            _Growing(dtype), _Growing(np.bool_) if dense else None, None if dense else _Growing(np.int64)
        )
        if dense and n:
            key.pad(n)
        return key

    def pad(self, count: int) -> None:
        """`count` rows that did not log the key (dense only)."""
        if self.present is None:
            return
        fill = None if self.values.buf.dtype == object else np.nan
        self.values.extend(np.full(count, fill, dtype=self.values.buf.dtype))
        self.present.extend(np.zeros(count, dtype=bool))

    def add(self, col: Column, offset: int) -> None:
        """The rows of `col` (over a table of new rows that starts at row `offset`)."""
        if self.present is not None:
            self.values.extend(col.full())
            self.present.extend(col.mask())
        else:
            assert self.rows is not None
            self.rows.extend(col.positions() + offset)
            self.values.extend(col.logged())

    def count(self) -> int:
        if self.present is not None:
            return int(np.count_nonzero(self.present.view()))
        return self.values.n

    def column(self, n: int) -> Column:
        if self.present is not None:
            return Column(n, self.values.view(), self.present.view())
        assert self.rows is not None
        return Column(n, self.values.view(), None, self.rows.view())

    def recast(self, n: int) -> _Key:
        """The same column stored the other way, once its density crossed the line (Column.of's rule, with a
        margin so that a key near half the rows does not switch back and forth)."""
        col = self.column(n)
        dense = self.present is None
        key = _Key.empty(self.values.buf.dtype, dense, 0)
        key.add(col, 0)
        return key


@dataclass
class GrowingRows:
    """The rows of a followed JSON-lines file so far (the state `jsonlines.load` keeps between polls)."""

    n: int = 0
    lines: _Growing = field(default_factory=lambda: _Growing(np.int64))
    numbers: dict[str, _Key] = field(default_factory=dict)
    texts: dict[str, _Key] = field(default_factory=dict)

    def extend(self, new: JsonRows) -> None:
        """Append the rows of `new` (parsed from the lines after the last ones)."""
        if new.n_rows == 0:
            return
        offset, total = self.n, self.n + new.n_rows
        for kind, columns in ((self.numbers, new.numbers), (self.texts, new.texts)):
            for name, col in columns.items():
                if name not in kind:
                    kind[name] = _Key.empty(col.values.dtype, not col.sparse, offset)
                kind[name].add(col, offset)
            for name, stored in kind.items():
                if name not in columns:
                    stored.pad(new.n_rows)
            for name, stored in list(kind.items()):
                count, dense = stored.count(), stored.present is not None
                if (not dense and 2 * count >= total) or (dense and 4 * count < total):
                    kind[name] = stored.recast(total)
        self.lines.extend(new.line_numbers)
        self.n = total

    def rows(self, warnings: list[str], lists: tuple[str, ...]) -> JsonRows:
        return JsonRows(
            self.n,
            {k: c.column(self.n) for k, c in self.numbers.items()},
            {k: c.column(self.n) for k, c in self.texts.items()},
            self.lines.view(),
            warnings,
            lists,
        )
