"""What a finding and a root cause are, the thresholds every rule reads, and the per-component statistics.

The records shared by `inspector.rules` (which produce findings), `inspector.triage` (which ranks root
causes over them) and `inspector.diagnose` (which runs both): kept apart so that none imports another.
A finding says *what to look at* (`Look`), never which page or command shows it: the CLI report and the
app each map a Look to their own words (`inspector.report.CLI_LOOK`, `inspector.ui.findings.LOOK_PAGES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from inspector import stats

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
# What to look at next: the episodes (targets, positives, box format), the loss curves, the what-if
# weights, the lr schedule, the eval metrics, checkpoints compared, how the loss terms were read, the run.
Look = Literal["episodes", "loss_curves", "whatif", "lr", "eval", "compare", "components", "overview"]
LOOKS: tuple[str, ...] = get_args(Look)
# Where a root cause sits in the field's order of suspicion: the data and targets first (a model that
# cannot see its boxes learns nothing whatever the lr), then whether evaluation measures anything, then
# optimisation, then generalisation, then how the log was read, and only then the loss weights.
Stage = Literal["data", "evaluation", "optimisation", "generalisation", "logging", "weights"]
STAGES: tuple[str, ...] = get_args(Stage)


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
    # Step-to-step noise (robust: 1.4826 × MAD of the differences) as large as half the level hides any
    # trend smaller than the noise for hundreds of steps; per-iteration detector losses in our sample logs
    # sit at 0.05–0.3.
    high_volatility_rel_diff: float = 0.5
    # ...unless the term carries under 5% of the objective's mean: its noise then moves the total by a few
    # percent at most (Detectron2's and Mask R-CNN's rpn terms sit at 0.2-1% in tests/samples).
    high_volatility_min_share: float = 0.05
    # ...judged on at least 20 recent points: the MAD of n differences has a relative standard error of
    # ~1.17/√n (26% at 20, 44% at 7), too coarse below that to call a level-relative noise of 50% (a
    # 15-point Detectron2 fine-tune log read "52%" on its last 7 points of a steep descent).
    high_volatility_min_points: int = 20
    # PyTorch schedulers end near 1e-2 (Ultralytics lrf) to 1e-3 of the peak at most; below that, or
    # below 1e-5 absolute (fp32 updates at 1e-6 move weights by ~1e-7 relative), learning has stopped.
    lr_collapse_ratio: float = 1e-3
    lr_collapse_abs: float = 1e-5
    # A cliff: the lr falls more than 10× within 2% of the run (a step schedule's drop, or a clamp).
    lr_cliff_factor: float = 10.0
    lr_cliff_span: float = 0.02
    # A peak lr this many times above the optimiser's usual range (conventions.py) is out of range; below
    # the range's floor by this factor too (DETR at 1e-7 barely trains).
    lr_range_factor: float = 3.0
    # mAP50 (fraction) under 0.1 after training: the detector still fails on most objects.
    metric_poor: float = 0.10
    # An eval metric this small (fraction scale) is zero for practical purposes (AP is reported to 3 dp).
    metric_zero: float = 1e-3
    metric_last_evals: int = 3
    # A metric that fell from its best by 10% of it and by 0.02 (AP points on the 0–1 scale: twice the
    # ±0.01 seed-to-seed spread of COCO mAP) has regressed; it needs a best worth keeping (≥ 0.05).
    eval_regression_rel: float = 0.10
    eval_regression_abs: float = 0.02
    eval_regression_min_best: float = 0.05
    # Three evaluations are the fewest that show a rise after a best (best, then two that confirm it);
    # a 12-epoch schedule evaluated every 2 epochs gives 6.
    min_evals: int = 3
    # Evaluation stopped: training went on for more than 3 evaluation intervals after the last metric.
    eval_stopped_intervals: float = 3.0
    # A validation loss 20% above its minimum (twice the ±10% a validation loss wanders by between
    # epochs on a stable run) while the training loss fell: the model is fitting the training set only.
    val_rise: float = 0.20
    train_fall: float = 0.02
    # A residual over 5% of the logged total is more than rounding of logged values (4–5 dp) explains.
    total_mismatch: float = 0.05
    # k = 6 robust σ: a Gaussian point passes it with p ≈ 2e-9, so a healthy 1M-step log shows none.
    spike_k: float = 6.0
    spike_window: int | None = None  # steps; None = the stats default (scaled with the series' length)
    spike_min_rise: float = stats.SPIKE_MIN_RISE  # and ≥ 10% above the local baseline (see stats.spike_scan)
    # Fewer than half a positive per logged step is "none". One unbroken stretch of ≥ 5 points and ≥ 5% of
    # the log, or zero on ≥ 20% of all logged steps however scattered (a fifth of the batches teaching the
    # box and class heads nothing is more than an occasional empty episode).
    positives_zero: float = 0.5
    positives_min_points: int = 5
    positives_min_fraction: float = 0.05
    positives_scattered_fraction: float = 0.20


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Finding:
    """One thing that looks wrong (or worth knowing), the numbers behind it and what to try next."""

    id: str
    severity: Severity
    title: str
    evidence: str
    next_step: str
    component: str | None = None
    look_at: Look = "overview"  # what shows it: the CLI and the app each name their own way there


@dataclass(frozen=True)
class Cause:
    """A root cause that explains some findings:
    where it sits in the order of suspicion and how to check it."""

    id: str
    stage: Stage
    title: str
    explains: tuple[str, ...]  # finding ids, in the order the findings were reported
    evidence: str
    check: str  # what to check, in words that fit both the CLI and the app
    look_at: Look


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
    changes: tuple[stats.RegimeChange, ...] = ()  # lasting level changes (steps are the log's own)


def format_number(x: float | None) -> str:
    """Return `x` with 3 significant digits (plain for ordinary magnitudes)."""
    if x is None or not np.isfinite(x):
        return "n/a"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2e}"
    return f"{x:.3g}"


def format_percent(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.0f}%"


def recent_span(steps: np.ndarray, fraction: float) -> int:
    """Return the number of steps in the last `fraction` of the step range (at least 1)."""
    if steps.size == 0:
        return 1
    return max(1, int(np.ceil((int(steps[-1]) - int(steps[0]) + 1) * fraction)))


def recent_rows(steps: np.ndarray, fraction: float = THRESHOLDS.recent_fraction) -> np.ndarray:
    """Bool mask of the steps in the last `fraction` of the step range:
    the part trends and noise are judged on."""
    if steps.size == 0:
        return np.zeros(0, dtype=bool)
    return steps > steps[-1] - recent_span(steps, fraction)
