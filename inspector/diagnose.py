"""Diagnose a run: decompose its losses, compute per-component statistics, run every rule over them.

`diagnose(log)` returns a `Diagnosis`: the components, the decomposition, per-component statistics
and `Finding`s (stable ids, most severe first). The rules live in inspector/rules.py, the records and
thresholds in inspector/findings.py; inspector/report.py renders a Diagnosis as Markdown or JSON.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from inspector import rules, stats
from inspector.findings import SEVERITIES, THRESHOLDS, ComponentStats, Finding, Thresholds, recent_rows, recent_span
from inspector.loss_semantics import discover_components
from inspector.losses import ComponentSet, Decomposition, decompose
from inspector.runlog.record import RunLog


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
    best: float | None       # the highest defined value (eval metrics here are AP/AR-like: higher is better)
    undefined: int


def eval_summaries(log: RunLog, names: tuple[str, ...]) -> tuple[EvalSummary, ...]:
    """An EvalSummary per eval metric of `log`, in the given order."""
    out = []
    for name in names:
        s = log.series[name]
        defined = np.isfinite(s.values) & (s.values != -1.0)
        v, steps = s.values[defined], s.steps[defined]
        out.append(EvalSummary(name, int(v.size), int(steps[0]) if v.size else None,
                               int(steps[-1]) if v.size else None, float(v[-1]) if v.size else None,
                               float(v.max()) if v.size else None, int((~defined).sum())))
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
    not_judged: tuple[str, ...] = field(default_factory=tuple)   # why the rules could not look (empty: judged)
    metrics: tuple[str, ...] = field(default_factory=tuple)      # every series the log holds
    eval_metrics: tuple[EvalSummary, ...] = field(default_factory=tuple)

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
        reasons.append("no loss components were recognised (no series is named as a loss, and none add up to "
                       "a logged total)")
    elif dec.steps.size < MIN_JUDGED_STEPS:
        reasons.append(f"only {dec.steps.size} logged step(s) of the loss components; the rules need at least "
                       f"{MIN_JUDGED_STEPS}")
    return reasons


def _eval_state(log: RunLog, comps: ComponentSet, t: Thresholds) -> tuple[float | None, list[str], bool]:
    """Return (best recent eval value on a 0–1 scale or None, metric names read, all recent ≈ 0).

    −1 is MMDetection's "no objects of this size" and NaN Detectron2's: both are not measurements.
    """
    best = None
    read: list[str] = []
    all_zero = True
    enough = False
    for m in comps.eval_metrics:
        v = log.series[m].values
        v = v[np.isfinite(v) & (v >= 0)]
        if v.size == 0:
            continue
        scale = 100.0 if v.max() > 1.0 else 1.0
        recent = v[-t.metric_last_evals:] / scale
        read.append(m)
        best = float(recent.max()) if best is None else max(best, float(recent.max()))
        all_zero &= bool(np.all(recent <= t.metric_zero))
        enough |= v.size >= 2
    return best, read, bool(read) and all_zero and enough


def _component_stats(dec: Decomposition, t: Thresholds) -> dict[str, ComponentStats]:
    mean_sh = stats.mean_shares(dec)
    last_n = recent_span(dec.steps, t.recent_fraction)
    recent = recent_rows(dec.steps, t.recent_fraction)
    # Who makes the total noisy now: over the whole run, step-to-step changes are mostly the early descent
    # (the cls term of a YOLOv8 epoch log held 87% of them over 100 epochs, 31% over the last 50).
    var_sh = stats.variance_shares(dec.select(recent))

    def one(c) -> ComponentStats:
        raw = dec.raw[c.name]
        mask = stats.spikes(dec.steps, dec.weighted[c.name], t.spike_window, t.spike_k, t.spike_min_rise)
        return ComponentStats(
            c.name, mean_sh.get(c.name, float("nan")), var_sh.get(c.name, float("nan")),
            stats.trend(dec.steps, raw, last_n=last_n), stats.volatility(raw[recent]), mask, int(mask.sum()))

    # Components are independent and numpy/scipy release the GIL in their loops: one thread per core.
    if dec.steps.size < 100_000 or len(dec.components) < 2:
        return {c.name: one(c) for c in dec.components}
    with ThreadPoolExecutor(max_workers=min(len(dec.components), os.cpu_count() or 1)) as pool:
        return {s.name: s for s in pool.map(one, dec.components)}


def diagnose(log: RunLog, weights_override: dict[str, float] | None = None,
             thresholds: Thresholds = THRESHOLDS, logged_override: dict[str, str] | None = None) -> Diagnosis:
    """Return the Diagnosis of `log`: components, decomposition, per-component stats and findings.

    `weights_override` and `logged_override` are the user's corrections (see discover_components).
    """
    t = thresholds
    comps = discover_components(log, weights_override, logged_override)
    dec = decompose(log, comps)
    st = _component_stats(dec, t) if dec.steps.size else {}
    eval_best, read, stuck = _eval_state(log, comps, t)
    findings = [
        *rules.non_finite(log, comps),
        *rules.metric_zero(comps, read, stuck, t),
        *rules.no_positives(log, comps, t),
        *rules.lr_collapsed(log, comps, eval_best, t),
        *rules.dominant(comps, st, dec, t),
        *rules.stationary(st, eval_best, t),
        *rules.high_volatility(st, t),
        *rules.loss_spikes(dec, st, t),
        *rules.total_mismatch(comps, dec, t),
        *rules.divergence(log, comps, dec, t),
        *rules.restarts(log),
    ]
    findings.sort(key=lambda f: SEVERITIES.index(f.severity))
    n_steps = log.n_steps
    return Diagnosis(comps, dec, st, tuple(findings), n_steps, len(log.segments),
                     tuple(log.warnings) + comps.notes, tuple(not_judged_reasons(log, comps, dec)),
                     tuple(log.series), eval_summaries(log, comps.eval_metrics))
