"""The rules: each looks at one symptom of a run and returns its findings, with the numbers behind them.

Every rule is a pure function of the run's log, components, decomposition and per-component
statistics (built by `inspector.diagnose`) and the `Thresholds`; it returns a list of `Finding`s
(empty when the symptom is absent).
"""

from __future__ import annotations

import numpy as np

from inspector import stats
from inspector.findings import ComponentStats, Finding, Thresholds, format_number, format_percent, recent_span
from inspector.losses import ComponentSet, Decomposition
from inspector.runlog.record import RunLog


def _weight_suggestion(w: float, mean_share: float, variance_share: float) -> str:
    """A lower weight to try, as text: one that brings the mean share to 40%, else the variance share to 50%."""
    # Mean share scales with w: w' = w · (0.4/0.6) · (1 − s)/s gives 40%.
    if 0.4 < mean_share < 1:
        return f" (e.g. {format_number(w * (0.4 / 0.6) * (1 - mean_share) / mean_share)}, which would make it ~40% of the mean)"
    # Variance of its steps scales with w² (ignoring covariance): w' = w · √((1 − v)/v) gives ~50%.
    if 0.5 < variance_share < 1:
        return (f" (e.g. {format_number(w * np.sqrt((1 - variance_share) / variance_share))}, which would bring it to "
                "about half of the total's step-to-step variance)")
    return ""


def dominant(comps: ComponentSet, st: dict[str, ComponentStats], dec: Decomposition,
              t: Thresholds) -> list[Finding]:
    if len(st) < 2:
        return []
    out = []
    for name, s in st.items():
        if not (s.mean_share >= t.dominant_mean_share or s.variance_share >= t.dominant_variance_share):
            continue
        c = comps.get(name)
        w = c.effective_weight
        others = [o for o in dec.components if o.name != name]
        weakest = min(others, key=lambda o: o.effective_weight)
        ratio = w / weakest.effective_weight if weakest.effective_weight > 0 else float("inf")
        weight_note = (f"; its weight {format_number(w)} is {ratio:.0f}× {weakest.name}'s ({format_number(weakest.effective_weight)})"
                       if ratio >= 1.5 else f"; its weight is {format_number(w)} ({c.weight_source})")
        try_w = _weight_suggestion(w, s.mean_share, s.variance_share)
        out.append(Finding(
            "dominant_component", "warning", f"Weighted {name} dominates the objective",
            f"weighted {name} makes {format_percent(s.variance_share)} of the total's step-to-step variance over "
            f"the last {format_percent(t.recent_fraction)} of the run and {format_percent(s.mean_share)} of its "
            f"mean{weight_note}.",
            f"Lower {name}'s weight{try_w} in the what-if on Loss curves and see whether the other terms' "
            f"share of the gradient signal recovers.",
            name, "Loss curves"))
    return out


def stationary(st: dict[str, ComponentStats], eval_best: float | None, t: Thresholds) -> list[Finding]:
    if eval_best is not None and eval_best >= t.metric_poor:
        return []  # flat losses with good metrics: converged, not stuck
    out = []
    for name, s in st.items():
        tr = s.trend
        if not np.isfinite(tr.p_value) or tr.p_value <= t.trend_alpha:
            continue
        if not np.isfinite(tr.rel_change) or abs(tr.rel_change) >= t.stationary_rel_change:
            continue
        span = (tr.last_step - tr.first_step) / 1000
        metric = ("no eval metric is logged, so converged and stuck look the same" if eval_best is None
                  else f"the best recent eval metric is {format_number(eval_best)}")
        out.append(Finding(
            "stationary_component", "info" if eval_best is None else "warning",
            f"{name} stopped improving",
            f"raw {name} over steps {tr.first_step}–{tr.last_step}: Mann-Kendall p = {format_number(tr.p_value)}, "
            f"Theil-Sen change {tr.rel_change:+.1%} of its level {format_number(tr.level)} over that window "
            f"(95% CI {tr.rel_per_1k_low * span:+.1%}…{tr.rel_per_1k_high * span:+.1%}); {metric}.",
            f"A {name} term that oscillates in a band without a trend is not being learned: check its targets "
            f"and anchor assignment on Episodes, and its weight against the others on Loss curves.",
            name, "Loss curves"))
    return out


def high_volatility(st: dict[str, ComponentStats], t: Thresholds) -> list[Finding]:
    out = []
    for name, s in st.items():
        v = s.volatility
        negligible = np.isfinite(s.mean_share) and s.mean_share < t.high_volatility_min_share
        if np.isfinite(v.rel_diff_std) and v.rel_diff_std > t.high_volatility_rel_diff_std and not negligible:
            out.append(Finding(
                "high_volatility", "warning", f"{name} is very noisy",
                f"over the last {format_percent(t.recent_fraction)} of the run raw {name} moves by {format_number(v.diff_std)} from "
                f"one logged step to the next, {format_percent(v.rel_diff_std)} of its mean {format_number(v.mean)} "
                f"(threshold {format_percent(t.high_volatility_rel_diff_std)}); it carries "
                f"{format_percent(s.mean_share)} of the objective's mean.",
                "Noise this large hides trends: use larger episodes/batches, a lower lr, or gradient clipping; "
                "the smoothed band on Loss curves shows the underlying level.",
                name, "Loss curves"))
    return out


