"""Steps a JSON log's rows can be trusted with, and merging the rows that share one, with what was done said.

`assemble` reads a step that goes backwards as a restart (the later segment wins) and keeps one row per
step, so without these rules one bad step value silently costs good rows:

- a step that is not finite or beyond 2**53 (float64's integers; `1e300` or `2**70` cast to int64 became
  -9.2e18, a "restart" that dropped every earlier row) rejects its row;
- a fractional step among whole ones (fewer than 1 row in ISOLATED_FRACTION) is a damaged line and its
  row is rejected; a step mostly fractional (epochs logged as 0.5, 1.0, …) is no counter: rows are
  numbered in file order (cutting the fractions merged 100 half-epoch rows into 51) and the value is
  kept as the rows' epoch. The text reader (text_steps.py) applies the same rule;
- when every row has one step and some key is logged more than once, rows are numbered in file order;
- rows that share a step are resolved first (shared_steps.py, via jsonrows.build_runlog): an eval
  row that logs a training key again keeps it under an eval name, a relaunch starts a new launch;
- consecutive rows that share a step within a launch are merged (Detectron2, MMEngine and our own eval
  lines split one step over lines with disjoint keys). Only where a later row logs a key again at that
  step with another value is a value lost: those rows are counted and named.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from inspector.runlog import shared_steps
from inspector.runlog.json_columns import Column
from inspector.runlog.shared_steps import Keyed, Move, move_keyed

# The step rule's numbers live in step_column.py, shared by every reader.
from inspector.runlog.step_column import ISOLATED_FRACTION
from inspector.runlog.step_column import MAX_EXACT_STEP as MAX_STEP

# How many line numbers a warning lists.
SHOWN = 10


@dataclass(frozen=True)
class Steps:
    """Integer steps per row, the rows they make usable, what was done, and the step values kept as epochs."""

    steps: np.ndarray
    usable: np.ndarray
    warnings: list[str]
    epochs: np.ndarray | None = None


def lines_text(lines: np.ndarray, count: int | None = None) -> str:
    """ "line 7" / "lines 7, 9, … 3 more" for the first SHOWN of `lines`."""
    count = int(lines.size) if count is None else count
    shown = ", ".join(str(int(x)) for x in lines[:SHOWN])
    more = f", … {count - min(SHOWN, lines.size)} more" if count > min(SHOWN, lines.size) else ""
    return f"line{'s' if count > 1 else ''} {shown}{more}"


def read_steps(
    col: Column | None,
    lines: np.ndarray,
    key: str,
    *,
    allow_order: bool = True,
    among: np.ndarray | None = None,
) -> Steps:
    """Steps from the numeric column `key` (rows without a usable one are rejected, and named).

    `lines` are the rows' file lines; only the rows of the mask `among` (default: all) are considered,
    the others are unusable without a word. With `allow_order` False a mostly fractional column is
    rejected row by row instead of numbering the rows (an epoch or an epoch-local iteration must be whole).
    """
    n = int(lines.size)
    warnings: list[str] = []
    among = np.ones(n, dtype=bool) if among is None else among
    if col is None:
        if among.any():
            warnings.append(
                f"{int(among.sum())} row(s) without a numeric '{key}' skipped ({lines_text(lines[among])})."
            )
        return Steps(np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool), warnings)
    values = col.full()
    present = col.mask()
    if not among.all():
        values = np.where(among, values, np.nan)
        present = present & among
    finite = np.isfinite(values)
    finite &= present
    with np.errstate(invalid="ignore"):
        huge = np.abs(values) > MAX_STEP
    huge &= finite
    missing = among & ~present
    if missing.any():
        warnings.append(
            f"{int(missing.sum())} row(s) without a numeric '{key}' skipped ({lines_text(lines[missing])})."
        )
    bad = (present & ~finite) | huge
    if bad.any():
        shown = ", ".join(f"{v:g}" for v in values[bad][:3])
        warnings.append(
            f"{int(bad.sum())} row(s) whose '{key}' is not a usable step ({shown}: not finite or beyond "
            f"2**53) skipped ({lines_text(lines[bad])})."
        )
    usable = finite & ~huge
    # Rounding straight into the int64 output: the ufunc casts in small buffers, so there is no
    # full-size float temporary (8 bytes per row less at the peak of a large read).
    steps = np.zeros(n, dtype=np.int64)
    if usable.all():
        np.rint(values, out=steps, casting="unsafe")
    else:
        steps[usable] = np.rint(values[usable]).astype(np.int64)
    fractional = steps != values  # exact: every usable step is within 2**53
    fractional &= usable
    n_fractional, n_usable = int(fractional.sum()), int(usable.sum())
    if n_fractional and (n_fractional * ISOLATED_FRACTION < n_usable or not allow_order):
        warnings.append(
            f"{n_fractional} row(s) with a fractional '{key}' among whole ones skipped as damaged "
            f"({lines_text(lines[fractional])})."
        )
        usable &= ~fractional
    elif n_fractional:
        warnings.append(
            f"'{key}' is fractional in {n_fractional} of {n_usable} row(s): not a step counter; rows are "
            f"numbered in file order instead (the '{key}' values are kept as the epoch)."
        )
        steps = np.zeros(n, dtype=np.int64)
        steps[usable] = np.arange(n_usable)
        return Steps(steps, usable, warnings, epochs=np.where(usable, values, np.nan))
    return Steps(steps, usable, warnings)


def runs(steps: np.ndarray, launches: np.ndarray | None = None) -> np.ndarray:
    """Index of the run of equal consecutive steps each row belongs to; a row in `launches` starts a run."""
    return shared_steps.runs(steps, launches)


def overwritten(run: np.ndarray, columns: dict[str, Column]) -> np.ndarray:
    """Rows whose value of some key a later row of the same run logs again (lost when the run is merged)."""
    lost = np.zeros(run.size, dtype=bool)
    for col in columns.values():
        at = col.positions()
        if at.size > 1:
            same = run[at[1:]] == run[at[:-1]]
            lost[at[:-1][same]] = True
    return lost


def constant_step(steps: np.ndarray, columns: dict[str, Column], key: str) -> tuple[np.ndarray, list[str]]:
    """Steps numbered in file order when every row has one step and some key repeats; else `steps` as they
    are."""
    if steps.size < 2 or steps[0] != steps[-1] or not np.all(steps == steps[0]):
        return steps, []
    if not overwritten(np.zeros(steps.size, dtype=np.int64), columns).any():
        return steps, []  # one event split over lines with disjoint keys
    return (
        np.arange(steps.size, dtype=np.int64),
        [f"every row has {key} {int(steps[0])}; rows are numbered in file order instead."],
    )


def replaced(run: np.ndarray, columns: dict[str, Column]) -> np.ndarray:
    """Rows a later row of the same run overrides: it logs one of their keys as another value, or logs
    nothing new (a duplicated line). An equal value beside new keys loses nothing: Lightning and HF
    Trainer repeat the train row's `epoch` on an eval row."""
    lost = np.zeros(run.size, dtype=bool)
    keys = np.zeros(run.size, dtype=np.int64)
    again = np.zeros(run.size, dtype=np.int64)
    for col in columns.values():
        at = col.positions()
        keys[at] += 1
        if at.size > 1:
            same = run[at[1:]] == run[at[:-1]]
            if not same.any():
                continue
            again[at[1:][same]] += 1
            values = col.logged()
            before, after = values[:-1][same], values[1:][same]
            differ = (before != after) & ~(np.isnan(before) & np.isnan(after))
            lost[at[:-1][same][differ]] = True
    duplicate = np.flatnonzero((keys == again) & (keys > 0))
    lost[duplicate - 1] = True  # a duplicate is never a run's first row
    return lost


