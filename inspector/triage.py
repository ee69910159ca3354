"""A ranked root-cause triage over a run's findings:
what most likely went wrong, what to check first, what not to do yet.

A senior engineer reads findings in the field's order of suspicion (`findings.STAGES`): data, targets and
assignment before optimisation, optimisation before loss weights. A model that cannot see its boxes
learns nothing whatever the lr; an lr clamped to nothing makes every term look stuck; only when both are
sound does a weight change mean anything. That order is data here: CAUSES lists each root cause with the
findings that raise it (`triggers`) and the ones it accounts for (`explains`); causes are taken stage by
stage, and a finding is explained by the first cause that claims it. Each cause's evidence is built from
the numbers its findings and the run hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inspector import stats
from inspector.findings import STAGES, Cause, Finding, Look, Stage, format_number, format_percent
from inspector.rules.context import RuleContext


@dataclass(frozen=True)
class CauseRule:
    """One root cause: the findings that raise it, the ones it also explains, and how to check it."""

    id: str
    stage: Stage
    title: str
    triggers: tuple[str, ...]
    explains: tuple[str, ...]
    check: str
    look_at: Look
    evidence: Callable[[RuleContext, list[Finding]], str]


def _first(found: list[Finding], fid: str) -> Finding | None:
    return next((f for f in found if f.id == fid), None)


def _lr_at(ctx: RuleContext, step: int | None) -> tuple[float, float] | None:
    """(lr at `step`, that lr as a fraction of the peak) from the run's lr series."""
    if step is None or ctx.comps.lr is None:
        return None
    s = ctx.log.series[ctx.comps.lr]
    ok = np.isfinite(s.values)
    if not ok.any():
        return None
    i = int(np.clip(np.searchsorted(s.steps[ok], step, side="right") - 1, 0, int(ok.sum()) - 1))
    lr, peak = float(s.values[ok][i]), float(s.values[ok].max())
    return lr, lr / peak if peak > 0 else float("nan")


def _flat_from_start(ctx: RuleContext, name: str) -> str | None:
    """'raw bbox has not moved since step 0 (…)' when a term shows no trend over the whole run."""
    raw = ctx.dec.raw.get(name)
    if raw is None:
        return None
    tr = stats.trend(ctx.dec.steps, raw, alpha=ctx.t.trend_alpha)
    if (
        not np.isfinite(tr.p_value)
        or tr.p_value <= ctx.t.trend_alpha
        or abs(tr.rel_change) >= ctx.t.stationary_rel_change
    ):
        return None
    return (
        f"raw {name} has not moved since step {tr.first_step} (Theil-Sen change {tr.rel_change:+.1%} of its "
        f"level over the whole run, Mann-Kendall p = {format_number(tr.p_value)})"
    )


def _targets_evidence(ctx: RuleContext, found: list[Finding]) -> str:
    parts = []
    anchors = _first(found, "no_positive_anchors")
    if anchors:
        parts.append(anchors.evidence.rstrip("."))
    zero = _first(found, "metric_stuck_at_zero")
    if zero:
        first = ctx.evals.first_step
        lr = _lr_at(ctx, first)
        at_lr = (
            f", while the lr was {format_number(lr[0])} ({format_percent(lr[1])} of its peak)"
            if lr is not None and ctx.evals.zero_from_first
            else ""
        )
        since = (
            f"since the first evaluation (step {first})"
            if ctx.evals.zero_from_first
            else "over the last evaluations"
        )
        parts.append(f"the eval metrics ({', '.join(ctx.evals.read)}) have been ~0 {since}{at_lr}")
    for f in found:
        if f.id == "stationary_component" and f.component:
            flat = _flat_from_start(ctx, f.component)
            if flat:
                parts.append(flat)
    return (
        "; ".join(parts)
        + ". A model that gets no usable targets learns nothing, whatever the lr and the weights."
    )


def _from_findings(ids: tuple[str, ...]) -> Callable[[RuleContext, list[Finding]], str]:
    """Evidence that quotes the named findings' own evidence."""

    def build(ctx: RuleContext, found: list[Finding]) -> str:
        return " ".join(f"{f.title}: {f.evidence}" for f in found if f.id in ids)

    return build


def _balance_evidence(ctx: RuleContext, found: list[Finding]) -> str:
    return (
        " ".join(f.evidence for f in found if f.id == "dominant_component")
        + " "
        + " ".join(f.next_step for f in found if f.id == "dominant_component")
    )