def lr_collapsed(log: RunLog, comps: ComponentSet, eval_best: float | None, t: Thresholds) -> list[Finding]:
    if comps.lr is None:
        return []
    s = log.series[comps.lr]
    ok = np.isfinite(s.values)
    v, steps = s.values[ok], s.steps[ok]
    if v.size < 2:
        return []
    peak, final = float(v.max()), float(v[-1])
    # The absolute floor only counts when the lr actually decayed (a run tuned at 1e-6 is not collapsed).
    collapsed = final < t.lr_collapse_ratio * peak or (final < t.lr_collapse_abs and final < 0.1 * peak)
    if not collapsed or (eval_best is not None and eval_best >= t.metric_poor):
        return []
    floor = max(t.lr_collapse_ratio * peak, min(t.lr_collapse_abs, 0.1 * peak))
    below = np.flatnonzero(v < floor)
    since = int(steps[below[0]]) if below.size else int(steps[-1])
    frac = (since - steps[0]) / max(1, steps[-1] - steps[0])
    metric = ("no eval metric is logged" if eval_best is None
              else f"the best recent eval metric is only {format_number(eval_best)}")
    return [Finding(
        "lr_collapsed", "info" if eval_best is None else "warning", "Learning rate collapsed",
        f"{comps.lr} fell from a peak of {format_number(peak)} to {format_number(final)} ({format_number(final / peak)}× the peak); it has "
        f"been below {format_number(floor)} since step {since} ({format_percent(frac)} into the run) while {metric}.",
        "Steps at this lr barely move the weights: shorten the decay (higher final lr / lrf, later "
        "milestones) or train longer at a useful lr before judging the losses.",
        None, "Loss curves")]


def metric_zero(comps: ComponentSet, read: list[str], stuck: bool, t: Thresholds) -> list[Finding]:
    if not stuck:
        return []
    return [Finding(
        "metric_stuck_at_zero", "critical", "Evaluation metrics are stuck at zero",
        f"{', '.join(read)} are all ≤ {format_number(t.metric_zero)} (0–1 scale) over the last "
        f"{t.metric_last_evals} evaluations.",
        "The detector finds nothing: check on Episodes that boxes are drawn where the objects are "
        "(box format and normalisation), that anchors get positives, and that eval uses the same classes.",
        None, "Episodes")]


def non_finite(log: RunLog, comps: ComponentSet) -> list[Finding]:
    if not log.non_finite:
        return []
    losses = {c.metric for c in comps.components} | ({comps.total} if comps.total else set())
    parts = []
    for m, n in sorted(log.non_finite.items()):
        s = log.series.get(m)
        first = int(s.steps[np.flatnonzero(~np.isfinite(s.values))[0]]) if s is not None and n else None
        parts.append(f"{m}: {n}" + (f" (first at step {first})" if first is not None else ""))
    in_loss = bool(losses & set(log.non_finite))
    return [Finding(
        "non_finite_values", "critical" if in_loss else "warning", "Non-finite values in the log",
        f"NaN/inf values: {', '.join(parts)}.",
        "A NaN loss poisons the weights from that step on: lower the lr or enable gradient clipping, and "
        "look for empty targets or zero-area boxes in the episode of the first NaN." if in_loss
        else "NaN metrics often mean 'no objects of that kind' (e.g. APs without small objects); check "
        "whether that is expected.",
        None, "Loss curves")]


def total_mismatch(comps: ComponentSet, dec: Decomposition, t: Thresholds) -> list[Finding]:
    ok = np.isfinite(dec.residual) & np.isfinite(dec.logged_total)
    if not ok.any():
        return []
    rel = float(np.median(np.abs(dec.residual[ok])) / max(np.median(np.abs(dec.logged_total[ok])), 1e-12))
    if rel <= t.total_mismatch:
        return []
    assumed = ", ".join(f"{c.name} {format_number(c.effective_weight)} ({c.weight_source}, logged {c.logged})"
                        for c in dec.components)
    return [Finding(
        "total_mismatch", "warning", "Components do not add up to the logged total",
        f"the median |{dec.total_metric} − Σ weighted components| is {format_percent(rel)} of the total; weights "
        f"assumed: {assumed}.",
        "Either the weights are not what was assumed (pass the real ones) or the total holds terms that were "
        "not logged separately (regularisers, auxiliary heads).",
        None, "Loss curves")]


