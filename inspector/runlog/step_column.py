"""Which rows a numeric step column can be trusted with, and what each kept row's step is.

A table reader (CSV, a W&B export, Ultralytics results.csv) takes its steps from one column, so one
damaged cell moves a row anywhere, and `assemble` keeps only the last of several rows with one step:
a fractional, duplicated or constant step column would merge rows without a word (100 rows → 51,
100 → 50, 1000 → 1). `plan_steps` settles those cases while the line numbers are known, and says
what it did:

- a missing or non-finite step, or one beyond ±2**53 (float64 holds every integer only up to there;
  1e300 cast to int64 became -9.2e18, read as a restart), rejects its row;
- a fractional step among whole ones (fewer than 1 row in `ISOLATED_FRACTION`) is a damaged cell:
  its row is rejected;
- a column mostly fractional (an epoch logged as 0.5, 1.0, 1.5, …) is not a step counter: the row
  order becomes the step and the values are kept as epochs. Rounding would merge rows and lose
  values (100 half-epoch rows → 51); the row order loses nothing, only restarts go unseen;
- a column with one value in every row, where some metric is written in more than one row, says
  nothing about order: the row order becomes the step;
- consecutive rows that share a step are merged into one row per step, the later written value
  winning per column. Rows that only complement each other (a train row and a val row of one step)
  merge silently; where a value is replaced, the warning counts the rows and the values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

# Largest |step| kept: float64 represents every integer up to 2**53, so a step beyond it is not exact.
MAX_EXACT_STEP = 2.0**53
# Fractional steps are "isolated" (damaged cells) when fewer than 1 row in this many has one. A real
# fractional column logs at least two rows per whole unit (0.5 epochs): half its rows or more.
ISOLATED_FRACTION = 10
# How many line numbers a warning lists before it says "…".
LINES_LISTED = 10


def lines_text(lines: Sequence[int]) -> str:
    """The first LINES_LISTED line numbers, comma-separated, with "…" when there are more."""
    shown = ", ".join(str(int(n)) for n in lines[:LINES_LISTED])
    return shown + (", …" if len(lines) > LINES_LISTED else "")


@dataclass(frozen=True)
class StepPlan:
    """How a table's rows become a RunLog's rows.

    `rows` are the indices of the input rows kept (None: every row, in order, with no copy made);
    `starts` the positions in `rows` where a run of rows sharing a step begins (None: no run has two
    rows); `steps` one int64 per output row. `epochs` holds the step column's own values where the row
    order became the step (a fractional column), else None. `row_order` says the step is a row index.
    """

    steps: np.ndarray
    rows: np.ndarray | None
    starts: np.ndarray | None
    epochs: np.ndarray | None
    row_order: bool
    warnings: tuple[str, ...]

    def take(self, values: np.ndarray, present: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray | None]:
        """(values, written mask or None when every output row is written) of one column, per output row."""
        if self.rows is None:
            return values, present
        v = values[self.rows]
        p = None if present is None else present[self.rows]
        if self.starts is None:
            return v, p
        order = np.arange(v.shape[0])
        # The last written row of each run (-1: the column is written in none of its rows).
        last = np.maximum.reduceat(order if p is None else np.where(p, order, -1), self.starts)
        written = last >= 0
        out = np.full(self.starts.shape[0], np.nan)
        out[written] = v[last[written]]
        return out, None if written.all() else written


def _overwritten(present: Iterable[np.ndarray | None], rows: np.ndarray, starts: np.ndarray) -> int:
    """Values that merging the runs at `starts` replaces: a column written twice or more in one run."""
    lengths = np.diff(np.append(starts, rows.shape[0]))
    total = 0
    for mask in present:
        counts = lengths if mask is None else np.add.reduceat(mask[rows].astype(np.int64), starts)
        total += int(np.maximum(counts - 1, 0).sum())
    return total


def _written_twice(present: Iterable[np.ndarray | None], rows: np.ndarray) -> bool:
    return any(rows.shape[0] > 1 if mask is None else int(mask[rows].sum()) > 1 for mask in present)


def plan_steps(raw: np.ndarray, written: np.ndarray | None, lines: np.ndarray, name: str,
               metrics_present: Sequence[np.ndarray | None] = ()) -> StepPlan:
    """The StepPlan of step column `name` (float64 per row, `written` where a cell held a value).

    `lines` are the rows' 1-based line numbers (for the warnings); `metrics_present` the written masks
    of the other columns (None: written in every row), to tell a constant column that hides an order
    from one whose rows only complement each other.
    """
    n = raw.shape[0]
    usable = np.isfinite(raw)
    if written is not None:
        usable &= written
    warnings: list[str] = []
    if not usable.all():
        bad = lines[~usable]
        warnings.append(f"{bad.size} row(s) without a {name!r} value skipped (line {lines_text(bad)}).")
    safe = np.where(usable, raw, 0.0)  # no NaN/inf in the comparisons below
    huge = np.abs(safe) > MAX_EXACT_STEP
    if huge.any():
        bad = lines[huge]
        warnings.append(f"{bad.size} row(s) with a {name!r} beyond ±2**53 (not an exact step) skipped "
                        f"(line {lines_text(bad)}).")
        usable &= ~huge
        safe[huge] = 0.0
    fractional = safe != np.floor(safe)
    del safe
    n_frac, n_usable = int(fractional.sum()), int(usable.sum())
    if n_frac and n_frac * ISOLATED_FRACTION < n_usable:
        bad = lines[fractional]
        warnings.append(f"{n_frac} row(s) with a fractional {name!r} among whole ones skipped "
                        f"(line {lines_text(bad)}).")
        usable &= ~fractional
        n_frac, n_usable = 0, n_usable - n_frac
    every = bool(usable.all())
    rows = None if every else np.flatnonzero(usable)
    kept = raw if every else raw[rows]
    if n_frac:
        warnings.append(f"{name!r} holds fractional values in {n_frac} of {n_usable} row(s): not a step "
                        "counter; the row order is the step and the values are kept as epochs.")
        return StepPlan(np.arange(n_usable, dtype=np.int64), rows, None, kept, True, tuple(warnings))
    steps = kept.astype(np.int64)
    repeats = steps[1:] == steps[:-1]
    if not repeats.any():  # the usual log: no index array is made
        return StepPlan(steps, rows, None, None, False, tuple(warnings))
    all_rows = np.arange(n) if rows is None else rows
    if bool(repeats.all()) and _written_twice(metrics_present, all_rows):
        warnings.append(f"every row has {name} {int(steps[0])}; rows are numbered in file order instead.")
        return StepPlan(np.arange(n_usable, dtype=np.int64), rows, None, None, True, tuple(warnings))
    starts = np.flatnonzero(np.concatenate([[True], ~repeats]))
    replaced = _overwritten(metrics_present, all_rows, starts)
    if replaced:  # rows that only complement each other (a train row, a val row) merge without loss
        merged = lines[all_rows][:-1][repeats]  # a merged row shares its step with the row after it
        warnings.append(f"{merged.size} row(s) share their {name!r} with a later row (line "
                        f"{lines_text(merged)}): merged into one row per step, the later value winning "
                        f"per column ({replaced} value(s) replaced).")
    return StepPlan(steps[starts], all_rows, starts, None, False, tuple(warnings))
