"""Rules about the evaluations: stuck at or near zero, fallen from their best, stopped reporting, diverging,
undefined.

They work from three evaluations (a 12-epoch schedule evaluated every 2 epochs gives 6), judged on the
defined points only (`inspector.eval_state`): NaN and −1 placeholders are never a value.
"""

from __future__ import annotations

import numpy as np

from inspector.eval_state import MetricEvals
from inspector.findings import Finding, format_number
from inspector.rules.context import RuleContext
from inspector.runlog.record import RunLog


def _when(log: RunLog, metric: str, step: int) -> str:
    """'epoch 4' on an epoch-level log (or where the metric carries its epochs), else 'step 1200'."""
    if log.step_unit == "epoch":
        return f"epoch {step}"
    s = log.series.get(metric)
    if s is not None and s.epochs is not None:
        at = np.flatnonzero(s.steps == step)
        if at.size and np.isfinite(s.epochs[at[0]]):
            return f"step {step} (epoch {s.epochs[at[0]]:g})"
    return f"step {step}"


def metric_zero(ctx: RuleContext) -> list[Finding]:
    """Every eval metric ≤ metric_zero over its last evaluations: the detector finds nothing."""
    ev, t = ctx.evals, ctx.t
    if not ev.stuck_at_zero or ev.stale:
        return []
    since = (
        f" and at every evaluation since the first one (step {ev.first_step})" if ev.zero_from_first else ""
    )
    return [
        Finding(
            "metric_stuck_at_zero",
            "critical",
            "Evaluation metrics are stuck at zero",
            f"{', '.join(ev.read)} are all ≤ {format_number(t.metric_zero)} (0–1 scale) over the last "
            f"{t.metric_last_evals} evaluations{since}.",
            "The detector finds nothing: check that boxes are drawn where the objects are (box format and "
            "normalisation), that anchors get positives, and that evaluation uses the same classes.",
            None,
            "episodes",
        )
    ]


def metric_near_zero(ctx: RuleContext) -> list[Finding]:
    """Some eval metrics at zero and the rest poor: the detector barely works, and not at all on one task.

    The all-zero case is `metric_zero`'s. This one needs a metric ≤ metric_zero at each of its last
    evaluations (≥ 2 of them) while the best recent value of any metric stays below metric_poor: an AP_small
    of 0 beside a good mAP is left alone.
    """
    ev, t = ctx.evals, ctx.t
    if ev.stuck_at_zero or ev.stale or ev.best_recent is None or ev.best_recent >= t.metric_poor:
        return []
    zero = [
        m
        for m in ev.metrics
        if m.values.size >= 2 and np.all(m.values[-t.metric_last_evals :] <= t.metric_zero)
    ]
    if not zero:
        return []
    zero_names = {m.name for m in zero}
    others = [m for m in ev.metrics if m.values.size and m.name not in zero_names]

    def at_zero(m: MetricEvals) -> str:
        every = bool(np.all(m.values <= t.metric_zero))
        return (
            f"{m.name} at all {m.values.size} evaluations since {_when(ctx.log, m.name, int(m.steps[0]))}"
            if every
            else f"{m.name} at its last {min(t.metric_last_evals, m.values.size)} evaluations"
        )

    poor = ", ".join(
        f"{m.name} {format_number(float(m.values[-t.metric_last_evals :].max()))}" for m in others
    )
    return [
        Finding(
            "metric_near_zero",
            "warning",
            "Evaluation metrics at or near zero",
            f"{'; '.join(at_zero(m) for m in zero)}: ≤ {format_number(t.metric_zero)} (0–1 scale); "
            "the best of "
            f"the others over their last {t.metric_last_evals} evaluations: {poor} (all below "
            f"{format_number(t.metric_poor)}).",
            f"The detector barely finds anything, and nothing on {', '.join(sorted(zero_names))}: "
            "open episodes of that task and look at the boxes, their scores against the score gate "
            "and the positives per target.",
            None,
            "episodes",
        )
    ]


def _regressed(m: MetricEvals, ctx: RuleContext) -> tuple[int, float, float] | None:
    """(index of the best, best, last) when metric `m` fell from its best by both thresholds; else None."""
    t = ctx.t
    if m.values.size < t.min_evals:
        return None
    i = int(np.argmax(m.values))
    best, last = float(m.values[i]), float(m.values[-1])
    if i == m.values.size - 1 or best < t.eval_regression_min_best:
        return None
    drop = best - last
    if drop >= t.eval_regression_abs and drop >= t.eval_regression_rel * best:
        return i, best, last
    return None


def eval_regression(ctx: RuleContext) -> list[Finding]:
    """An eval metric fell from its best by ≥ 10% of it and ≥ 0.02: the best checkpoint is behind."""
    found = [(m, r) for m in ctx.evals.metrics if (r := _regressed(m, ctx)) is not None]
    if not found:
        return []
    # Headline: the metric with the highest best (usually AP50), the others listed.
    m, (i, best, last) = max(found, key=lambda mr: mr[1][1])
    when = _when(ctx.log, m.name, int(m.steps[i]))
    others = [
        f"{o.name} {format_number(r[1] * o.scale)} → {format_number(r[2] * o.scale)}"
        for o, r in found
        if o is not m
    ]
    also = f"; also {', '.join(others)}" if others else ""
    return [
        Finding(
            "eval_regression",
            "warning",
            f"{m.name} fell from its best",
            f"{m.name} peaked at {format_number(best * m.scale)} at {when} "
            f"and is now {format_number(last * m.scale)} "
            f"({(last - best) / best:+.0%}, {m.values.size - 1 - i} evaluation(s) later){also}.",
            f"Keep the checkpoint from {when} (the best so far); if the fall continues, "
            "stop there or regularise "
            "(more augmentation, more varied episodes, a lower lr late in the schedule).",
            None,
            "eval",
        )
    ]