def loss_spikes(dec: Decomposition, st: dict[str, ComponentStats], t: Thresholds) -> list[Finding]:
    hit = {n: s for n, s in st.items() if s.n_spikes}
    if not hit:
        return []
    worst_name, worst_ratio, worst_step, worst_value = None, -np.inf, 0, 0.0
    for name, s in hit.items():
        w = dec.weighted[name]
        level = float(np.nanmedian(w))
        idx = np.flatnonzero(s.spike_mask)
        i = idx[np.argmax(np.abs(w[idx] - level))]
        ratio = float(w[i] / level) if level else float("inf")
        if abs(ratio) > worst_ratio:
            worst_name, worst_ratio, worst_step, worst_value = name, abs(ratio), int(dec.steps[i]), float(w[i])
    counts = ", ".join(f"{n}: {s.n_spikes}" for n, s in sorted(hit.items(), key=lambda kv: -kv[1].n_spikes))
    total = sum(s.n_spikes for s in hit.values())
    return [Finding(
        "loss_spikes", "warning", "Loss spikes",
        f"{total} spike(s) over {t.spike_k:g} robust σ and {100 * t.spike_min_rise:g}% above the rolling median "
        f"({counts}); the largest is weighted "
        f"{worst_name} = {format_number(worst_value)} at step {worst_step}, {format_number(worst_ratio)}× its median.",
        "Open the spike steps' episodes: spikes usually come from one bad batch (tiny or degenerate boxes, "
        "mislabelled support) or from too high an lr; clipping gradients contains them.",
        worst_name, "Loss curves")]


def restarts(log: RunLog) -> list[Finding]:
    if len(log.segments) <= 1:
        return []
    spans = "; ".join(f"segment {s.index}: steps {s.first_step}–{s.last_step}" for s in log.segments)
    return [Finding(
        "restarts", "info", f"The log holds {len(log.segments) - 1} restart(s)",
        f"the step counter went backwards {len(log.segments) - 1} time(s) ({spans}); later segments win.",
        "If the run was resumed from a checkpoint this is expected; otherwise two runs share one log file.",
        None, "Overview")]


def no_positives(log: RunLog, comps: ComponentSet, t: Thresholds) -> list[Finding]:
    if comps.positives is None:
        return []
    s = log.series[comps.positives]
    zero = np.isfinite(s.values) & (s.values < t.positives_zero)
    if not zero.any():
        return []
    # Longest run of consecutive zero points.
    edges = np.diff(np.r_[0, zero.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    k = int(np.argmax(ends - starts))
    length = int(ends[k] - starts[k])
    if length < max(t.positives_min_points, t.positives_min_fraction * zero.size):
        return []
    return [Finding(
        "no_positive_anchors", "critical", "No positive anchors",
        f"{comps.positives} was below {format_number(t.positives_zero)} for {length} consecutive logged steps "
        f"(steps {int(s.steps[starts[k]])}–{int(s.steps[ends[k] - 1])}, {format_percent(length / zero.size)} of the log).",
        "With no positives the box and class losses get no signal: check the assigner (top-k, IoU "
        "threshold), box coordinates vs image size, and strides on Episodes.",
        None, "Episodes")]


def _val_series(log: RunLog, comps: ComponentSet) -> tuple[np.ndarray, np.ndarray] | None:
    if comps.val_total and comps.val_total in log.series:
        s = log.series[comps.val_total]
        return s.steps, s.values
    if not comps.val_components:
        return None
    parts = [(log.series[c.metric], c) for c in comps.val_components]
    steps = np.unique(np.concatenate([p.steps for p, _ in parts]))
    total = np.zeros(steps.size)
    for s, c in parts:
        v = np.full(steps.size, np.nan)
        v[np.searchsorted(steps, s.steps)] = s.values * (c.effective_weight if c.logged == "raw" else 1.0)
        total += v
    return steps, total


def divergence(log: RunLog, comps: ComponentSet, dec: Decomposition, t: Thresholds) -> list[Finding]:
    val = _val_series(log, comps)
    if val is None or dec.steps.size == 0:
        return []
    vs, vv = val
    vs, vv = vs[np.isfinite(vv)], vv[np.isfinite(vv)]
    last_n = recent_span(vs, t.recent_fraction)
    if np.count_nonzero(vs > vs[-1] - last_n) < t.divergence_min_points:
        return []
    tv = stats.trend(vs, vv, last_n=last_n)
    train = dec.logged_total if np.isfinite(dec.logged_total).any() else dec.total
    tt = stats.trend(dec.steps, train, last_n=last_n)
    if not (tv.direction == "up" and tt.direction == "down"):
        return []
    return [Finding(
        "train_val_divergence", "warning", "Validation loss rises while training loss falls",
        f"over steps {tv.first_step}–{tv.last_step} the validation loss rose {tv.rel_change:+.0%} "
        f"(Mann-Kendall p = {format_number(tv.p_value)}) while the training loss changed {tt.rel_change:+.0%} "
        f"(p = {format_number(tt.p_value)}).",
        "The model is overfitting the training episodes: stop at the best validation checkpoint, add "
        "augmentation, or sample more varied episodes.",
        None, "Loss curves")]
