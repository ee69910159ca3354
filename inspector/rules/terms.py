"""Rules about the loss terms themselves: one dominates, one stopped moving, one is noisy, spikes, a lasting
step.

Each reads the per-component statistics `inspector.diagnose` computed on the judged rows (the steps that had
positive anchors, when some had none: a term that is 0 for lack of targets is not dominant, noisy or spiky).
"""

from __future__ import annotations

from typing import cast

import numpy as np

from inspector import stats
from inspector.findings import Finding, format_number, format_percent, recent_rows
from inspector.losses import Component, by_family
from inspector.rules.context import RuleContext

# Points on each side of a spike whose median is its local baseline (the spike rule's own window is
# ~51 points; half of it is the neighbourhood a reader compares the spike with on the chart).
_BASELINE_POINTS = 25


def weight_suggestion(w: float, mean_share: float, variance_share: float) -> tuple[float, str] | None:
    """A lower weight to try and what it would do: the mean share to 40%, else the variance share to ~50%."""
    # Mean share scales with w: w' = w · (0.4/0.6) · (1 − s)/s gives 40%.
    if 0.4 < mean_share < 1:
        return w * (0.4 / 0.6) * (1 - mean_share) / mean_share, "which would make it ~40% of the mean"
    # Its own variance scales with w²: w' = w · √((1 − v)/v) gives ~50% of the summed variances.
    if 0.5 < variance_share < 1:
        return w * np.sqrt(
            (1 - variance_share) / variance_share
        ), "which would bring it to about half of the noise"
    return None


def _shares(ctx: RuleContext) -> dict[str, tuple[float, float, float, str]]:
    """{term or family: (mean share, variance share, weight, label)}: families of copies count as one."""
    families = ctx.comps.families
    if not families:

        def component(name: str) -> Component:
            # ctx.stats is keyed by the names of ctx.comps' components (diagnose computes it from them)
            return cast(Component, ctx.comps.get(name))

        return {
            name: (
                s.mean_share,
                s.variance_share,
                component(name).effective_weight,
                f"its weight is {format_number(component(name).effective_weight)} "
                f"({component(name).weight_source})",
            )
            for name, s in ctx.stats.items()
        }
    grouped = by_family(ctx.dec.select(ctx.judged), families)
    mean = stats.mean_shares(grouped)
    var = stats.variance_shares(grouped.select(recent_rows(grouped.steps, ctx.t.recent_fraction)))
    out = {}
    for c in grouped.components:
        label = (f"{len(families[c.name])} copies" if c.name in families else "") + (
            f", weight {format_number(c.weight)}" if c.weight is not None else ""
        )
        out[c.name] = (
            mean.get(c.name, float("nan")),
            var.get(c.name, float("nan")),
            c.effective_weight,
            label.strip(", "),
        )
    return out


def dominant(ctx: RuleContext) -> list[Finding]:
    """A term (or a family of copies) carrying most of the objective's mean or recent noise, in a run that is
    not good."""
    t = ctx.t
    if len(ctx.stats) < 2:
        return []
    if ctx.evals.best_recent is not None and ctx.evals.best_recent >= t.metric_poor:
        return []  # the model evaluates well: a large share is how this objective is built, not a fault
    shares = _shares(ctx)
    if len(shares) < 2:
        return []
    out = []
    for name, (mean_share, var_share, w, label) in shares.items():
        mean_ok, var_ok = np.isfinite(mean_share), np.isfinite(var_share)
        if not (
            (mean_ok and mean_share >= t.dominant_mean_share)
            or (var_ok and var_share >= t.dominant_variance_share)
        ):
            continue
        others = {k: v for k, v in shares.items() if k != name}
        weakest = min(others, key=lambda k: others[k][2])
        ratio = w / others[weakest][2] if others[weakest][2] > 0 else float("inf")
        weight_note = (
            f"; its weight {format_number(w)} is {ratio:.0f}× {weakest}'s "
            f"({format_number(others[weakest][2])})"
            if ratio >= 1.5
            else f"; {label}"
            if label
            else ""
        )
        suggestion = weight_suggestion(w, mean_share if mean_ok else 0.0, var_share if var_ok else 0.0)
        try_w = f" (e.g. {format_number(suggestion[0])}, {suggestion[1]})" if suggestion else ""
        out.append(
            Finding(
                "dominant_component",
                "warning",
                f"Weighted {name} dominates the objective",
                f"weighted {name} makes {format_percent(var_share)} of the objective's step-to-step noise "
                f"over the "
                f"last {format_percent(t.recent_fraction)} of the run and {format_percent(mean_share)} "
                f"of its mean"
                f"{weight_note}.",
                f"Once the targets and the lr are sound, try {name} at a lower weight{try_w} and see "
                f"whether the "
                f"other terms' share of the signal recovers.",
                name,
                "whatif",
            )
        )
    return out


def stationary(ctx: RuleContext) -> list[Finding]:
    """A term whose raw value has no trend over the recent half of the run, in a run that is not good."""
    t, best = ctx.t, ctx.evals.best_recent
    if best is not None and best >= t.metric_poor:
        return []  # flat losses with good metrics: converged, not stuck
    out = []
    for name, s in ctx.stats.items():
        tr = s.trend
        if not np.isfinite(tr.p_value) or tr.p_value <= t.trend_alpha:
            continue
        if not np.isfinite(tr.rel_change) or abs(tr.rel_change) >= t.stationary_rel_change:
            continue
        span = (tr.last_step - tr.first_step) / 1000
        if ctx.evals.stale:
            metric = (
                f"evaluation stopped reporting at step {ctx.evals.stopped_at}, so whether the model is good "
                "is unknown"
            )
        elif best is None:
            metric = "no eval metric is logged, so converged and stuck look the same"
        else:
            metric = f"the best recent eval metric is {format_number(best)}"
        out.append(
            Finding(
                "stationary_component",
                "info" if best is None and not ctx.evals.stale else "warning",
                f"{name} stopped improving",
                f"raw {name} over steps {tr.first_step}–{tr.last_step}: "
                f"Mann-Kendall p = {format_number(tr.p_value)}, "
                f"Theil-Sen change {tr.rel_change:+.1%} of its level {format_number(tr.level)} "
                f"over that window "
                f"(95% CI {tr.rel_per_1k_low * span:+.1%}…{tr.rel_per_1k_high * span:+.1%}); {metric}.",
                f"A {name} term that oscillates in a band without a trend is not being learned: "
                f"check its targets "
                f"and anchor assignment first, then its weight against the others.",
                name,
                "episodes",
            )
        )
    return out


