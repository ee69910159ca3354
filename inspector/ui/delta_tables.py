"""A / B / Δ tables as people read them: each row's format, which way is an improvement, and the Δ coloured
by it (the Compare page's aggregate and episode tables)."""

from __future__ import annotations

import pandas as pd

from inspector.ui import tables

# How each row of an A / B / Δ table reads (issue 21): its format, and which way is an improvement. A better
# detector finds more (mAP, IoU, precision, recall, true positives) and gets more positive anchors per target;
# its losses, false positives and missed targets go down.
METRIC_READING: dict[str, tuple[tables.Kind, tables.Better]] = {
    # the aggregate (compare.SUMMARY_ROWS)
    "mAP@0.5": ("map", "higher"),
    "mAP@0.5:0.95": ("map", "higher"),
    "ST-IoU (clips)": ("iou", "higher"),
    "mean IoU of TPs": ("iou", "higher"),
    "precision @0.5": ("score", "higher"),
    "recall @0.5": ("score", "higher"),
    "positives per target": ("mean", "higher"),
    "targets with no positive": ("share", "lower"),  # a fraction of the targets
    "loss total": ("loss", "lower"),
    # one episode (compare.episode_metrics)
    "AP@0.5": ("map", "higher"),
    "TP": ("count", "higher"),
    "FP": ("count", "lower"),
    "FN": ("count", "lower"),
    "ST-IoU": ("iou", "higher"),
    "positives": ("count", "higher"),
}
# Rows named after a class or a loss term (compare.summary_delta_table): "AP@0.5 · circle", "loss bbox (raw)".
PREFIX_READING: dict[str, tuple[tables.Kind, tables.Better]] = {
    "AP@0.5 · ": ("map", "higher"),
    "loss ": ("loss", "lower"),
}
DELTA = "Δ (B − A)"
BETTER_ARROWS: dict[tables.Better, str] = {"higher": "↑ higher", "lower": "↓ lower"}


def reading(metric: str) -> tuple[tables.Kind, tables.Better | None]:
    """How a row named `metric` is written and which way is better (a metric not listed: 4 significant
    digits, no colour)."""
    if metric in METRIC_READING:
        return METRIC_READING[metric]
    found = next((r for prefix, r in PREFIX_READING.items() if metric.startswith(prefix)), None)
    return found if found is not None else ("loss", None)


def delta_view(table: pd.DataFrame) -> tuple[pd.DataFrame, list[tables.Kind], list[tables.Better | None]]:
    """An A / B / Δ table (metric, A, B, Δ) as shown: a "better" column after the metric saying which way
    improves, the Δ header saying how its colour reads; with each row's kind and direction."""
    read = [reading(m) for m in table["metric"]]
    kinds = [kind for kind, _ in read]
    ways = [way for _, way in read]
    shown = table.rename(columns={DELTA: tables.row_change_header(DELTA)})
    shown.insert(1, "better", [BETTER_ARROWS[w] if w else "" for w in ways])
    return shown, kinds, ways


def render_deltas(table: pd.DataFrame, key: str) -> None:
    """An A / B / Δ table with every row shown, each row formatted for its metric and each change coloured
    green where B improves on A and vermillion where it is worse."""
    shown, kinds, ways = delta_view(table)
    tables.show_rows(shown, kinds, ["A", "B"], key, tables.row_change_header(DELTA), ways)
