"""One read run as the sweep keeps it: its table row and its curves, from its RunLog and Diagnosis.

Pure functions. Which way a metric improves is read from its name with the same rules the diagnosis uses
(`inspector.loss_names`): an eval metric (AP, AR, ST-IoU) is better higher, a loss lower. Curves keep every
eval metric and loss series the log holds; a series longer than `CURVE_POINTS` is averaged into bins on
a 1-2-5 step grid, so a thousand runs of a million steps still fit in memory and the bins of runs of
similar length line up on the same steps for the bands (`inspector.sweep.bands`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from inspector.diagnose import Diagnosis
from inspector.loss_names import base_name, is_bookkeeping, is_eval_metric, is_lr, is_total, is_val
from inspector.runlog import RunLog, Series
from inspector.sweep.records import (
    Better,
    ConfigValue,
    Curve,
    FindingBrief,
    MetricSummary,
    RunRow,
    RunSpec,
    TopFinding,
)

# Points kept per series and run: a chart draws ~1,000–2,000 points per trace (inspector.ui.widgets), and
# 1,000 runs × ~8 series × 1,000 points × 16 B is 128 MB at most.
CURVE_POINTS = 1_000
# Config keys kept per run and the longest string value: a run's config is a few hundred keys (an MMDetection
# dump ~2,000); the table and the grouping need scalars, not a hostile header's megabytes.
MAX_CONFIG_KEYS = 2_000
MAX_CONFIG_TEXT = 200
# The name a run's loss goes by when no total is logged and the terms' weighted sum stands in.
SUMMED_TOTAL = "Σ weighted terms"


def better(name: str) -> Better | None:
    """Which way `name` improves: "max" for an eval metric, "min" for a loss, None for anything else."""
    if is_lr(name) or is_bookkeeping(name):
        return None
    if is_eval_metric(name):
        return "max"
    if is_total(name) or base_name(name) is not None:
        return "min"
    return None


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, ConfigValue]:
    """`config` with nested mappings as dotted keys (`model.loss_weights.bbox`), scalars only.

    Lists and other non-scalars are left out (a grouping key must compare as one value); long strings are
    cut to MAX_CONFIG_TEXT characters and at most MAX_CONFIG_KEYS keys are kept.
    """
    out: dict[str, ConfigValue] = {}
    queue: deque[tuple[str, Mapping[str, Any]]] = deque([(prefix, config)])
    while queue and len(out) < MAX_CONFIG_KEYS:
        head, mapping = queue.popleft()
        for key, value in mapping.items():
            dotted = f"{head}.{key}" if head else str(key)
            if isinstance(value, Mapping):
                queue.append((dotted, value))
            elif isinstance(value, str):
                out[dotted] = value[:MAX_CONFIG_TEXT]
            elif value is None or isinstance(value, (bool, int)):
                out[dotted] = value
            elif isinstance(value, float):
                out[dotted] = value if math.isfinite(value) else str(value)
            if len(out) >= MAX_CONFIG_KEYS:
                break
    return out


def _defined(series: Series, direction: Better) -> np.ndarray:
    """Points that are measurements: finite, and for an eval metric not −1 (see `inspector.eval_state`)."""
    ok = np.isfinite(series.values)
    return ok & (series.values != -1.0) if direction == "max" else ok


def metric_summary(series: Series, direction: Better) -> MetricSummary:
    """The last and best defined values of one metric (best: highest for "max", lowest for "min")."""
    ok = _defined(series, direction)
    values, steps = series.values[ok], series.steps[ok]
    if not values.size:
        return MetricSummary(series.name, direction, 0, None, None, None, None)
    i = int(np.argmax(values) if direction == "max" else np.argmin(values))
    return MetricSummary(
        series.name,
        direction,
        int(values.size),
        float(values[-1]),
        int(steps[-1]),
        float(values[i]),
        int(steps[i]),
    )


def summarized_metrics(log: RunLog, d: Diagnosis) -> tuple[MetricSummary, ...]:
    """The run's eval metrics (as the diagnosis found them) and its validation losses, summarized."""
    names = list(d.components.eval_metrics)
    names += [n for n in log.series if n not in names and is_val(n) and better(n) == "min"]
    out = []
    for name in names:
        direction = better(name) or "max"  # the diagnosis's eval metrics are AP-like
        out.append(metric_summary(log.series[name], direction))
    return tuple(out)


