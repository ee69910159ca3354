"""Evaluation rows a console-log dialect reads line by line: {key: value} per line, keys capped.

Evaluation lines are few (one block per epoch or per eval interval), so a dialect parses them in Python
and adds each one here; its step is often only known later (the last training step of its epoch may
come in a later piece). Keys are capped at limits.max_series() as they arrive, so a log whose eval lines
each add new keys holds at most that many (a Collector per line would cost O(keys × lines) to join), and
values sit in typed arrays (8 bytes each, not a Python float and a list slot).
"""

from __future__ import annotations

from array import array

import numpy as np

from inspector import limits
from inspector.runlog.text_table import Column, Table


class EvalRows:
    """Rows of {key: value} in file order, `lines[k]` being row k's line index."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or limits.max_series()
        self.lines = array("q")
        self.values: dict[str, tuple[array, array]] = {}  # key → (rows, values)
        self.dropped: set[str] = set()

    def add(self, line: int, values: dict[str, float]) -> bool:
        """One eval line's values; False (and no row) when it has none."""
        if not values:
            return False
        row = len(self.lines)
        self.lines.append(line)
        for key, value in values.items():
            kept = self.values.get(key)
            if kept is None:
                if len(self.values) >= self.limit:
                    self.dropped.add(key)
                    continue
                kept = self.values[key] = (array("q"), array("d"))
            kept[0].append(row)
            kept[1].append(value)
        return True

    def table(self, framework: str, steps: np.ndarray, keep: np.ndarray | None = None) -> Table:
        """The rows as a Table with `steps` (one per row), only the rows `keep` marks (None: all)."""
        n = len(self.lines)
        lines = np.frombuffer(self.lines, dtype=np.int64) if n else np.zeros(0, np.int64)
        keep = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
        index = np.cumsum(keep) - 1
        total = int(keep.sum())
        columns: dict[str, Column] = {}
        for key, (rows, values) in self.values.items():
            at = np.frombuffer(rows, dtype=np.int64)
            on = keep[at]
            if not on.any():
                continue
            positions = index[at[on]]
            v = np.frombuffer(values, dtype=np.float64)[on]
            columns[key] = Column(v) if positions.size == total else Column(v, positions)
        return Table(
            framework,
            np.asarray(steps, dtype=np.int64)[keep],
            columns,
            lines[keep],
            dropped=frozenset(self.dropped),
        )
