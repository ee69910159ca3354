"""Reader for generic JSON lines: one object of scalars per line, whatever the keys.

A split key (`mode`, `split`, `phase`, … holding train/val) and a clock key (`time`, `timestamp`, …) are
handed on as evidence of what each row is (shared_steps.py): a val row's `loss` is kept as `val/loss`,
a clock that goes back starts a new launch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from inspector.runlog import jsonlines, jsonrows, row_names, shared_steps
from inspector.runlog import steps as stepping
from inspector.runlog.json_columns import Column
from inspector.runlog.record import RunLog

NAME = "jsonl"
DESCRIPTION = "JSON lines (one object of scalars per line; nested keys joined with '/')"

# Keys that can be the step axis, most specific first; "epoch" makes the axis epochs.
STEP_KEYS = ("step", "global_step", "iteration", "iter", "it", "epoch")


def sniff(path: Path, head: bytes) -> float:
    """0.3 when any of the first lines is a JSON object: any more specific reader should win."""
    return 0.3 if jsonrows.head_objects(head) else 0.0


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """RunLog with one series per numeric key; the step is the first of STEP_KEYS present (else the row)."""
    path = Path(path)
    rows = jsonlines.load(path)
    warnings = list(rows.warnings)
    key = next((k for k in STEP_KEYS if k in rows.numbers), None)
    epochs = None
    if key is None:
        warnings.append(f"no step key ({', '.join(STEP_KEYS)}); the row number is used as the step.")
        steps, usable = np.arange(rows.n_rows, dtype=np.int64), np.ones(rows.n_rows, dtype=bool)
    else:
        read_steps = stepping.read_steps(rows.numbers[key], rows.line_numbers, key)
        steps, usable = read_steps.steps, read_steps.usable
        warnings += read_steps.warnings
        if read_steps.epochs is not None:  # rows numbered in file order: the fractional values as epochs
            epochs = Column.dense(read_steps.epochs[usable], np.ones(int(usable.sum()), dtype=bool))
    columns = jsonrows.select(usable, {k: c for k, c in rows.numbers.items() if k != key})
    unit = "epoch" if key == "epoch" and epochs is None else "iteration"
    split = row_names.split_key(list(rows.texts))
    labels = None if split is None else shared_steps.Labels.of(split, rows.text(split)[usable])
    clock = row_names.clock_key(list(columns))
    return jsonrows.build_runlog(
        path,
        NAME,
        "generic",
        steps[usable],
        columns,
        rows.line_numbers[usable],
        epochs=epochs,
        warnings=warnings,
        step_unit=unit,
        step_key=key or "step",
        labels=labels,
        clock=None if clock is None else (clock, columns[clock]),
    )
