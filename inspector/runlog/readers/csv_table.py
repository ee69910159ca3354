"""Generic CSV/TSV tables with a header: one row per logged step, one numeric column per metric.

The table is parsed by `csv_tables.read_table`, which the other CSV-family readers (ultralytics, wandb_csv)
share, and its steps settled by `csv_tables.table_steps`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from inspector.runlog.csv_tables import (
    header_fields,
    keep_rows,
    parse_float,
    pick_step_column,
    read_table,
    table_steps,
)
from inspector.runlog.record import RunLog, assemble

NAME = "csv"
DESCRIPTION = "CSV/TSV table with a header row (step column + numeric metric columns)"


def sniff(path: Path, head: bytes) -> float:
    """0.3 for any text table whose header is followed by a row of the same width with a number."""
    try:
        parsed = header_fields(path, head)
        if parsed is None:
            return 0.0
        fields, delimiter = parsed
        text = head.decode("utf-8-sig", errors="ignore").lstrip("\r\n")
        lines = [ln for ln in text.splitlines()[1:6] if ln.strip()]
        # The last line of a head may be cut; judge by complete ones when there are any.
        for row in csv.reader(lines[:-1] or lines, delimiter=delimiter):
            if len(row) == len(fields) and any(parse_float(c.strip()) is not None for c in row):
                return 0.3
        return 0.0
    except Exception:  # sniff never raises: a reader that cannot tell says 0
        return 0.0


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """A RunLog of every numeric column of a CSV/TSV table, over its step column (or row index)."""
    table = read_table(path)
    step_column = pick_step_column(table.names)
    plan = table_steps(table, step_column, roles=True)
    warnings = list(table.warnings) + list(plan.warnings)
    if step_column is None:
        warnings.append(
            "no step column (step, global_step, iteration, iter, it, epoch); the row index is the step."
        )
    columns, present = keep_rows(table, plan, exclude=(step_column,))
    config = {"text_columns": list(table.text_columns)} if table.text_columns else {}
    by_epoch = step_column is not None and step_column.lower() == "epoch" and not plan.row_order
    return assemble(
        str(path),
        NAME,
        "generic",
        plan.steps,
        columns,
        present=present or None,
        epochs=plan.epochs,
        config=config,
        warnings=warnings,
        step_unit="epoch" if by_epoch else "iteration",
        launches=plan.launches,
    )
