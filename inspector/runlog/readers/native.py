"""Reader for inspector's own JSON-lines log (written by `RunWriter`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from inspector.errors import InspectorError
from inspector.runlog import jsonlines, jsonrows
from inspector.runlog import steps as stepping
from inspector.runlog.json_columns import Column
from inspector.runlog.record import RunLog, assemble
from inspector.runlog.writer import FORMAT

NAME = "inspector_jsonl"
DESCRIPTION = "inspector native JSON lines (RunWriter): raw losses, weights, eval metrics"

# Row keys copied as series under their own name (step rows).
_PLAIN = ("lr", "positives", "pos_iou")


def sniff(path: Path, head: bytes) -> float:
    """0.9 when the first line is our header (checked on bytes: the config may make it long)."""
    line = jsonrows.first_line(head)
    return 0.9 if line.startswith(b"{") and FORMAT.encode() in line and b'"header"' in line else 0.0


def _header(path: Path) -> tuple[dict | None, int]:
    """(header object or None, byte length of the header line) of the log at `path`."""
    with open(path, "rb") as fh:
        line = fh.readline(jsonlines.MAX_LINE_BYTES + 1)
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # a damaged or hostile (deeply nested) header: read as a row
        return None, 0
    if isinstance(obj, dict) and obj.get("type") == "header":
        return obj, len(line)
    return None, 0


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """RunLog of a native log: loss/<c> (raw), loss/total, lr, positives, pos_iou, eval/<metric>."""
    path = Path(path)
    header, offset = _header(path)
    warnings: list[str] = []
    if header is None:
        warnings.append("no header line: the run's config (loss weights) is unknown.")
    config = dict((header or {}).get("config") or {})
    if _blank_after(path, offset):
        if header is None:
            raise InspectorError("the file is empty", path=path)
        warnings.append("the log has a header but no rows yet.")
        return assemble(
            str(path), NAME, "native", np.zeros(0, np.int64), {}, config=config, warnings=warnings
        )

    rows = jsonlines.load(path, start=offset, first_line=2 if header else 1)
    warnings += rows.warnings
    kind = rows.text("type")
    is_step, is_eval = kind == "step", kind == "eval"
    typed = is_step | is_eval
    # A header object again: another launch's writer started on this file (two logs joined, or a writer
    # that does not check for one); the rows after it are a new launch.
    is_header = kind == "header"
    other = ~typed & ~is_header
    if other.any():
        warnings.append(
            f"{int(other.sum())} row(s) that are neither 'step' nor 'eval' rows skipped "
            f"({stepping.lines_text(rows.line_numbers[other])})."
        )
    read_steps = stepping.read_steps(rows.number("step"), rows.line_numbers, "step", among=typed)
    warnings += read_steps.warnings
    steps, keep = read_steps.steps, read_steps.usable
    launches = jsonrows.launches_after(is_header, keep)
    if is_header.any():
        again = stepping.lines_text(rows.line_numbers[is_header])
        warnings.append(f"the header line is written again ({again}): a new launch starts after it.")

    columns: dict[str, Column] = {}
    weights: dict[str, Column] = {}
    for name, col in rows.numbers.items():
        if name.startswith("losses/"):
            columns["loss/" + name[len("losses/") :]] = col.only(is_step)
        elif name == "total":
            columns["loss/total"] = col.only(is_step)
        elif name in _PLAIN:
            columns[name] = col.only(is_step)
        elif name.startswith("metrics/"):
            columns["eval/" + name[len("metrics/") :]] = col.only(is_eval)
        elif name.startswith("weights/"):
            weights[name[len("weights/") :]] = col.only(is_step)

    config["loss_weights"] = _loss_weights(config.get("loss_weights") or {}, weights, keep, warnings)
    if not config["loss_weights"]:
        warnings.append("the config has no loss_weights: weighted losses cannot be shown.")
    epochs = _rows(rows.number("epoch"), rows.n_rows, keep)
    wall_times = _rows(rows.number("time"), rows.n_rows, keep)
    everything = bool(keep.all())  # the usual log: the arrays themselves, not copies
    lines = rows.line_numbers if everything else rows.line_numbers[keep]
    steps = steps if everything else steps[keep]
    # Let go of the columns no series needs (the float step, the weights, the row types) before
    # assembling: on a 1M-row log that is ~0.7× the payload off the read's peak.
    del rows, weights, kind, is_step, is_eval, is_header, typed, read_steps
    return jsonrows.build_runlog(
        path,
        NAME,
        "native",
        steps,
        jsonrows.select(keep, columns),
        lines,
        epochs=epochs,
        wall_times=wall_times,
        config=config,
        warnings=warnings,
        launches=launches,
    )


def _blank_after(path: Path, offset: int) -> bool:
    """Whether nothing but whitespace follows byte `offset` (a run that has only written its header)."""
    size = path.stat().st_size
    if size - offset > 4096:
        return False
    with open(path, "rb") as fh:
        fh.seek(offset)
        return not fh.read().strip()


def _rows(col: Column | None, n_rows: int, keep: np.ndarray) -> Column:
    """The kept rows of `col`; an all-absent column when the log never has that key."""
    if col is None:
        col = Column.dense(np.full(n_rows, np.nan), np.zeros(n_rows, dtype=bool))
    return col.take(keep)


def _loss_weights(declared: dict, per_step: dict[str, Column], keep: np.ndarray, warnings: list[str]) -> dict:
    """The run's loss weights: the last per-step weights logged, else the header's; warns on changes."""
    weights = {str(k): float(v) for k, v in declared.items()}
    changed = []
    for name, col in per_step.items():
        logged = col.only(keep).logged()
        if logged.size == 0:
            continue
        if np.nanmin(logged) != np.nanmax(logged):
            changed.append(f"{name}: {logged[0]:g} → {logged[-1]:g}")
        weights[name] = float(logged[-1])
    if changed:
        warnings.append(
            f"loss weights changed during the run ({', '.join(changed)}); "
            "the last ones are used to decompose the total."
        )
    return weights
