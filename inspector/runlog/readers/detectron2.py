"""Reader for Detectron2's metrics.json: one JSON object per logging period, keyed by `iteration`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from inspector.errors import InspectorError
from inspector.runlog import jsonlines, jsonrows
from inspector.runlog import steps as stepping
from inspector.runlog.record import RunLog

NAME = "detectron2_json"
DESCRIPTION = "Detectron2 metrics.json (JSON lines with iteration, losses, lr, bbox/AP…)"

# Keys only Detectron2's JSONWriter puts beside "iteration" on training lines.
_SIGNATURE = ("data_time", "total_loss", "eta_seconds")


def sniff(path: Path, head: bytes) -> float:
    """0.9 when a line of the head has "iteration" and one of Detectron2's timing/total keys."""
    for obj in jsonrows.head_objects(head):
        if "iteration" in obj and any(k in obj for k in _SIGNATURE):
            return 0.9
    return 0.0


def read(path: Path, companions: Sequence[Path] = ()) -> RunLog:
    """RunLog keyed by iteration: losses as logged (already weighted), lr, timings and eval keys.

    Evaluation results are either merged into a training line or written as their own line
    (e.g. after the last iteration); an eval-only line that repeats the previous line's iteration
    is folded into it rather than replacing it.
    """
    path = Path(path)
    rows = jsonlines.load(path)
    warnings = list(rows.warnings)
    read_steps = stepping.read_steps(
        rows.number("iteration"), rows.line_numbers, "iteration", allow_order=False
    )
    steps, usable = read_steps.steps, read_steps.usable
    if not usable.any():
        raise InspectorError("no line has an 'iteration': not a Detectron2 metrics.json", path=path)
    warnings += read_steps.warnings
    columns = {k: c for k, c in rows.numbers.items() if k != "iteration"}
    return jsonrows.build_runlog(
        path,
        NAME,
        "detectron2",
        steps[usable],
        jsonrows.select(usable, columns),
        rows.line_numbers[usable],
        warnings=warnings,
        step_key="iteration",
    )