def last_loss(log: RunLog, d: Diagnosis) -> tuple[str | None, float | None]:
    """(name, last finite value) of the run's logged total loss, else of its weighted terms' sum."""
    name = d.components.total
    if name is not None and name in log.series:
        values = log.series[name].values
    elif d.decomposition.components:
        name, values = SUMMED_TOTAL, d.decomposition.total
    else:
        return None, None
    finite = values[np.isfinite(values)]
    return name, (float(finite[-1]) if finite.size else None)


def top_finding(d: Diagnosis) -> TopFinding | None:
    """The triage's first root cause, else the first (most severe) finding, else None."""
    if d.triage:
        return TopFinding("cause", d.triage[0].id, d.triage[0].title)
    if d.findings:
        return TopFinding("finding", d.findings[0].id, d.findings[0].title)
    return None


def run_row(spec: RunSpec, log: RunLog, d: Diagnosis) -> RunRow:
    """The table row of a run that was read and diagnosed."""
    loss_name, loss = last_loss(log, d)
    return RunRow(
        name=spec.name,
        path=spec.path,
        format=log.format,
        framework=log.framework,
        n_steps=log.n_steps,
        last_step=log.last_step,
        metrics=summarized_metrics(log, d),
        loss_name=loss_name,
        last_loss=loss,
        top=top_finding(d),
        findings=tuple(FindingBrief(f.id, f.severity, f.title) for f in d.findings),
        judged=d.judged,
        config=flatten_config(log.config),
    )


def error_row(spec: RunSpec, error: str) -> RunRow:
    """The row of a run that could not be read: its name, path, detected format and why."""
    return RunRow(name=spec.name, path=spec.path, format=spec.format, error=error)


def nice_width(span: float) -> int:
    """The smallest step width on the 1-2-5 grid (1, 2, 5, 10, 20, 50, …) that is ≥ `span`."""
    magnitude = 1
    while True:
        for m in (1, 2, 5):
            if m * magnitude >= span:
                return m * magnitude
        magnitude *= 10


def bin_means(steps: np.ndarray, values: np.ndarray, max_points: int = CURVE_POINTS) -> Curve:
    """The series as a Curve: as logged when it has ≤ `max_points` points, else bin means.

    Bins are `[k·w, (k+1)·w)` for the smallest 1-2-5 width `w` giving ≤ `max_points` bins, each labelled
    with its first step k·w; a bin's mean is over its finite values (NaN when it has none, so a diverged
    stretch stays visible as missing, not as a number).
    """
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if steps.size <= max_points:
        return Curve(steps, values)
    width = nice_width((int(steps[-1]) - int(steps[0]) + 1) / max_points)
    while int(steps[-1]) // width - int(steps[0]) // width + 1 > max_points:
        width = nice_width(width + 1)
    bins = steps // width
    first, inverse = np.unique(bins, return_inverse=True)
    finite = np.isfinite(values)
    sums = np.bincount(inverse[finite], weights=values[finite], minlength=first.size)
    counts = np.bincount(inverse[finite], minlength=first.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return Curve(first * width, means, width)


def run_curves(log: RunLog, max_points: int = CURVE_POINTS) -> dict[str, Curve]:
    """Every eval metric and loss series of the log as a Curve (`bin_means`), by series name.

    Eval metrics keep only their defined points (NaN and −1 are not values).
    """
    out = {}
    for name, s in log.series.items():
        direction = better(name)
        if direction is None or not len(s):
            continue
        ok = _defined(s, direction) if direction == "max" else np.ones(len(s), dtype=bool)
        out[name] = bin_means(s.steps[ok], s.values[ok], max_points)
    return out
