"""Reader for generic JSON lines: one object of scalars per line, whatever the keys."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from inspector.runlog import jsonlines, jsonrows
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
    if key is None:
        warnings.append(f"no step key ({', '.join(STEP_KEYS)}); the row number is used as the step.")
        steps, usable = np.arange(rows.n_rows, dtype=np.int64), np.ones(rows.n_rows, dtype=bool)
    else:
        steps, usable = jsonrows.integer_steps(rows.numbers[key], rows.n_rows)
        if not usable.all():
            warnings.append(f"{int((~usable).sum())} row(s) without '{key}' skipped.")
    columns = {k: c for k, c in rows.numbers.items() if k != key}
    return jsonrows.build_runlog(path, NAME, "generic", steps[usable], jsonrows.select(usable, columns),
                                  warnings=warnings, step_unit="epoch" if key == "epoch" else "iteration")
