"""Rules that read a run's loss decomposition and statistics and say what looks wrong, with numbers.

`diagnose(log)` returns a `Diagnosis`: the components, the decomposition, per-component statistics
and `Finding`s (stable ids, most severe first). inspector/report.py renders it as Markdown or JSON.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from inspector import stats
from inspector.losses import ComponentSet, Decomposition, decompose, discover_components
from inspector.runlog.record import RunLog

SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Thresholds:
    """Every number the rules compare against, with where it comes from."""

    # One term carrying most of the objective starves the others of gradient. 60% of the mean / 70% of
    # the step-to-step variance come from the project brief (our users' troubled bbox ×7.5 run showed
    # ~84% / 86%). The variance share is taken over the recent part of the run (recent_fraction): over
    # whole epoch-level logs it measured the early descent instead (YOLOv8 cls 83–87%, Mask R-CNN mask
    # 94% of all changes; 31–45% and 30% over their last halves).
    dominant_mean_share: float = 0.60
    dominant_variance_share: float = 0.70
    # Conventional α for the Mann-Kendall test.
    trend_alpha: float = 0.05
    # "Not moving": the Theil-Sen change over the analysed window is under 10% of the level, i.e. well
    # inside the ±10–30% mini-batch band of a noisy loss.
    stationary_rel_change: float = 0.10
    # Trends are judged on the last half of the run: early warm-up drops say nothing about the end.
    recent_fraction: float = 0.5
    # Step-to-step noise as large as half the level hides any trend smaller than the noise for hundreds
    # of steps; per-iteration detector losses in our sample logs sit at 0.05–0.3.
    high_volatility_rel_diff_std: float = 0.5
    # ...unless the term carries under 5% of the objective's mean: its noise then moves the total by a few
    # percent at most (Detectron2's and Mask R-CNN's rpn terms sit at 0.2-1% in tests/samples).
    high_volatility_min_share: float = 0.05
    # PyTorch schedulers end near 1e-2 (Ultralytics lrf) to 1e-3 of the peak at most; below that, or
    # below 1e-5 absolute (fp32 updates at 1e-6 move weights by ~1e-7 relative), learning has stopped.
    lr_collapse_ratio: float = 1e-3
    lr_collapse_abs: float = 1e-5
    # mAP50 (fraction) under 0.1 after training: the detector still fails on most objects.
    metric_poor: float = 0.10
    # An eval metric this small (fraction scale) is zero for practical purposes (AP is reported to 3 dp).
    metric_zero: float = 1e-3
    metric_last_evals: int = 3
    # A residual over 5% of the logged total is more than rounding of logged values (4–5 dp) explains.
    total_mismatch: float = 0.05
    # k = 6 robust σ: a Gaussian point passes it with p ≈ 2e-9, so a healthy 1M-step log shows none.
    spike_k: float = 6.0
    spike_window: int | None = None  # steps; None = 51 logged points
    spike_min_rise: float = stats.SPIKE_MIN_RISE  # and ≥ 10% above the rolling median (see stats.spikes)
    # Fewer than half a positive per logged step is "none"; a stretch is ≥ 5 points and ≥ 5% of the log.
    positives_zero: float = 0.5
    positives_min_points: int = 5
    positives_min_fraction: float = 0.05
    # Mann-Kendall needs ~8 points to reach p < 0.05 at all.
    divergence_min_points: int = 8


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Finding:
    """One thing that looks wrong (or worth knowing), the numbers behind it and what to try next."""

    id: str
    severity: str  # "critical", "warning" or "info"
    title: str
    evidence: str
    next_step: str
    component: str | None = None
    page: str = "Overview"  # where the app shows it: "Overview", "Loss curves" or "Episodes"


@dataclass(frozen=True)
class ComponentStats:
    """Statistics of one weighted component (trend and volatility over the recent part of the run)."""

    name: str
    mean_share: float
    variance_share: float
    trend: stats.Trend
    volatility: stats.Volatility
    spike_mask: np.ndarray  # (T,) bool on the decomposition's step axis
    n_spikes: int


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


def format_number(x: float) -> str:
    """Return `x` with 3 significant digits (plain for ordinary magnitudes)."""
    if x is None or not np.isfinite(x):
        return "n/a"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2e}"
    return f"{x:.3g}"


def format_percent(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.0f}%"


def _recent(steps: np.ndarray, fraction: float) -> int:
    """Return the number of steps in the last `fraction` of the step range (at least 1)."""
    if steps.size == 0:
        return 1
    return max(1, int(np.ceil((int(steps[-1]) - int(steps[0]) + 1) * fraction)))


def recent_rows(steps: np.ndarray, fraction: float = THRESHOLDS.recent_fraction) -> np.ndarray:
    """Bool mask of the steps in the last `fraction` of the step range: the part trends and noise are judged on."""
    if steps.size == 0:
        return np.zeros(0, dtype=bool)
    return steps > steps[-1] - _recent(steps, fraction)


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
    last_n = _recent(dec.steps, t.recent_fraction)
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


def _dominant(comps: ComponentSet, st: dict[str, ComponentStats], dec: Decomposition,
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


def _stationary(st: dict[str, ComponentStats], eval_best: float | None, t: Thresholds) -> list[Finding]:
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


def _high_volatility(st: dict[str, ComponentStats], t: Thresholds) -> list[Finding]:
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


def _lr_collapsed(log: RunLog, comps: ComponentSet, eval_best: float | None, t: Thresholds) -> list[Finding]:
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


def _metric_zero(comps: ComponentSet, read: list[str], stuck: bool, t: Thresholds) -> list[Finding]:
    if not stuck:
        return []
    return [Finding(
        "metric_stuck_at_zero", "critical", "Evaluation metrics are stuck at zero",
        f"{', '.join(read)} are all ≤ {format_number(t.metric_zero)} (0–1 scale) over the last "
        f"{t.metric_last_evals} evaluations.",
        "The detector finds nothing: check on Episodes that boxes are drawn where the objects are "
        "(box format and normalisation), that anchors get positives, and that eval uses the same classes.",
        None, "Episodes")]


def _non_finite(log: RunLog, comps: ComponentSet) -> list[Finding]:
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


def _total_mismatch(comps: ComponentSet, dec: Decomposition, t: Thresholds) -> list[Finding]:
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


def _loss_spikes(dec: Decomposition, st: dict[str, ComponentStats], t: Thresholds) -> list[Finding]:
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


def _restarts(log: RunLog) -> list[Finding]:
    if len(log.segments) <= 1:
        return []
    spans = "; ".join(f"segment {s.index}: steps {s.first_step}–{s.last_step}" for s in log.segments)
    return [Finding(
        "restarts", "info", f"The log holds {len(log.segments) - 1} restart(s)",
        f"the step counter went backwards {len(log.segments) - 1} time(s) ({spans}); later segments win.",
        "If the run was resumed from a checkpoint this is expected; otherwise two runs share one log file.",
        None, "Overview")]


def _no_positives(log: RunLog, comps: ComponentSet, t: Thresholds) -> list[Finding]:
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


def _divergence(log: RunLog, comps: ComponentSet, dec: Decomposition, t: Thresholds) -> list[Finding]:
    val = _val_series(log, comps)
    if val is None or dec.steps.size == 0:
        return []
    vs, vv = val
    vs, vv = vs[np.isfinite(vv)], vv[np.isfinite(vv)]
    last_n = _recent(vs, t.recent_fraction)
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


def diagnose(log: RunLog, weights_override: dict[str, float] | None = None,
             thresholds: Thresholds = THRESHOLDS) -> Diagnosis:
    """Return the Diagnosis of `log`: components, decomposition, per-component stats and findings."""
    t = thresholds
    comps = discover_components(log, weights_override)
    dec = decompose(log, comps)
    st = _component_stats(dec, t) if dec.steps.size else {}
    eval_best, read, stuck = _eval_state(log, comps, t)
    findings = [
        *_non_finite(log, comps),
        *_metric_zero(comps, read, stuck, t),
        *_no_positives(log, comps, t),
        *_lr_collapsed(log, comps, eval_best, t),
        *_dominant(comps, st, dec, t),
        *_stationary(st, eval_best, t),
        *_high_volatility(st, t),
        *_loss_spikes(dec, st, t),
        *_total_mismatch(comps, dec, t),
        *_divergence(log, comps, dec, t),
        *_restarts(log),
    ]
    findings.sort(key=lambda f: SEVERITIES.index(f.severity))
    n_steps = log.n_steps
    return Diagnosis(comps, dec, st, tuple(findings), n_steps, len(log.segments),
                     tuple(log.warnings) + comps.notes)
