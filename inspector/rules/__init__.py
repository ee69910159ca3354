"""The rules: each looks at one symptom of a run and returns its findings, with the numbers behind them.

Every rule is a pure function `rule(ctx: RuleContext) -> list[Finding]` (empty when the symptom is
absent); RULES is the one registry, in the order findings of one severity are reported.
"""

from __future__ import annotations

from collections.abc import Callable

from inspector.findings import Finding
from inspector.registry import Registry
from inspector.rules import evaluation, health, schedule, terms
from inspector.rules.context import RuleContext

Rule = Callable[[RuleContext], list[Finding]]

RULES: Registry[Rule] = Registry("rule")
for _rule in (
    health.non_finite,
    evaluation.metric_zero,
    evaluation.metric_near_zero,
    health.no_positives,
    evaluation.eval_stopped,
    schedule.lr_collapsed,
    schedule.lr_out_of_range,
    terms.dominant,
    terms.stationary,
    terms.high_volatility,
    terms.loss_spikes,
    terms.regime_change,
    evaluation.eval_regression,
    evaluation.train_val_divergence,
    health.total_mismatch,
    evaluation.undefined_metric,
    health.restarts,
):
    RULES.add(_rule.__name__, _rule)


def run_rules(ctx: RuleContext) -> list[Finding]:
    """Every rule's findings over one run, in RULES order."""
    return [f for _, rule in RULES for f in rule(ctx)]


__all__ = ["RULES", "Rule", "RuleContext", "run_rules"]
