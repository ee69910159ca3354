"""Steps a console log's rows can be trusted with: a damaged step, a constant step, rows that share a step.

A console row's step is one number on its line, so one damaged line moves a row anywhere. `assemble`
reads a step that goes backwards as a restart, where the later segment wins: a half-written `step=4`
between steps 40 and 50 would drop every earlier row from step 4 on. It also keeps only the last of
several rows with one step, so a validation line that joins its training row's step, a duplicated
step or a fractional one cut to the same whole number drops whole rows without a word. `repair_steps`
settles those cases here, where the lines are still known, and says what it did:

- a fractional step among whole ones is a damaged line: its row (and the rows that took its step) is
  dropped; a step mostly fractional (epochs logged as 0.5, 1.0, …) is no counter: rows are numbered
  in file order, where cutting the fractions would merge rows (100 half-epoch rows → 51). The
  table readers' step_column.plan_steps applies the same rule;
- a run of rows whose step is out of order with the runs on both sides, while those two are in order,
  is a damaged line, not a restart: it is dropped (`outliers`);
- when every row has one step and some key is logged more than once, the step says nothing: rows are
  numbered in file order instead (`constant`);
- rows that share a step are merged into one row. A row whose step came from an earlier line
  (generic rows without a step counter) and that repeats a key already logged at that step, without
  an eval metric beside it, is not that step's validation line but a damaged one: it is dropped
  (`repeated`). Before merging, what the rows are is resolved (shared_steps.py): an eval row that logs
  a training key again keeps it under an eval name, a row that re-logs the step before it as a resumed
  run does starts a new launch (added to `Table.launches`, which `assemble` resolves), and neither is
  merged (`resolution`). Between the rows left, the later value of a key logged again with another
  value wins and the earlier rows are counted (`merged`).

A launch the dialect marked (`Table.launches`, a "Training start…" banner) ends the rows it may be
merged with and the neighbours a step is judged against: the first row of a relaunch that goes back
a little is a restart, not a damaged line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from inspector.runlog import shared_steps
from inspector.runlog.row_names import is_eval_name
from inspector.runlog.shared_steps import Keyed, Move, Resolution, move_keyed
from inspector.runlog.step_column import ISOLATED_FRACTION  # the step rule's numbers, shared by every reader
from inspector.runlog.text_table import Column, Selection, Table, column_of, take

# Line indices kept per kind of repair, for the warning (the counts are exact).
SHOWN = 5


@dataclass(frozen=True)
class StepRepair:
    """The table with trustworthy steps, and the rows each repair touched (line indices, file order)."""

    table: Table
    fraction_dropped: np.ndarray  # rows dropped: a fractional step among whole ones
    fraction_order: tuple[int, int] | None  # (fractional, rows) when rows were numbered for a fractional step
    outliers: np.ndarray  # rows dropped: a step out of order with the rows around them
    outlier_steps: np.ndarray  # (line, step, step before, step after) of the first SHOWN bad runs
    constant: int | None  # the step every row had, when rows were renumbered in file order
    repeated: np.ndarray  # stepless rows dropped: they repeat a key of the step they follow
    merged: int  # rows whose value of some key a later row of the same step replaced
    merged_lines: np.ndarray  # the first SHOWN of those
    # Eval rows, relaunches and rows kept apart among the rows sharing a step; its findings' lines are
    # line indices (Resolution.warnings renders them).
    resolution: Resolution = field(default_factory=Resolution)


def _runs(steps: np.ndarray, launches: np.ndarray | None = None) -> np.ndarray:
    """Index of the run of equal consecutive steps each row belongs to; a row in `launches` starts a run."""
    return shared_steps.runs(steps, launches)


def launch_rows(table: Table) -> np.ndarray:
    """Row index of the first row at or after each launch line of `table` (rows > 0 only, increasing)."""
    if table.launches is None or table.launches.size == 0:
        return np.zeros(0, dtype=np.int64)
    at = np.unique(np.searchsorted(table.rows, table.launches))
    return at[(at > 0) & (at < table.rows.size)]


def _segmented(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """`out_of_order_runs` within each launch (`starts`: indices of the runs that begin one)."""
    if starts.size == 0:
        return out_of_order_runs(values)
    out = np.zeros(values.size, dtype=bool)
    bounds = np.concatenate([[0], starts, [values.size]])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        out[a:b] = out_of_order_runs(values[a:b])
    return out


def out_of_order_runs(values: np.ndarray) -> np.ndarray:
    """Mask of runs (given by their steps) out of order with both neighbours while those are in order.

    The first and last runs have one neighbour: the first is out of order when it is above a
    rising second pair, the last when it is below a rising pair before it. Fewer than 3 runs: none.
    """
    out = np.zeros(values.size, dtype=bool)
    if values.size < 3:
        return out
    prev, mid, nxt = values[:-2], values[1:-1], values[2:]
    out[1:-1] = (prev <= nxt) & ((mid < prev) | (mid > nxt))
    out[0] = values[0] > values[1] and values[1] <= values[2]
    out[-1] = values[-1] < values[-2] and values[-3] <= values[-2]
    return out


def _repeats(table: Table, run: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: whether it repeats a key already logged by an earlier row of its run; whether it is
    overridden.

    A row is overridden when a later row of its run logs one of its keys as another value, or logs
    nothing new (a duplicated line); an equal value beside new keys loses nothing.
    """
    n = table.rows.size
    repeats = np.zeros(n, dtype=bool)
    overridden = np.zeros(n, dtype=bool)
    keys = np.zeros(n, dtype=np.int64)
    again = np.zeros(n, dtype=np.int64)
    for column in table.columns.values():
        at = column.positions(n)
        keys[at] += 1
        same = run[at[1:]] == run[at[:-1]]  # positions increase, so a run's entries are adjacent
        if same.any():
            repeats[at[1:][same]] = True
            again[at[1:][same]] += 1
            before, after = column.values[:-1][same], column.values[1:][same]
            differ = (before != after) & ~(np.isnan(before) & np.isnan(after))
            overridden[at[:-1][same][differ]] = True
    overridden[np.flatnonzero((keys == again) & (keys > 0)) - 1] = True  # never a run's first row
    return repeats, overridden


