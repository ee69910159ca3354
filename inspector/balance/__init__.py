"""The loss-balance lab: what each weighted loss term does to the shared parameters, and weights to try.

A detector trained on Σ_i w_i·L_i moves its shared parameters θ (the reference detector's `backbone`:
backbone and neck) along Σ_i g_i, with g_i = ∇_θ(w_i·L_i) the gradient of the WEIGHTED term. By default g_i is
taken on the last shared layer (`shared="last"`: the neck's output convs, whose maps every head reads), as
GradNorm does (Chen et al. 2018: W "the last shared layer of weights … to save on compute costs"): on the
reference detector it costs 0.095 s per episode against 0.21 s for every shared parameter (`shared="all"`),
and on the demo's runs it put each term's share within 5 points of the full measurement. Per episode every
g_i comes from `Detector.term_gradients` (batch norm in training mode, as a training step sees it) and is
reduced at once to the K×K Gram matrix G_ij = g_i·g_j, so memory stays K² per episode whatever the model's
size:

    norm    ‖g_i‖ = √G_ii                how hard term i pushes the shared features
    share   ‖g_i‖ / Σ_j ‖g_j‖            a share of the summed NORMS, not of the norm of the sum ‖Σ_j g_j‖
                                         (terms that cancel still each count in full): shares add up to 1
    cosine  G_ij / (‖g_i‖·‖g_j‖)         < 0: on that episode terms i and j pull the features apart

Norms and shares are per episode, then a mean and a spread (sample standard deviation) over episodes with a
95% percentile-bootstrap CI of the mean over episodes (the unit the sampler draws); a pair's cosine is its
mean over the episodes where both gradients are non-zero, and its conflict rate the fraction of those with a
negative cosine.

Suggested weights (`SuggestedWeights`), one per method, are rescaled so that they add up to the current
weights' sum: the loss scale the optimiser and its learning rate see stays the same, only the mix changes. A
term switched off (weight 0) stays off, and a term a method cannot weigh keeps its current weight (a note says
which and why); the other terms share the rest of the sum.

    equal_grad_share  GradNorm's target (Chen et al., "GradNorm", ICML 2018) with α = 0, reached directly from
                      the measured norms instead of learned: ‖∇(w·L)‖ = w·‖∇L‖, so w_i' ∝ w_i / ‖g_i‖
                      makes the terms' mean gradient norms exactly equal.
    uncertainty       Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses", CVPR
                      2018: at the optimum of Σ_i L_i/(2σ_i²) + log σ_i, σ_i² = L_i, so w_i ∝ 1/L_i, with L_i
                      the term's recent RAW level: the mean over the last quarter of the run's steps when a
                      log is given, else the episodes' mean raw value (the suggestion says which).
    dwa               Dynamic Weight Averaging (Liu, Johns & Davison, "End-to-End Multi-Task Learning with
                      Attention", CVPR 2019): w_k = K·exp(r_k/T) / Σ_i exp(r_i/T), T = 2, r_k = L_k(t−1) /
                      L_k(t−2). Here L_k(t−1) and L_k(t−2) are the raw term's means over the last two windows
                      of the log, each a tenth of its steps (the paper's t−1 and t−2 are epochs; two equal
                      windows at the end of the run are the log's nearest equivalent). None without a log.

`predicted_shares` gives the shares any other weights would give, ‖g_i'‖ = ‖g_i‖·w_i'/w_i (the gradient of
w·L is linear in w), so a what-if needs no new measurement.

One module per job: geometry (Gram matrices, norms, shares, cosines, bootstrap estimates), records, measuring
(a detector over episodes; the terms' weights), levels (a log's raw levels), suggest (the three methods),
report (a checkpoint's report and verdict) and checkpoint (one checkpoint end to end).
"""

from inspector.balance.checkpoint import checkpoint_meta, checkpoint_report, measure_checkpoint, sibling_log
from inspector.balance.geometry import (
    Estimate,
    PairConflict,
    bootstrap_ci,
    cosines_of,
    estimate,
    gram,
    norms_of,
    pair_conflicts,
    predicted_shares,
    shares_of,
)
from inspector.balance.levels import decomposition_levels, log_levels, match_component
from inspector.balance.measuring import measure, stated_weights, term_weights
from inspector.balance.records import (
    METHODS,
    BalanceReport,
    LogLevels,
    Measurements,
    Method,
    SuggestedWeights,
    TermBalance,
)
from inspector.balance.report import SHARED_WORDS, balance_report, verdict
from inspector.balance.suggest import dwa, equal_grad_share, log_suggestions, uncertainty

__all__ = [
    "METHODS",
    "SHARED_WORDS",
    "BalanceReport",
    "Estimate",
    "LogLevels",
    "Measurements",
    "Method",
    "PairConflict",
    "SuggestedWeights",
    "TermBalance",
    "balance_report",
    "bootstrap_ci",
    "checkpoint_meta",
    "checkpoint_report",
    "cosines_of",
    "decomposition_levels",
    "dwa",
    "equal_grad_share",
    "estimate",
    "gram",
    "log_levels",
    "log_suggestions",
    "match_component",
    "measure",
    "measure_checkpoint",
    "norms_of",
    "pair_conflicts",
    "predicted_shares",
    "shares_of",
    "sibling_log",
    "stated_weights",
    "term_weights",
    "uncertainty",
    "verdict",
]
