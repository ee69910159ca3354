"""Rules about the run's data and log as such: no positives, non-finite losses, a total that does not add up,
restarts."""

from __future__ import annotations

import numpy as np

from inspector.findings import Finding, format_number, format_percent
from inspector.rules.context import RuleContext

# A term is "0 there" when it is under 1% of its median on the other steps (float noise, print rounding).
_ZERO_SHARE = 0.01


def zero_positive_steps(ctx: RuleContext) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, mask) of the positives series where fewer than `positives_zero` anchors were positive."""
    if ctx.comps.positives is None:
        return None
    s = ctx.log.series[ctx.comps.positives]
    ok = np.isfinite(s.values)
    return s.steps[ok], s.values[ok] < ctx.t.positives_zero


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    """(start index, length) of the longest run of True in `mask`."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if starts.size == 0:
        return 0, 0
    k = int(np.argmax(ends - starts))
    return int(starts[k]), int(ends[k] - starts[k])


def _zeroed_terms(ctx: RuleContext) -> list[str]:
    """Components that are ~0 on the steps without positives (they got no targets there), with the share."""
    if ctx.zero_positive is None or not ctx.zero_positive.any():
        return []
    out = []
    for c in ctx.dec.components:
        w = ctx.dec.weighted[c.name]
        on, off = w[ctx.zero_positive], w[~ctx.zero_positive]
        on, off = on[np.isfinite(on)], off[np.isfinite(off)]
        if on.size == 0 or off.size == 0:
            continue
        level = float(np.median(np.abs(off)))
        zero = float(np.mean(np.abs(on) <= _ZERO_SHARE * level)) if level > 0 else 0.0
        if zero >= 0.5:
            out.append(f"{c.name} is ~0 on {format_percent(zero)} of them")
    return out


def no_positives(ctx: RuleContext) -> list[Finding]:
    """No positive anchors on a long stretch, or on ≥ 20% of all logged steps however scattered."""
    t = ctx.t
    got = zero_positive_steps(ctx)
    if got is None:
        return []
    steps, zero = got
    if not zero.any():
        return []
    start, length = _longest_run(zero)
    fraction = float(zero.mean())
    stretch = length >= max(t.positives_min_points, t.positives_min_fraction * zero.size)
    if not (stretch or fraction >= t.positives_scattered_fraction):
        return []
    zeroed = _zeroed_terms(ctx)
    effect = (
        (
            f"; {', '.join(zeroed)}, which is why their curves jump: "
            "their dominance, noise and spikes are judged on the other steps"
        )
        if zeroed
        else ""
    )
    return [
        Finding(
            "no_positive_anchors",
            "critical",
            "No positive anchors",
            f"{ctx.comps.positives} was below {format_number(t.positives_zero)} "
            f"on {int(zero.sum())} of {zero.size} "
            f"logged steps ({format_percent(fraction)}); the longest stretch is {length} step(s) "
            f"({int(steps[start])}–{int(steps[start + length - 1])}){effect}.",
            "With no positives the box and class losses get no signal: "
            "check the assigner (top-k, IoU threshold), "
            "box coordinates against the image size, and the strides.",
            None,
            "episodes",
        )
    ]


def non_finite(ctx: RuleContext) -> list[Finding]:
    """NaN/inf in a loss (critical: it poisons the weights) or in another non-eval series."""
    log, comps = ctx.log, ctx.comps
    evals = set(
        comps.eval_metrics
    )  # their NaNs are undefined points or stopped evaluations (rules.evaluation)
    counted = {m: n for m, n in log.non_finite.items() if m not in evals}
    if not counted:
        return []
    losses = (
        {c.metric for c in comps.components}
        | {c.twin for c in comps.components if c.twin}
        | ({comps.total} if comps.total else set())
    )
    parts = []
    for m, n in sorted(counted.items()):
        s = log.series.get(m)
        first = ""
        if s is not None:
            bad = np.flatnonzero(~np.isfinite(s.values))
            if bad.size:
                first = f" (first at step {int(s.steps[bad[0]])})"
        parts.append(f"{m}: {n}{first}")
    in_loss = bool(losses & set(counted))
    return [
        Finding(
            "non_finite_values",
            "critical" if in_loss else "warning",
            "Non-finite values in the log",
            f"NaN/inf values: {', '.join(parts)}.",
            "A NaN loss poisons the weights from that step on: lower the lr or enable gradient clipping, and "
            "look for empty targets or zero-area boxes in the episode of the first NaN."
            if in_loss
            else "Check where these series come from: "
            "a NaN in a logged statistic often means a division by an empty count.",
            None,
            "loss_curves",
        )
    ]


def total_mismatch(ctx: RuleContext) -> list[Finding]:
    """The components do not add up to the logged total with the weights and semantics read."""
    dec, t = ctx.dec, ctx.t
    ok = np.isfinite(dec.residual) & np.isfinite(dec.logged_total)
    if not ok.any():
        return []
    rel = float(np.median(np.abs(dec.residual[ok])) / max(np.median(np.abs(dec.logged_total[ok])), 1e-12))
    if rel <= t.total_mismatch:
        return []
    assumed = ", ".join(
        f"{c.name} {format_number(c.effective_weight)} ({c.weight_source}, logged {c.logged})"
        for c in dec.components
    )
    return [
        Finding(
            "total_mismatch",
            "warning",
            "Components do not add up to the logged total",
            f"the median |{dec.total_metric} − Σ weighted components| is {format_percent(rel)} of the total; "
            f"weights assumed: {assumed}.",
            "Either the weights or the raw/weighted reading are not what was inferred (correct them), or the "
            "total holds terms that were not logged separately (regularisers, auxiliary heads).",
            None,
            "components",
        )
    ]


def restarts(ctx: RuleContext) -> list[Finding]:
    """The log holds several launches (the step went back, or the log marks a new launch)."""
    log = ctx.log
    if len(log.segments) <= 1:
        return []
    spans = "; ".join(f"segment {s.index}: steps {s.first_step}–{s.last_step}" for s in log.segments)
    return [
        Finding(
            "restarts",
            "info",
            f"The log holds {len(log.segments) - 1} restart(s)",
            f"{len(log.segments)} launches ({spans}); where they overlap, the later one is read.",
            "If the run was resumed from a checkpoint this is expected; "
            "otherwise two runs share one log file.",
            None,
            "overview",
        )
    ]