def _keyed(table: Table) -> list[Keyed]:
    n = table.rows.size
    return [Keyed(name, c.positions(n), c.values) for name, c in table.columns.items()]


def _move(table: Table, moves: tuple[Move, ...]) -> Table:
    """`table` with each move applied (an eval row's `loss` kept as `val/loss`); key order kept, new last."""
    if not moves:
        return table
    n = table.rows.size
    columns_in = table.columns
    names = [m.source for m in moves] + [m.target for m in moves if m.target in columns_in]
    touched = list(dict.fromkeys(names))
    before = [Keyed(name, columns_in[name].positions(n), columns_in[name].values) for name in touched]
    after = {k.name: k for k in move_keyed(before, moves, n)}
    columns: dict[str, Column] = {}
    for name, column in table.columns.items():
        if name not in touched:
            columns[name] = column
        elif name in after:
            columns[name] = column_of(after[name].rows, after[name].values, n)
    for name, key in after.items():
        if name not in columns:
            columns[name] = column_of(key.rows, key.values, n)
    return replace(table, columns=columns)


def _eval_rows(table: Table) -> np.ndarray:
    """Per row: whether it logs an eval key (mAP/AP/accuracy…, or a key prefixed eval/val/test)."""
    n = table.rows.size
    out = np.zeros(n, dtype=bool)
    for name, column in table.columns.items():
        if is_eval_name(name):
            out[column.positions(n)] = True
    return out


def _merge_runs(table: Table, run: np.ndarray) -> Table:
    """One row per run: its step, its last line, each key's last value in the run."""
    groups = int(run[-1]) + 1
    last = np.ones(run.size, dtype=bool)
    np.not_equal(run[1:], run[:-1], out=last[:-1])
    columns: dict[str, Column] = {
        k: column_of(run[c.positions(run.size)], c.values, groups) for k, c in table.columns.items()
    }
    return replace(
        table,
        steps=table.steps[last],
        columns=columns,
        rows=table.rows[last],
        epochs=None if table.epochs is None else table.epochs[last],
        inherited=None,
    )