CAUSES: tuple[CauseRule, ...] = (
    CauseRule(
        "targets_or_assignment",
        "data",
        "Targets, box format or anchor assignment",
        ("no_positive_anchors", "metric_stuck_at_zero"),
        ("stationary_component", "loss_spikes", "high_volatility"),
        "Run one episode through the checkpoint and look at the boxes, the positives per target, the "
        "assigned anchors' IoU and the format doctor (prediction and target box formats).",
        "episodes",
        _targets_evidence,
    ),
    CauseRule(
        "evaluation_stopped",
        "evaluation",
        "Evaluation stopped measuring the model",
        ("eval_stopped",),
        (),
        "Read what the evaluation printed after its last metric: a crash, NaN predictions, an empty set.",
        "eval",
        _from_findings(("eval_stopped",)),
    ),
    CauseRule(
        "lr_schedule",
        "optimisation",
        "Learning-rate schedule",
        ("lr_collapsed", "lr_out_of_range"),
        ("stationary_component", "non_finite_values"),
        "Look at the lr curve beside the losses and at the schedule in the config (peak, warmup, "
        "milestones or final lr).",
        "lr",
        _from_findings(("lr_collapsed", "lr_out_of_range")),
    ),
    CauseRule(
        "unstable_optimisation",
        "optimisation",
        "Unstable optimisation",
        ("non_finite_values", "loss_spikes", "high_volatility"),
        (),
        "Open the episodes at the first NaN and at the largest spikes; clip gradients or lower the lr.",
        "loss_curves",
        _from_findings(("non_finite_values", "loss_spikes", "high_volatility")),
    ),
    CauseRule(
        "overfitting",
        "generalisation",
        "Overfitting: the model fits the training episodes only",
        ("train_val_divergence", "eval_regression"),
        (),
        "Compare the best checkpoint with the last on the same episodes.",
        "compare",
        _from_findings(("train_val_divergence", "eval_regression")),
    ),
    CauseRule(
        "log_reading",
        "logging",
        "The loss terms may not be read right",
        ("total_mismatch",),
        (),
        "Check each term's weight and raw/weighted reading against the training config, and correct them.",
        "components",
        _from_findings(("total_mismatch",)),
    ),
    CauseRule(
        "loss_balance",
        "weights",
        "Loss balance: one weighted term dominates",
        ("dominant_component",),
        ("stationary_component",),
        "Try the suggested weight on the run's own log and see the other terms' shares recover.",
        "whatif",
        _balance_evidence,
    ),
)


def _stage(rule: CauseRule) -> int:
    return STAGES.index(rule.stage)


def triage(ctx: RuleContext, findings: list[Finding]) -> tuple[tuple[Cause, ...], tuple[str, ...]]:
    """(root causes, most likely first, each with the findings it explains; what not to do yet)."""
    claimed: set[int] = set()
    causes: list[Cause] = []
    for rule in sorted(CAUSES, key=_stage):
        raised = [i for i, f in enumerate(findings) if f.id in rule.triggers and i not in claimed]
        if not raised:
            continue
        # An "unstable optimisation" raised by an eval-metric NaN or an info alone is no root cause.
        if all(findings[i].severity == "info" for i in raised):
            continue
        also = [
            i
            for i, f in enumerate(findings)
            if f.id in rule.explains and i not in claimed and i not in raised
        ]
        mine = sorted(raised + also)
        claimed.update(mine)
        own = [findings[i] for i in mine]
        causes.append(
            Cause(
                rule.id,
                rule.stage,
                rule.title,
                tuple(dict.fromkeys(f.id for f in own)),
                rule.evidence(ctx, own).strip(),
                rule.check,
                rule.look_at,
            )
        )
    return tuple(causes), tuple(_not_yet(ctx, causes, findings))


def _not_yet(ctx: RuleContext, causes: list[Cause], findings: list[Finding]) -> list[str]:
    """What a user should not do yet, given the earlier causes
    (no weight advice for a term with no signal)."""
    ids = [c.id for c in causes]
    if "loss_balance" not in ids:
        return []
    out = []
    dominant = [f.component for f in findings if f.id == "dominant_component" and f.component]
    if "targets_or_assignment" in ids:
        for name in dominant:
            flat = _flat_from_start(ctx, name) if name in ctx.dec.raw else None
            why = flat or "the eval metrics are ~0, so no term carries a signal to rebalance"
            out.append(
                f"Do not change {name}'s weight yet: {why}. Fix the targets first; a weight changes how much "
                "of a signal counts, not whether there is one."
            )
    if "lr_schedule" in ids:
        out.append(
            "Judge the loss weights only after the lr schedule is sound: at a collapsed lr no weight "
            "moves the model."
        )
    return out
