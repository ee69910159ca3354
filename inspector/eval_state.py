"""What a run's evaluations say: how good the model is now,
whether evaluation still reports, what is undefined.

Eval metrics (AP, mAP, AR, ST-IoU; `loss_names.is_eval_metric`) are read on a 0–1 scale (a metric whose
values exceed 1 is a percentage). Two kinds of point are not measurements and never count as a value:
NaN written for a metric with nothing to measure (Detectron2's APs without small objects) and −1
(pycocotools / MMDetection's placeholder for the same). A metric undefined at every evaluation is
`undefined`; a metric that had values and then only NaN, or that stopped while training went on for
several evaluation intervals, means evaluation *stopped*: its last value is then not the model's state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspector.findings import Thresholds
from inspector.runlog.record import RunLog, Series


@dataclass(frozen=True)
class MetricEvals:
    """One eval metric's defined points (0–1 scale) and its undefined ones."""

    name: str
    steps: np.ndarray  # steps of defined points
    values: np.ndarray  # defined values, on a 0–1 scale
    undefined: int  # NaN or −1 points
    undefined_after: int  # of those, how many come after the last defined point (evaluation stopped?)
    scale: float  # 100 for a percentage metric, else 1


@dataclass(frozen=True)
class EvalState:
    """The model's quality as the evaluations report it, and whether they still report."""

    metrics: tuple[MetricEvals, ...]
    best_recent: float | None  # best of the last evaluations of any metric; None: none, or stale
    stuck_at_zero: bool  # every metric ≤ metric_zero over its last evaluations (≥ 2 evaluations)
    zero_from_first: bool  # ...and at every evaluation since the first one
    stale: bool  # evaluation stopped reporting metrics while training went on
    stopped_at: int | None  # the step of the last defined metric when stale
    interval: float | None  # median steps between evaluations
    first_step: int | None  # the first evaluation with a defined metric

    @property
    def read(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics if m.values.size)


def metric_evals(series: Series) -> MetricEvals:
    """The defined points of one eval metric on a 0–1 scale, and how many points are undefined."""
    v = series.values
    defined = np.isfinite(v) & (v != -1.0)
    values, steps = v[defined], series.steps[defined]
    scale = 100.0 if values.size and values.max() > 1.0 else 1.0
    last = int(steps[-1]) if steps.size else None
    after = int(np.count_nonzero(~defined & (series.steps > last))) if last is not None else 0
    return MetricEvals(series.name, steps, values / scale, int((~defined).sum()), after, scale)


def _interval(metrics: list[MetricEvals]) -> float | None:
    longest = max(metrics, key=lambda m: m.steps.size, default=None)
    if longest is None or longest.steps.size < 2:
        return None
    return float(np.median(np.diff(longest.steps)))


def eval_state(log: RunLog, names: tuple[str, ...], t: Thresholds, last_step: int | None) -> EvalState:
    """The EvalState of `log`'s eval metrics `names`; `last_step` is the run's last training step."""
    metrics = [metric_evals(log.series[n]) for n in names if n in log.series]
    measured = [m for m in metrics if m.values.size]
    if not measured:
        return EvalState(tuple(metrics), None, False, False, False, None, None, None)
    interval = _interval(measured)
    last_eval = max(int(m.steps[-1]) for m in measured)
    first_eval = min(int(m.steps[0]) for m in measured)
    # Stopped: every measured metric turned undefined after its last value (empty val lines of a diverged
    # run), or training went on for several evaluation intervals after the last value.
    went_blank = all(m.undefined_after > 0 for m in measured)
    went_quiet = (
        interval is not None
        and last_step is not None
        and last_step - last_eval > t.eval_stopped_intervals * interval
    )
    stale = went_blank or went_quiet
    recent = [m.values[-t.metric_last_evals :] for m in measured]
    best = None if stale else max(float(r.max()) for r in recent)
    enough = any(m.values.size >= 2 for m in measured)
    stuck = enough and all(bool(np.all(r <= t.metric_zero)) for r in recent)
    zero_first = stuck and all(bool(np.all(m.values <= t.metric_zero)) for m in measured)
    return EvalState(
        tuple(metrics), best, stuck, zero_first, stale, last_eval if stale else None, interval, first_eval
    )
