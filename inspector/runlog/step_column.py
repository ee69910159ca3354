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
  winning per column. Rows that only complement each other (a train row and a val row of one step,
  or rows that repeat a value unchanged, as Lightning's `epoch`) merge silently; where a value is
  replaced by another, the warning counts the rows and the values;
- given the table's `RowEvidence`, rows that share a step are resolved before they merge
  (shared_steps.py): an eval row's values move under eval names instead of replacing the training
  values, and a relaunch (a header line again, a clock that goes back, a re-logged step) starts a
  new launch, which the reader gives to `assemble(launches=)` instead of merging it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from inspector.runlog.shared_steps import Keyed, Labels, Move, Resolution, resolve

# Largest |step| kept: float64 represents every integer up to 2**53, so a step beyond it is not exact.
MAX_EXACT_STEP = 2.0**53
# Fractional steps are "isolated" (damaged cells) when fewer than 1 row in this many has one. A real
# fractional column logs at least two rows per whole unit (0.5 epochs): half its rows or more.
ISOLATED_FRACTION = 10
# How many line numbers a warning lists before it says "…".
LINES_LISTED = 10

# A metric column: float64 values per row and where a value was written (None: every row).
Cells = tuple[np.ndarray, np.ndarray | None]


def lines_text(lines: Sequence[int] | np.ndarray) -> str:
    """The first LINES_LISTED line numbers, comma-separated, with "…" when there are more."""
    shown = ", ".join(str(int(n)) for n in lines[:LINES_LISTED])
    return shown + (", …" if len(lines) > LINES_LISTED else "")


@dataclass(frozen=True)
class RowEvidence:
    """What a table says about its rows besides their step, for `plan_steps` to resolve shared steps.

    `labels`: a split column (shared_steps.Labels, one code per input row); `launch_lines`: lines after
    which a new launch begins (a header line written again); `clock`: the metric column that may be a clock.
    """

    labels: Labels | None = None
    launch_lines: np.ndarray | None = None
    clock: str | None = None


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
    moves: tuple[Move, ...] = ()  # values to keep under other names first (rows: input rows)
    launches: np.ndarray | None = None  # output rows where a new launch starts, for assemble(launches=)

    def take(
        self, values: np.ndarray, present: np.ndarray | None = None
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


def _replaced(metrics: Mapping[str, Cells], rows: np.ndarray, starts: np.ndarray) -> tuple[int, bool]:
    """(values that merging the runs at `starts` replaces by another value, whether a row duplicates one).

    An equal value beside new columns loses nothing: Lightning writes the train row's `epoch` again on
    the val row of its step. A row that writes nothing new at its step is a duplicate, merged all the same.
    """
    n = rows.shape[0]
    run = np.zeros(n, dtype=np.int64)
    run[starts[1:]] = 1
    np.cumsum(run, out=run)
    # Only rows of runs with 2+ rows can replace anything (usually a few eval rows among many).
    shared = (np.diff(np.append(starts, n)) > 1)[run]
    keys = np.zeros(n, dtype=np.int64)
    again = np.zeros(n, dtype=np.int64)
    total = 0
    for values, mask in metrics.values():
        where = np.flatnonzero(shared if mask is None else shared & mask[rows])
        keys[where] += 1
        if where.size < 2:
            continue
        same = run[where[1:]] == run[where[:-1]]
        if not same.any():
            continue
        again[where[1:][same]] += 1
        before, after = values[rows[where[:-1][same]]], values[rows[where[1:][same]]]
        total += int(np.count_nonzero((before != after) & ~(np.isnan(before) & np.isnan(after))))
    return total, bool(np.any((keys == again) & (keys > 0)))


def _written_twice(present: Iterable[np.ndarray | None], rows: np.ndarray) -> bool:
    return any(rows.shape[0] > 1 if mask is None else int(mask[rows].sum()) > 1 for mask in present)


def moved(metrics: Mapping[str, Cells], moves: Sequence[Move], n: int) -> dict[str, Cells]:
    """`metrics` (values, written mask or None) of `n` rows with each move applied: the values at a move's
    rows leave its source column (no longer written there) for its target column."""
    out = dict(metrics)
    for move in moves:
        values, mask = out[move.source]
        mask = np.ones(n, dtype=bool) if mask is None else mask.copy()
        mask[move.rows] = False
        out[move.source] = (values, mask)
        target = out.get(move.target)
        t_values = np.full(n, np.nan) if target is None else target[0].copy()
        t_mask = (
            np.zeros(n, dtype=bool)
            if target is None
            else (np.ones(n, dtype=bool) if target[1] is None else target[1].copy())
        )
        t_values[move.rows] = values[move.rows]
        t_mask[move.rows] = True
        out[move.target] = (t_values, t_mask)
    return out


def _kept_keys(metrics: Mapping[str, Cells], rows: np.ndarray | None) -> list[Keyed]:
    """Every metric over the kept `rows` (None: all) as (kept-row positions, values)."""
    keys = []
    for name, (values, mask) in metrics.items():
        v = values if rows is None else values[rows]
        if mask is None:
            keys.append(Keyed(name, np.arange(v.shape[0]), v))
            continue
        at = np.flatnonzero(mask if rows is None else mask[rows])
        keys.append(Keyed(name, at, v[at]))
    return keys


def _resolve(
    steps: np.ndarray,
    rows: np.ndarray | None,
    lines: np.ndarray,
    metrics: Mapping[str, Cells],
    evidence: RowEvidence,
) -> Resolution:
    """`shared_steps.resolve` over the kept rows; its moves' rows are input rows again."""
    kept_lines = lines if rows is None else lines[rows]
    launches = None
    if evidence.launch_lines is not None and evidence.launch_lines.size:
        # A new launch begins at the first kept row after each header line written again.
        launches = np.searchsorted(kept_lines, np.asarray(evidence.launch_lines), side="right")
    clock = None
    if evidence.clock is not None and evidence.clock in metrics:
        values, mask = metrics[evidence.clock]
        logged = values if mask is None else values[mask]
        if logged.size > 2 and bool(np.any(logged[1:] < logged[:-1])):  # the usual clock never goes back
            clock = _kept_keys({evidence.clock: metrics[evidence.clock]}, rows)[0]
    labels = None if evidence.labels is None else evidence.labels.take(rows)
    found = resolve(
        steps, lambda: _kept_keys(metrics, rows), kept_lines, labels=labels, launches=launches, clock=clock
    )
    if rows is None or not found.moves:
        return found
    return replace(found, moves=tuple(replace(m, rows=rows[m.rows]) for m in found.moves))


def plan_steps(
    raw: np.ndarray,
    written: np.ndarray | None,
    lines: np.ndarray,
    name: str,
    metrics_present: Sequence[np.ndarray | None] = (),
    *,
    metrics: Mapping[str, Cells] | None = None,
    evidence: RowEvidence | None = None,
) -> StepPlan:
    """The StepPlan of step column `name` (float64 per row, `written` where a cell held a value).

    `lines` are the rows' 1-based line numbers (for the warnings); `metrics_present` the written masks
    of the other columns (None: written in every row), to tell a constant column that hides an order
    from one whose rows only complement each other. `metrics` ({name: (values, written mask or None)})
    may replace it: then only a value replaced by another value counts as replaced. With `evidence`
    (and `metrics`), rows that share a step are resolved first (shared_steps.py): eval values move
    under eval names (`StepPlan.moves`) and relaunches start launches (`StepPlan.launches`).
    """
    n = raw.shape[0]
    if metrics is not None and not metrics_present:
        metrics_present = [mask for _, mask in metrics.values()]
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
        warnings.append(
            f"{bad.size} row(s) with a {name!r} beyond ±2**53 (not an exact step) skipped "
            f"(line {lines_text(bad)})."
        )
        usable &= ~huge
        safe[huge] = 0.0
    fractional = safe != np.floor(safe)
    del safe
    n_frac, n_usable = int(fractional.sum()), int(usable.sum())
    if n_frac and n_frac * ISOLATED_FRACTION < n_usable:
        bad = lines[fractional]
        warnings.append(
            f"{n_frac} row(s) with a fractional {name!r} among whole ones skipped (line {lines_text(bad)})."
        )
        usable &= ~fractional
        n_frac, n_usable = 0, n_usable - n_frac
    every = bool(usable.all())
    rows = None if every else np.flatnonzero(usable)
    kept = raw if every else raw[rows]
    epochs, row_order = None, False
    if n_frac:
        warnings.append(
            f"{name!r} holds fractional values in {n_frac} of {n_usable} row(s): not a step "
            "counter; the row order is the step and the values are kept as epochs."
        )
        steps, epochs, row_order = np.arange(n_usable, dtype=np.int64), kept, True
    else:
        steps = kept.astype(np.int64)
        if (
            steps.size > 1
            and steps[0] == steps[-1]
            and bool(np.all(steps[1:] == steps[:-1]))
            and _written_twice(metrics_present, np.arange(n) if rows is None else rows)
        ):
            warnings.append(f"every row has {name} {int(steps[0])}; rows are numbered in file order instead.")
            steps, row_order = np.arange(n_usable, dtype=np.int64), True
    moves: tuple[Move, ...] = ()
    launches = np.zeros(0, dtype=np.int64)
    if evidence is not None and metrics is not None:
        found = _resolve(steps, rows, lines, metrics, evidence)
        warnings += found.warnings(lambda at: f"line {lines_text(at)}")
        moves, launches = found.moves, found.launches
    repeats = steps[1:] == steps[:-1]
    if launches.size:
        repeats[launches - 1] = False  # a new launch is never merged into the row before it
    if not repeats.any():  # the usual log: no index array is made
        return StepPlan(
            steps, rows, None, epochs, row_order, tuple(warnings), moves, launches if launches.size else None
        )
    all_rows = np.arange(n) if rows is None else rows
    starts = np.flatnonzero(np.concatenate([[True], ~repeats]))
    if metrics is None:
        replaced, duplicated = _overwritten(metrics_present, all_rows, starts), False
    else:
        replaced, duplicated = _replaced(moved(metrics, moves, n) if moves else metrics, all_rows, starts)
    if replaced or duplicated:  # rows that only complement each other (a train row, a val row) merge silently
        merged = lines[all_rows][:-1][repeats]  # a merged row shares its step with the row after it
        warnings.append(
            f"{merged.size} row(s) share their {name!r} with a later row (line "
            f"{lines_text(merged)}): merged into one row per step, the later value winning "
            f"per column ({replaced} value(s) replaced)."
        )
    # Each launch starts a run, so its output row is the run's index.
    out_launches = np.searchsorted(starts, launches) if launches.size else None
    return StepPlan(steps[starts], all_rows, starts, None, False, tuple(warnings), moves, out_launches)
