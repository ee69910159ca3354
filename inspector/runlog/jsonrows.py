"""Turning loaded JSON-lines rows into a RunLog: sniffing heads, row selection, folding and assembling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from inspector.runlog import shared_steps
from inspector.runlog import steps as stepping
from inspector.runlog.json_columns import Column
from inspector.runlog.record import RunLog, Sparse, assemble
from inspector.runlog.shared_steps import Keyed, Labels


def head_objects(head: bytes, limit: int = 20) -> list[dict]:
    """The JSON objects among the first `limit` complete lines of `head`; never raises."""
    found: list[dict] = []
    for raw in head.split(b"\n")[:limit]:
        raw = raw.strip()
        if not raw.startswith(b"{"):
            continue
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            found.append(obj)
    return found


def first_line(head: bytes) -> bytes:
    """The first non-blank line of `head` (possibly cut short by the head's end)."""
    for raw in head.split(b"\n"):
        if raw.strip():
            return raw.strip()
    return b""


def build_runlog(
    path: Path,
    format: str,
    framework: str,
    steps: np.ndarray,
    columns: dict[str, Column],
    lines: np.ndarray,
    *,
    epochs: Column | None = None,
    wall_times: Column | None = None,
    config: dict | None = None,
    warnings: list[str] | None = None,
    step_unit: str = "iteration",
    step_key: str = "step",
    labels: Labels | None = None,
    launches: np.ndarray | None = None,
    clock: tuple[str, Column] | None = None,
) -> RunLog:
    """RunLog through `assemble`, after a constant step is replaced by the row order, rows sharing a step are
    resolved (shared_steps.py) and folded.

    `lines` are the rows' file lines (for the warnings); keys logged on few rows reach `assemble`
    sparse, so a log whose rows each add new keys costs its entries, not rows × keys. `labels` is a
    split column (`mode`: train/val), `launches` the rows where the log marks a new launch (a header
    object again), `clock` a (key, column) that may be a clock (default: `wall_times` as "time").
    """
    warnings = list(warnings or [])
    steps, note = stepping.constant_step(np.asarray(steps, dtype=np.int64), columns, step_key)
    warnings += note
    n = steps.size
    if clock is None and wall_times is not None:
        clock = ("time", wall_times)
    found = shared_steps.resolve(
        steps, lambda: stepping.keyed(columns), lines, labels=labels, launches=launches, clock=_clock(clock)
    )
    warnings += found.warnings(stepping.lines_text)
    columns = stepping.move(columns, found.moves, n)
    extra = {"\0epoch": epochs, "\0time": wall_times}
    both = {**columns, **{k: v for k, v in extra.items() if v is not None}}
    launch = found.launches
    folded_launches = stepping.runs(steps, launch)[launch] if launch.size else None
    steps, folded, note = stepping.fold(steps, both, lines, launches=launch, attributes=extra)
    warnings += note
    ep, wt = folded.pop("\0epoch", None), folded.pop("\0time", None)
    return assemble(
        str(path),
        format,
        framework,
        steps,
        {k: Sparse(c.rows, c.values) if c.rows is not None else c.values for k, c in folded.items()},
        # Fully logged columns need no mask (saves a pass per column on large logs); a dense column
        # (`rows` None) always has `present`.
        present={
            k: c.present
            for k, c in folded.items()
            if c.rows is None and c.present is not None and not c.present.all()
        },
        epochs=None if ep is None else ep.full(),
        wall_times=None if wt is None else wt.full(),
        config=config,
        warnings=warnings,
        step_unit=step_unit,
        launches=folded_launches,
    )


def _clock(clock: tuple[str, Column] | None) -> Keyed | None:
    """The clock candidate as (rows, values); None when absent or never going back (usually: no copy)."""
    if clock is None:
        return None
    name, col = clock
    values = col.logged()
    if values.size < 3 or not bool(np.any(values[1:] < values[:-1])):
        return None
    return Keyed(name, col.positions(), values)


def launches_after(markers: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Index, among the `kept` rows, of the first kept row after each marker row (a header object again).

    `markers` and `kept` are boolean masks over the file's rows; a marker with no kept row after it starts
    nothing.
    """
    marked = np.flatnonzero(markers)
    if marked.size == 0:  # the usual log: no per-row count is made
        return marked
    before = np.cumsum(kept)[marked] - kept[marked]  # kept rows before each marker
    at = np.unique(before)
    return at[at < int(kept.sum())]


def select(rows: np.ndarray, columns: dict[str, Column]) -> dict[str, Column]:
    """The rows where the boolean mask `rows` holds, of every column, dropping columns left empty."""
    if rows.all():
        return columns
    out = {}
    for name, col in columns.items():
        taken = col.take(rows)
        if taken.count():
            out[name] = taken
    return out


def attach(
    columns: dict[str, Column], own: np.ndarray, target: np.ndarray, skip: tuple[str, ...]
) -> dict[str, Column]:
    """Columns logged on the rows `own` (a mask) only, plus each row i with target[i] >= 0 moved onto row
    target[i].

    MMEngine and mmdet 2.x write validation results on lines of their own; their values belong to a
    training row (`target`). Keys in `skip` (the val line's own timings, its lr) are not moved. A moved
    value replaces the training row's value of the same key, as the later line.
    """
    out: dict[str, Column] = {}
    for name, col in columns.items():
        at = col.positions()
        moved = target[at] if name not in skip else np.full(at.size, -1, dtype=np.int64)
        if not (moved >= 0).any():
            only = col.only(own)
            if only.count():
                out[name] = only
            continue
        dest = np.where(own[at], at, moved)
        ok = dest >= 0
        dest, values = dest[ok], col.logged()[ok]
        order = np.argsort(dest, kind="stable")
        dest, values = dest[order], values[order]
        last = np.ones(dest.size, dtype=bool)
        np.not_equal(dest[1:], dest[:-1], out=last[:-1])
        out[name] = Column.of(col.n, dest[last], values[last])
    return out