def eval_stopped(ctx: RuleContext) -> list[Finding]:
    """Evaluations stopped reporting metrics while training went on: their last values are not the
    model's state."""
    ev = ctx.evals
    if not ev.stale:
        return []
    blank = sum(m.undefined_after for m in ev.metrics if m.values.size)
    if blank:
        how = f"{blank} later value(s) of them are empty or NaN"
    else:
        how = (
            f"training went on to step {ctx.dec.steps[-1] if ctx.dec.steps.size else ctx.log.last_step} "
            f"without another evaluation (every ~{format_number(ev.interval)} steps before)"
        )
    return [
        Finding(
            "eval_stopped",
            "warning",
            "Evaluation stopped reporting metrics",
            f"the last eval metric with a value ({', '.join(ev.read)}) is at step {ev.stopped_at}; "
            f"{how}. Their last "
            "values are not treated as the model's current state.",
            "Look at what the evaluation printed after that step: a crash in the eval loop, "
            "NaN predictions from a "
            "diverged model, or an empty validation set.",
            None,
            "eval",
        )
    ]


def _val_loss(ctx: RuleContext) -> tuple[str, np.ndarray, np.ndarray] | None:
    """(name, steps, values) of the validation loss: the logged val total, else Σ weighted val components."""
    comps, log = ctx.comps, ctx.log
    if comps.val_total and comps.val_total in log.series:
        s = log.series[comps.val_total]
        ok = np.isfinite(s.values)
        return comps.val_total, s.steps[ok], s.values[ok]
    if not comps.val_components:
        return None
    parts = [(log.series[c.metric], c) for c in comps.val_components]
    steps = np.unique(np.concatenate([p.steps for p, _ in parts]))
    total = np.zeros(steps.size)
    for s, c in parts:
        v = np.full(steps.size, np.nan)
        v[np.searchsorted(steps, s.steps)] = s.values * (c.effective_weight if c.logged == "raw" else 1.0)
        total += v
    ok = np.isfinite(total)
    return "Σ validation losses", steps[ok], total[ok]


def _train_near(steps: np.ndarray, values: np.ndarray, at: int, half: float) -> float:
    """Median training loss within ±half steps of `at` (the last point before it when none is that close)."""
    ok = np.isfinite(values)
    near = ok & (np.abs(steps - at) <= half)
    if near.any():
        return float(np.median(values[near]))
    before = np.flatnonzero(ok & (steps <= at))
    return float(values[before[-1]]) if before.size else float("nan")


def train_val_divergence(ctx: RuleContext) -> list[Finding]:
    """The validation loss rose ≥ 20% above its minimum while the training loss fell: overfitting."""
    t = ctx.t
    val = _val_loss(ctx)
    if val is None or ctx.dec.steps.size == 0:
        return []
    name, vs, vv = val
    if vv.size < t.min_evals:
        return []
    i = int(np.argmin(vv))
    best, last = float(vv[i]), float(vv[-1])
    after = vv[i + 1 :]
    if (
        i == vv.size - 1
        or best <= 0
        or last < best * (1 + t.val_rise)
        or after.mean() < best * (1 + t.val_rise / 2)
    ):
        return []
    train = ctx.dec.logged_total if np.isfinite(ctx.dec.logged_total).any() else ctx.dec.total
    half = float(np.median(np.diff(vs))) / 2 if vs.size > 1 else 0.0
    at_best = _train_near(ctx.dec.steps, train, int(vs[i]), half)
    at_last = _train_near(ctx.dec.steps, train, int(vs[-1]), half)
    change = at_last / at_best - 1 if at_best else float("nan")
    if not (np.isfinite(change) and change <= -t.train_fall):
        return []
    return [
        Finding(
            "train_val_divergence",
            "warning",
            "Validation loss rises while training loss falls",
            f"{name} was lowest at {_when(ctx.log, name, int(vs[i]))} ({format_number(best)}) and is now "
            f"{format_number(last)} ({last / best - 1:+.0%}, over {vv.size - 1 - i} evaluation(s)); "
            "the training loss "
            f"changed {change:+.0%} over the same steps.",
            "The model is fitting the training episodes only: keep the checkpoint at the validation minimum, "
            "add "
            "augmentation, or sample more varied episodes.",
            None,
            "eval",
        )
    ]


def undefined_metric(ctx: RuleContext) -> list[Finding]:
    """Eval metrics that are NaN or −1 at every evaluation: nothing of that kind to measure, not a fault."""
    never = [m for m in ctx.evals.metrics if m.values.size == 0 and m.undefined]
    some = [m for m in ctx.evals.metrics if m.values.size and m.undefined and not m.undefined_after]
    if not never and not some:
        return []
    parts = [f"{m.name} at all {m.undefined} evaluation(s)" for m in never] + [
        f"{m.name} at {m.undefined} of {m.undefined + m.values.size}" for m in some
    ]
    return [
        Finding(
            "undefined_metric",
            "info",
            "Some eval metrics are undefined",
            f'NaN or −1 (the evaluator\'s "nothing to measure", e.g. no small objects in the '
            "validation set): "
            f"{'; '.join(parts)}. They are not counted as values.",
            "Nothing to fix if the validation set has no objects of that kind; "
            "otherwise check the evaluator's "
            "area ranges and categories.",
            None,
            "eval",
        )
    ]