def high_volatility(ctx: RuleContext) -> list[Finding]:
    """A term whose robust step-to-step noise is half its level or more, and which carries ≥ 5% of the
    objective."""
    t = ctx.t
    judged = ctx.dec.select(ctx.judged)
    recent = recent_rows(judged.steps, t.recent_fraction)
    out = []
    for name, s in ctx.stats.items():
        if np.count_nonzero(np.isfinite(judged.raw[name][recent])) < t.high_volatility_min_points:
            continue
        v = s.volatility
        noise = v.rel_mad_diff
        negligible = np.isfinite(s.mean_share) and s.mean_share < t.high_volatility_min_share
        if not (np.isfinite(noise) and noise > t.high_volatility_rel_diff) or negligible:
            continue
        out.append(
            Finding(
                "high_volatility",
                "warning",
                f"{name} is very noisy",
                f"over the last {format_percent(t.recent_fraction)} of the run raw {name} typically moves by "
                f"{format_number(v.mad_diff)} from one logged step to the next "
                f"(1.4826 × the median absolute deviation "
                f"of the changes), {format_percent(noise)} of its median level {format_number(v.median)} "
                f"(threshold {format_percent(t.high_volatility_rel_diff)}); "
                f"it carries {format_percent(s.mean_share)} "
                "of the objective's mean.",
                "Noise this large hides trends: use larger episodes/batches, a lower lr, "
                "or gradient clipping; "
                "the smoothed band shows the underlying level.",
                name,
                "loss_curves",
            )
        )
    return out


def _local_baseline(values: np.ndarray, i: int) -> float:
    lo, hi = max(0, i - _BASELINE_POINTS), min(values.size, i + _BASELINE_POINTS + 1)
    around = np.r_[values[lo:i], values[i + 1 : hi]]
    around = around[np.isfinite(around)]
    return float(np.median(around)) if around.size else float("nan")


def loss_spikes(ctx: RuleContext) -> list[Finding]:
    """Points far above their neighbours that come back down (the stats module's spike test), per term."""
    t = ctx.t
    hit = {n: s for n, s in ctx.stats.items() if s.n_spikes}
    if not hit:
        return []
    dec = ctx.dec
    worst = None  # (excess over baseline relative to it, name, step, value, baseline)
    for name, s in hit.items():
        w = dec.weighted[name]
        for i in np.flatnonzero(s.spike_mask):
            base = _local_baseline(w, int(i))
            excess = (w[i] - base) / abs(base) if base else float("inf")
            if worst is None or excess > worst[0]:
                worst = (excess, name, int(dec.steps[i]), float(w[i]), base)
    counts = ", ".join(f"{n}: {s.n_spikes}" for n, s in sorted(hit.items(), key=lambda kv: -kv[1].n_spikes))
    total = sum(s.n_spikes for s in hit.values())
    # every term in `hit` (non-empty) has a spike, so the loop above set `worst`
    _, name, step, value, base = cast(tuple[float, str, int, float, float], worst)
    size = (
        f"{format_number(value / base)}× its local baseline {format_number(base)}"
        if base
        else f"from a local baseline of {format_number(base)}"
    )
    return [
        Finding(
            "loss_spikes",
            "warning",
            "Loss spikes",
            f"{total} spike(s): points over {t.spike_k:g} robust σ and {100 * t.spike_min_rise:g}% "
            f"above their "
            f"neighbours that come back down ({counts}); the largest is weighted {name} = "
            f"{format_number(value)} at "
            f"step {step}, {size}.",
            "Open the spike steps' episodes: spikes usually come from one bad batch "
            "(tiny or degenerate boxes, "
            "mislabelled support) or from too high an lr; clipping gradients contains them.",
            name,
            "loss_curves",
        )
    ]


def regime_change(ctx: RuleContext) -> list[Finding]:
    """A lasting step change in a term (a loss switched on or off, a stage change): information, not a
    fault."""
    verbs = {"on": "switched on", "off": "switched off", "up": "stepped up", "down": "stepped down"}
    out = []
    for name, s in ctx.stats.items():
        if not s.changes:
            continue
        biggest = max(s.changes, key=lambda r: abs(r.level_after - r.level_before))
        out.append(
            Finding(
                "regime_change",
                "info",
                f"{name} {verbs[biggest.kind]} at step {biggest.step}",
                f"weighted {name} went from a level of {format_number(biggest.level_before)} to "
                f"{format_number(biggest.level_after)} at step {biggest.step} "
                f"and held it for {biggest.points_after} "
                f"logged point(s)"
                + (f" ({len(s.changes)} such changes)" if len(s.changes) > 1 else "")
                + "; its points there are not counted as spikes.",
                "If this is planned (a loss switched on for the last epochs, a second stage, an lr step), "
                "nothing "
                "to do; otherwise look at what changed in the run at that step.",
                name,
                "loss_curves",
            )
        )
    return out