def _settle_fractions(table: Table) -> tuple[Table, np.ndarray, tuple[int, int] | None]:
    """`table` without fractional steps: dropped when isolated, else rows numbered in file order."""
    none = np.zeros(0, dtype=np.int64)
    if table.fractional is None:
        return table, none, None
    fractional = table.fractional
    own = np.ones(fractional.size, dtype=bool) if table.inherited is None else ~table.inherited
    owner = np.maximum(np.cumsum(own) - 1, 0)  # the row whose step each row carries
    n_fractional, n_own = int(fractional.sum()), int(own.sum())
    if n_fractional * ISOLATED_FRACTION < n_own:
        drop = fractional[own][owner]
        return take(replace(table, fractional=None), Selection.of(~drop)), table.rows[fractional], None
    return replace(table, steps=owner.astype(np.int64), fractional=None), none, (n_fractional, n_own)


def repair_steps(table: Table) -> StepRepair:
    """`table` with damaged steps dropped, a constant step numbered by row, shared steps resolved, merged."""
    none = np.zeros(0, dtype=np.int64)
    table, fraction_dropped, fraction_order = _settle_fractions(table)
    steps = table.steps
    if steps.size < 2 or bool(np.all(steps[1:] > steps[:-1])):  # the usual log: nothing to do
        return StepRepair(
            table, fraction_dropped, fraction_order, none, np.zeros((0, 4), np.int64), None, none, 0, none
        )
    launches = launch_rows(table)
    run = _runs(steps, launches)
    firsts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    bad_runs = _segmented(steps[firsts], np.searchsorted(firsts, launches))
    outliers, context = none, np.zeros((0, 4), np.int64)
    if bad_runs.any():
        which = np.flatnonzero(bad_runs)
        values = steps[firsts]
        # Per bad run (the first SHOWN): its first line, its step, the steps of the runs around it.
        context = np.stack(
            [
                table.rows[firsts[which]],
                values[which],
                values[np.maximum(which - 1, 0)],
                values[np.minimum(which + 1, values.size - 1)],
            ],
            axis=1,
        )[:SHOWN]
        drop = bad_runs[run]
        outliers = table.rows[drop]
        table = take(table, Selection.of(~drop))
        steps = table.steps
        launches = launch_rows(table)
        run = _runs(steps, launches)
    constant = None
    if steps.size > 1 and steps[0] == steps[-1] and run[-1] == 0:
        repeats, _ = _repeats(table, run)
        if repeats.any():
            constant = int(steps[0])
            # A row that took its step from an earlier line stays with that line's row.
            explicit = np.ones(steps.size, dtype=bool) if table.inherited is None else ~table.inherited
            numbered = np.maximum(np.cumsum(explicit) - 1, 0).astype(np.int64)
            table = replace(table, steps=numbered)
            steps = numbered
            run = _runs(steps, launches)
    if steps.size < 2 or bool(np.all(run[1:] != run[:-1])):
        return StepRepair(table, fraction_dropped, fraction_order, outliers, context, constant, none, 0, none)
    repeated = none
    if table.inherited is not None:
        repeats, _ = _repeats(table, run)
        # A stepless line with an eval metric beside the repeated key is that step's eval line: resolved next.
        bad = repeats & table.inherited & ~_eval_rows(table)
        if bad.any():
            repeated = table.rows[bad]
            table = take(table, Selection.of(~bad))
            launches = launch_rows(table)
    found = shared_steps.resolve(table.steps, lambda: _keyed(table), table.rows, launches=launches)
    table = _move(table, found.moves)
    relaunched = np.setdiff1d(found.launches, launches)
    if relaunched.size:  # a new launch for `assemble`, as the dialects mark theirs: by line
        marked = table.launches
        lines = table.rows[relaunched] if marked is None else np.union1d(marked, table.rows[relaunched])
        table = replace(table, launches=lines)
    run = _runs(table.steps, found.launches)
    _, overridden = _repeats(table, run)
    merged_lines = table.rows[overridden]
    table = _merge_runs(table, run)
    return StepRepair(
        table,
        fraction_dropped,
        fraction_order,
        outliers,
        context,
        constant,
        repeated,
        int(merged_lines.size),
        merged_lines[:SHOWN],
        found,
    )
