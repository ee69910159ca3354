"""Diagnose a run: decompose its losses, compute per-component statistics, run every rule over them.

`diagnose(log)` returns a `Diagnosis`: the components, the decomposition, per-component statistics,
`Finding`s (stable ids, most severe first) and the ranked root-cause triage over them. The rules live in
inspector/rules/, the triage in inspector/triage.py, the records and thresholds in inspector/findings.py;
inspector/report.py renders a Diagnosis as Markdown or JSON.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from inspector import stats
from inspector.eval_state import eval_state
from inspector.findings import (
    SEVERITIES,
    THRESHOLDS,
    Cause,
    ComponentStats,
    Finding,
    Thresholds,
    recent_rows,
    recent_span,
)
from inspector.loss_semantics import discover_components
from inspector.losses import Component, ComponentSet, Decomposition, align, decompose
from inspector.rules import RuleContext, run_rules
from inspector.runlog.record import RunLog
from inspector.triage import triage

# Rules that still speak about a run the loss rules cannot judge (no terms, too few points): they read
# the log, the lr and the evaluations, not the decomposition.
UNJUDGED_RULES = frozenset(
    {
        "non_finite_values",
        "metric_stuck_at_zero",
        "metric_near_zero",
        "eval_stopped",
        "eval_regression",
        "undefined_metric",
        "restarts",
        "lr_out_of_range",
    }
)


@dataclass(frozen=True)
class EvalSummary:
    """One eval metric as read: how many defined points, where, and its last and best values.

    NaN (Detectron2) and −1 (pycocotools/MMDetection's "no objects of this size") are not measurements:
    they are counted as `undefined`, never as a value.
    """

    name: str
    points: int
    first_step: int | None
    last_step: int | None
    last: float | None
    best: float | None  # the highest defined value (eval metrics here are AP/AR-like: higher is better)
    undefined: int


def eval_summaries(log: RunLog, names: tuple[str, ...]) -> tuple[EvalSummary, ...]:
    """An EvalSummary per eval metric of `log`, in the given order."""
    out = []
    for name in names:
        s = log.series[name]
        defined = np.isfinite(s.values) & (s.values != -1.0)
        v, steps = s.values[defined], s.steps[defined]
        out.append(
            EvalSummary(
                name,
                int(v.size),
                int(steps[0]) if v.size else None,
                int(steps[-1]) if v.size else None,
                float(v[-1]) if v.size else None,
                float(v.max()) if v.size else None,
                int((~defined).sum()),
            )
        )
    return tuple(out)


# Fewer logged steps than this and no rule has anything to judge (a trend, a share of variance and a
# spike each need several points; Mann-Kendall cannot reach p < 0.05 below 5).
MIN_JUDGED_STEPS = 5


@dataclass(frozen=True)
class Diagnosis:
    """Everything `diagnose` worked out about one run."""

    components: ComponentSet
    decomposition: Decomposition
    stats: dict[str, ComponentStats]
    findings: tuple[Finding, ...]
    n_steps: int
    n_segments: int
    warnings: tuple[str, ...] = field(default_factory=tuple)
    not_judged: tuple[str, ...] = field(default_factory=tuple)  # why the rules could not look (empty: judged)
    metrics: tuple[str, ...] = field(default_factory=tuple)  # every series the log holds
    eval_metrics: tuple[EvalSummary, ...] = field(default_factory=tuple)
    triage: tuple[Cause, ...] = field(default_factory=tuple)  # root causes, most likely first
    not_yet: tuple[str, ...] = field(default_factory=tuple)  # what not to do before the earlier causes
    skipped: tuple[str, ...] = field(default_factory=tuple)  # rules that had too few points to judge

    @property
    def judged(self) -> bool:
        """Whether the rules had something to judge: "no findings" only means "nothing wrong" when True."""
        return not self.not_judged


def not_judged_reasons(log: RunLog, comps: ComponentSet, dec: Decomposition) -> list[str]:
    """Why the rules could not judge this run (empty when they could): no steps, no terms, too few points."""
    reasons = []
    if not log.series:
        reasons.append("the log holds no series")
    elif not comps.components:
        reasons.append(
            "no loss components were recognised (no series is named as a loss, and none add up to "
            "a logged total)"
        )
    elif dec.steps.size < MIN_JUDGED_STEPS:
        reasons.append(
            f"only {dec.steps.size} logged step(s) of the loss components; the rules need at least "
            f"{MIN_JUDGED_STEPS}"
        )
    return reasons


def _component_stats(dec: Decomposition, t: Thresholds, judged: np.ndarray) -> dict[str, ComponentStats]:
    """Per-component statistics over the `judged` rows; spike masks are returned on every row of `dec`."""
    sub = dec if judged.all() else dec.select(judged)
    mean_sh = stats.mean_shares(sub)
    last_n = recent_span(sub.steps, t.recent_fraction)
    recent = sub.select(recent_rows(sub.steps, t.recent_fraction))  # views: the recent rows are contiguous
    # Who makes the total noisy now: over the whole run, step-to-step changes are mostly the early descent
    # (the cls term of a YOLOv8 epoch log held 87% of them over 100 epochs, 31% over the last 50).
    var_sh = stats.variance_shares(recent)

    def one(c: Component) -> ComponentStats:
        raw = sub.raw[c.name]
        # One scan finds the spikes and the regime changes it left out of them (the regime rule reads these).
        scan = stats.spike_scan(sub.steps, sub.weighted[c.name], t.spike_window, t.spike_k, t.spike_min_rise)
        mask = scan.mask if judged.all() else np.zeros(dec.steps.size, dtype=bool)
        if not judged.all():
            mask[np.flatnonzero(judged)[scan.mask]] = True
        return ComponentStats(
            c.name,
            mean_sh.get(c.name, float("nan")),
            var_sh.get(c.name, float("nan")),
            stats.trend(sub.steps, raw, last_n=last_n, alpha=t.trend_alpha),
            stats.volatility(recent.raw[c.name]),
            mask,
            int(mask.sum()),
            scan.changes,
        )

    # Components are independent and numpy/scipy release the GIL in their loops: one thread per core.
    # The cores this process may run on (taskset, cgroup cpusets), not the machine's: on one core the threads
    # would only take turns.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if sub.steps.size < 100_000 or len(dec.components) < 2 or cores < 2:
        return {c.name: one(c) for c in dec.components}
    with ThreadPoolExecutor(max_workers=min(len(dec.components), cores)) as pool:
        return {s.name: s for s in pool.map(one, dec.components)}


def _zero_positive(log: RunLog, comps: ComponentSet, dec: Decomposition, t: Thresholds) -> np.ndarray | None:
    """Rows of `dec` where the positives series says ~0 anchors were positive (None without such a series)."""
    if comps.positives is None or dec.steps.size == 0:
        return None
    s = log.series[comps.positives]
    zero = align(dec.steps, s.steps, (s.values < t.positives_zero).astype(np.float64))
    return zero == 1.0


def _judged_rows(zero_positive: np.ndarray | None, n: int) -> np.ndarray:
    """The rows statistics are computed on: every row, less those without positives when enough remain.

    A box or class term is 0 on a step without positive anchors (nothing to regress or classify): its
    dominance, noise and spikes measured over those steps describe the missing targets, which the
    no-positives rule reports, not the term.
    """
    judged = np.ones(n, dtype=bool)
    if zero_positive is not None and zero_positive.any() and int((~zero_positive).sum()) >= MIN_JUDGED_STEPS:
        judged = ~zero_positive
    return judged


def skipped_rules(ctx: RuleContext) -> list[str]:
    """Which rules had too few points to judge this run, and how many they need (empty when all could)."""
    t, out = ctx.t, []
    judged = ctx.dec.select(ctx.judged)
    n = int(judged.steps.size)
    recent = int(recent_rows(judged.steps, t.recent_fraction).sum())
    if 0 < n < stats.MIN_JUDGED_POINTS:
        out.append(f"spikes and regime changes: {n} logged step(s), {stats.MIN_JUDGED_POINTS} needed")
    if 0 < recent < t.high_volatility_min_points:
        out.append(f"noise (high_volatility): {recent} recent step(s), {t.high_volatility_min_points} needed")
    if 0 < recent < stats.MIN_TREND_POINTS:
        out.append(f"trends (stationary_component): {recent} recent step(s), {stats.MIN_TREND_POINTS} needed")
    evals = max((m.values.size for m in ctx.evals.metrics), default=0)
    if ctx.evals.metrics and evals < t.min_evals:
        out.append(f"eval regression and divergence: {evals} evaluation(s), {t.min_evals} needed")
    return out


def diagnose(
    log: RunLog,
    weights_override: dict[str, float] | None = None,
    thresholds: Thresholds = THRESHOLDS,
    logged_override: dict[str, str] | None = None,
) -> Diagnosis:
    """Return the Diagnosis of `log`: components, decomposition, statistics, findings and the ranked triage.

    `weights_override` and `logged_override` are the user's corrections (see discover_components).
    """
    t = thresholds
    comps = discover_components(log, weights_override, logged_override)
    dec = decompose(log, comps)
    zero_positive = _zero_positive(log, comps, dec, t)
    judged = _judged_rows(zero_positive, dec.steps.size)
    st = _component_stats(dec, t, judged) if dec.steps.size else {}
    last_step = int(dec.steps[-1]) if dec.steps.size else log.last_step
    evals = eval_state(log, comps.eval_metrics, t, last_step)
    ctx = RuleContext(log, comps, dec, st, evals, t, zero_positive, judged)
    not_judged = tuple(not_judged_reasons(log, comps, dec))
    findings = [f for f in run_rules(ctx) if not not_judged or f.id in UNJUDGED_RULES]
    findings.sort(key=lambda f: SEVERITIES.index(f.severity))
    causes, not_yet = triage(ctx, findings)
    return Diagnosis(
        comps,
        dec,
        st,
        tuple(findings),
        log.n_steps,
        len(log.segments),
        tuple(log.warnings) + comps.notes,
        not_judged,
        tuple(log.series),
        eval_summaries(log, comps.eval_metrics),
        causes,
        not_yet,
        tuple(skipped_rules(ctx)) if not not_judged else (),
    )