def keyed(columns: dict[str, Column]) -> list[Keyed]:
    """Every column as (row positions, values), for shared_steps.resolve."""
    return [Keyed(name, col.positions(), col.logged()) for name, col in columns.items()]


def move(columns: dict[str, Column], moves: Sequence[Move], n: int) -> dict[str, Column]:
    """`columns` of `n` rows with each move applied (an eval row's `loss` kept as `val/loss`), in order."""
    if not moves:
        return columns
    names = [m.source for m in moves] + [m.target for m in moves if m.target in columns]
    touched = list(dict.fromkeys(names))
    before = [Keyed(name, columns[name].positions(), columns[name].logged()) for name in touched]
    after = {k.name: k for k in move_keyed(before, moves, n)}
    out: dict[str, Column] = {}
    for name, col in columns.items():
        if name not in touched:
            out[name] = col
        elif name in after:  # a source every value of which moved is gone
            out[name] = Column.of(n, after[name].rows, after[name].values)
    for name, key in after.items():
        out.setdefault(name, Column.of(n, key.rows, key.values))
    return out


def fold(
    steps: np.ndarray,
    columns: dict[str, Column],
    lines: np.ndarray,
    *,
    launches: np.ndarray | None = None,
    attributes: Iterable[str] = (),
) -> tuple[np.ndarray, dict[str, Column], list[str]]:
    """Steps and columns after merging consecutive rows that share a step (the later value of a key wins).

    A row in `launches` starts a new launch and is never merged into the row before it. `attributes`
    name columns that describe a row rather than measure (its epoch, its wall time): merged, not counted.
    """
    steps = np.asarray(steps, dtype=np.int64)
    n = steps.shape[0]
    if n < 2 or not np.any(steps[1:] == steps[:-1]):
        return steps, columns, []
    run = runs(steps, launches)
    warnings = []
    skip = set(attributes)
    lost = replaced(run, {k: c for k, c in columns.items() if k not in skip})
    if lost.any():
        warnings.append(
            f"{int(lost.sum())} row(s) share their step with a later row that logs the same key "
            f"({lines_text(lines[lost])}); merged, the later value kept."
        )
    groups = int(run[-1]) + 1
    starts = np.flatnonzero(np.concatenate([[True], run[1:] != run[:-1]]))
    merged: dict[str, Column] = {}
    for name, col in columns.items():
        at, values = col.positions(), col.logged()
        if at.size == 0:
            continue
        r = run[at]
        last = np.ones(at.size, dtype=bool)
        np.not_equal(r[1:], r[:-1], out=last[:-1])
        merged[name] = Column.of(groups, r[last], values[last])
    return steps[starts], merged, warnings
