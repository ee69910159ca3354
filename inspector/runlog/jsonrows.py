"""Turning loaded JSON-lines rows into a RunLog: sniffing heads, steps, repeated steps, row selection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from inspector.runlog.jsonlines import Column
from inspector.runlog.record import RunLog, assemble


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


def fold_repeated_steps(steps: np.ndarray, columns: dict[str, Column]
                        ) -> tuple[np.ndarray, dict[str, Column], np.ndarray]:
    """Steps, columns and kept-row indices after merging consecutive rows that share a step.

    Formats split one logging event across lines (Detectron2's eval-only line, MMEngine's val line,
    our eval rows): without this, "a repeated step keeps its last row" would drop the training
    values of that step. Within a run of equal steps, the later line wins per key.
    """
    steps = np.asarray(steps, dtype=np.int64)
    n = steps.shape[0]
    if n < 2 or not np.any(steps[1:] == steps[:-1]):
        return steps, columns, np.arange(n)
    starts = np.flatnonzero(np.concatenate([[True], steps[1:] != steps[:-1]]))
    ends = np.append(starts[1:], n) - 1
    merged: dict[str, Column] = {}
    rows = np.arange(n)
    for name, col in columns.items():
        last = np.maximum.reduceat(np.where(col.present, rows, -1), starts)
        ok = last >= 0
        values = np.full(starts.shape[0], np.nan)
        values[ok] = col.values[last[ok]]
        merged[name] = Column(values, ok)
    return steps[starts], merged, ends


def build_runlog(path: Path, format: str, framework: str, steps: np.ndarray, columns: dict[str, Column], *,
                 epochs: Column | None = None, wall_times: Column | None = None, config: dict | None = None,
                 warnings: list[str] | None = None, step_unit: str = "iteration") -> RunLog:
    """RunLog through `assemble`, after folding consecutive rows that share a step into one."""
    extra = {"\0epoch": epochs, "\0time": wall_times}
    both = {**columns, **{k: v for k, v in extra.items() if v is not None}}
    steps, folded, _ = fold_repeated_steps(steps, both)
    ep, wt = folded.pop("\0epoch", None), folded.pop("\0time", None)
    return assemble(
        str(path), format, framework, steps,
        {k: c.values for k, c in folded.items()},
        # Fully logged columns need no mask (saves a pass per column on large logs).
        present={k: c.present for k, c in folded.items() if not c.present.all()},
        epochs=None if ep is None else ep.values,
        wall_times=None if wt is None else wt.values,
        config=config, warnings=warnings, step_unit=step_unit,
    )


def select(rows: np.ndarray, columns: dict[str, Column]) -> dict[str, Column]:
    """The given rows (a boolean mask or indices) of every column, dropping columns left empty."""
    if rows.dtype == bool and rows.all():
        return columns
    out = {}
    for name, col in columns.items():
        present = col.present[rows]
        if present.any():
            out[name] = Column(col.values[rows], present)
    return out


def integer_steps(col: Column | None, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(int64 steps, usable mask) from a numeric step column: absent or non-finite steps are unusable."""
    if col is None:
        return np.zeros(n_rows, dtype=np.int64), np.zeros(n_rows, dtype=bool)
    ok = col.present & np.isfinite(col.values)
    if ok.all():
        # Rounding straight into the int64 output: the ufunc casts in small buffers, so there is
        # no full-size float temporary (8 bytes per row less at the peak of a large read).
        steps = np.empty(n_rows, dtype=np.int64)
        np.rint(col.values, out=steps, casting="unsafe")
        return steps, ok
    steps = np.zeros(n_rows, dtype=np.int64)
    steps[ok] = np.rint(col.values[ok]).astype(np.int64)
    return steps, ok
