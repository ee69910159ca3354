"""Rules about the learning-rate schedule: collapsed to nothing
(dated where it happened), or out of the usual range.

The schedule is judged after its peak: a warmup starts near 0 by design. A collapse is dated at the
point from which the lr stays under the floor; a cliff (a fall of more than 10× within 2% of the run, as
a step schedule or a clamp makes) is named with its step, since that is where a user looks in the config.
"""

from __future__ import annotations

import numpy as np

from inspector.conventions import convention
from inspector.findings import Finding, format_number, format_percent
from inspector.rules.context import RuleContext


def _schedule(ctx: RuleContext) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, lr) of the run's lr series, finite points only; None when there is none (or one point)."""
    if ctx.comps.lr is None:
        return None
    s = ctx.log.series[ctx.comps.lr]
    ok = np.isfinite(s.values)
    return (s.steps[ok], s.values[ok]) if int(ok.sum()) >= 2 else None


def cliff(steps: np.ndarray, lr: np.ndarray, factor: float, span: float) -> tuple[int, float, float] | None:
    """The largest fall of more than `factor`× within `span` steps:
    (step where it lands, lr before, lr after)."""
    ends = np.searchsorted(steps, steps + span, side="right") - 1
    ratio = np.divide(lr, lr[ends], out=np.zeros_like(lr), where=lr[ends] > 0)
    i = int(np.argmax(ratio))
    if ratio[i] < factor:
        return None
    j = int(ends[i])
    # Within [i, j], the single logged step with the largest fall is where the cliff is.
    seg = lr[i : j + 1]
    falls = np.divide(seg[:-1], seg[1:], out=np.ones(seg.size - 1), where=seg[1:] > 0)
    k = i + 1 + int(np.argmax(falls)) if falls.size else j
    return int(steps[k]), float(lr[i]), float(lr[j])


def lr_collapsed(ctx: RuleContext) -> list[Finding]:
    """The lr ended (and stays) far below its peak while the
    model is not good: steps barely move the weights."""
    t = ctx.t
    got = _schedule(ctx)
    if got is None:
        return []
    steps, lr = got
    p = int(np.argmax(lr))
    peak, final = float(lr[p]), float(lr[-1])
    collapsed = final < t.lr_collapse_ratio * peak or (final < t.lr_collapse_abs and final < 0.1 * peak)
    best = ctx.evals.best_recent
    if not collapsed or (best is not None and best >= t.metric_poor):
        return []
    after_s, after = steps[p:], lr[p:]
    floor = max(t.lr_collapse_ratio * peak, min(t.lr_collapse_abs, 0.1 * peak))
    above = np.flatnonzero(after >= floor)
    since = int(after_s[above[-1] + 1]) if above.size and above[-1] + 1 < after.size else int(after_s[0])
    run = max(1, int(steps[-1] - steps[0]))
    frac = (since - steps[0]) / run
    drop = cliff(after_s, after, t.lr_cliff_factor, t.lr_cliff_span * run)
    how = (
        f"a cliff at step {drop[0]} ({format_percent((drop[0] - steps[0]) / run)} into the run) took it from "
        f"{format_number(drop[1])} to {format_number(drop[2])} within {format_percent(t.lr_cliff_span)} of "
        "the run; "
        if drop
        else ""
    )
    if ctx.evals.stale:
        metric = f"evaluation stopped reporting at step {ctx.evals.stopped_at}"
    elif best is None:
        metric = "no eval metric is logged"
    else:
        metric = f"the best recent eval metric is only {format_number(best)}"
    return [
        Finding(
            "lr_collapsed",
            "info" if best is None and not ctx.evals.stale else "warning",
            "Learning rate collapsed",
            f"{ctx.comps.lr} peaked at {format_number(peak)} (step {int(steps[p])}) and ends at "
            f"{format_number(final)} "
            f"({format_number(final / peak)}× the peak); {how}it has been below {format_number(floor)} since "
            f"step {since} ({format_percent(frac)} into the run) while {metric}.",
            "Steps at this lr barely move the weights: shorten the decay (a higher final lr / lrf, later "
            "milestones) or train longer at a useful lr before judging the losses.",
            None,
            "lr",
        )
    ]


def _usual_range(ctx: RuleContext) -> tuple[tuple[float, float], str] | None:
    """The usual peak-lr range of the run's framework (and optimiser, when its config names one)."""
    conv = convention(ctx.log.framework)
    if conv.usual_lr is None:
        return None
    optimizer = str(
        ((ctx.log.config.get("optim_wrapper") or {}).get("optimizer") or {}).get("type", "")
        or (ctx.log.config.get("args") or {}).get("optimizer", "")
    ).lower()
    # An Adam-family optimiser runs at 10-100× lower lr than
    # SGD (mmdet: DETR AdamW 1e-4 vs Faster R-CNN SGD 0.02).
    if optimizer.startswith("adam") and ctx.log.framework in ("mmdet", "ultralytics", "yolov5", "yolov7"):
        return (1e-5, 4e-3), f"{conv.lr_source}; {optimizer} usually runs at 1e-5 to 4e-3"
    return conv.usual_lr, conv.lr_source


def lr_out_of_range(ctx: RuleContext) -> list[Finding]:
    """The peak lr is several times above (or below) what the framework's shipped configs use."""
    got, usual = _schedule(ctx), _usual_range(ctx)
    if got is None or usual is None:
        return []
    (lo, hi), source = usual
    f = ctx.t.lr_range_factor
    peak = float(got[1].max())
    if lo / f <= peak <= hi * f:
        return []
    high = peak > hi * f
    losses = {c.metric for c in ctx.comps.components} | ({ctx.comps.total} if ctx.comps.total else set())
    diverged = [m for m in losses if ctx.log.non_finite.get(m)]
    then = f"; the loss then became non-finite ({', '.join(sorted(diverged))})" if diverged and high else ""
    return [
        Finding(
            "lr_out_of_range",
            "warning",
            f"Peak learning rate is {'far above' if high else 'far below'} the usual range",
            f"{ctx.comps.lr} peaks at {format_number(peak)}, {format_number(peak / (hi if high else lo))}× "
            f"{'the top' if high else 'the bottom'} of the usual {format_number(lo)}–{format_number(hi)} for "
            f"{ctx.log.framework} ({source}){then}.",
            (
                "Start from the framework's reference lr scaled to your batch size (linear scaling: lr ∝ "
                "images per "
                "batch)" + (", with warmup" if high else "") + ", then tune by factors of 2-3."
            ),
            None,
            "lr",
        )
    ]
