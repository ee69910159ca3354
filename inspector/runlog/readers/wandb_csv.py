"""Weights & Biases CSV exports of a chart or a run's history.

A chart export has a `Step` column and `<run name> - <metric>` columns, each with
`<run name> - <metric>__MIN` / `__MAX` companions (the band W&B draws when it samples);
a history export has `_step` and bare metric columns. Empty cells mean "not logged at that step".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from inspector.runlog.csv_tables import header_fields, pick_step_column, read_table, table_steps
from inspector.runlog.record import RunLog, assemble

NAME = "wandb_csv"
DESCRIPTION = "Weights & Biases CSV export (chart or run history)"

STEP_COLUMNS = ("Step", "_step")
BAND_SUFFIXES = ("__MIN", "__MAX")
SEPARATOR = " - "
# W&B bookkeeping columns of a history export: not metrics.
SYSTEM_COLUMNS = ("_runtime", "_timestamp", "_step")


def sniff(path: Path, head: bytes) -> float:
    """0.9 for a table with a `Step`/`_step` column and `<run> - <metric>` or `_runtime` columns."""
    try:
        parsed = header_fields(path, head)
        if parsed is None:
            return 0.0
        names = parsed[0]
        if "Step" in names and any(SEPARATOR in n for n in names):
            return 0.9
        if "_step" in names and any(n in names for n in ("_runtime", "_timestamp")):
            return 0.9
        return 0.0
    except Exception:  # sniff never raises
        return 0.0


def _split(name: str) -> tuple[str, str]:
    """(run, metric) of a chart-export column; run is "" for a bare column."""
    run, sep, metric = name.rpartition(SEPARATOR)
    return (run, metric) if sep else ("", name)


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """A RunLog of the first run in the export, its metrics named without the run prefix."""
    table = read_table(path)
    step_column = pick_step_column(table.names, STEP_COLUMNS)
    warnings = list(table.warnings)

    runs: list[str] = []
    for name in table.names:
        run, _ = _split(name)
        if run and run not in runs:
            runs.append(run)
    run = runs[0] if runs else ""
    if len(runs) > 1:
        warnings.append(
            f"the export holds {len(runs)} runs; read {run!r}, ignored "
            + ", ".join(repr(r) for r in runs[1:])
            + "."
        )

    metrics = {
        name: _split(name)[1]
        for name in table.columns
        if name != step_column
        and name not in SYSTEM_COLUMNS
        and not name.endswith(BAND_SUFFIXES)
        and _split(name)[0] == run
    }
    plan = table_steps(table, step_column, exclude=[n for n in table.columns if n not in metrics])
    warnings += plan.warnings
    columns, present = {}, {}
    for name, metric in metrics.items():
        columns[metric], mask = plan.take(table.columns[name], table.present.get(name))
        if mask is not None:
            present[metric] = mask
    wall_times = None
    if "_runtime" in table.columns:
        wall_times = plan.take(table.columns["_runtime"])[0]
    config: dict[str, str | list[str]] = {"run": run} if run else {}
    if len(runs) > 1:
        config["other_runs"] = runs[1:]
    return assemble(
        str(path),
        NAME,
        "wandb",
        plan.steps,
        columns,
        present=present or None,
        epochs=plan.epochs,
        wall_times=wall_times,
        config=config,
        warnings=warnings,
    )
