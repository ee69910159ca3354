"""Labelled synthetic training runs: each pathology injected from what it is, and healthy look-alikes.

Every recipe is a pure function of a seed that returns a `LabelledRun`: a `RunLog` built through
`inspector.runlog.record.assemble` with the series names, logging periods, averaging, print precision and
lr schedules of the trainer it imitates, labelled with the finding ids the diagnosis must report
(`must_fire`), the ids it must not report (`must_not_fire`), and whether the run is healthy (then no
finding may be a warning or critical). `RECIPES` lists them all (name, builder, heavy); `labelled_runs()`
builds the set. The shapes come from the trainers' own code and the failures measured on our users' runs;
each recipe's docstring says which.

What each trainer writes, as imitated here:
- native (inspector's RunWriter, inspector/train): one row per optimizer step, raw losses, the gains in
  the header, `loss/total` = Σ gain × raw, `lr`, `positives`, evals as `eval/<metric>`.
- Detectron2 (detectron2/engine/hooks.py, utils/events.py): JSONWriter every 20 iterations; smoothed
  scalars (losses, `rpn/num_pos_anchors`) are the median of the last 20 iterations, `total_loss` the median
  of the per-iteration sums, `lr` the latest value; COCOEvaluator writes `bbox/AP…` on a 0–100 scale and
  NaN for an area range without objects (and for every metric when the model predicts nothing).
- MMDetection 2.x (mmcv TextLoggerHook): a row every 50 iterations holding the mean of those
  iterations, rounded to 5 dp; `loss` = Σ terms; `bbox_mAP…` on a 0–1 scale, −1.0 for an area range
  without objects.
- MMEngine / MMDetection 3.x (scalars.json): the same averaging, `coco/bbox_mAP…` names.
- Ultralytics results.csv: one row per epoch, epoch means of the loss terms already × their gains
  (box 7.5, cls 0.5, dfl 1.5), written with 5 significant digits; `lr/pg0..2`; the last 10 epochs train
  without mosaic (close_mosaic = 10), which lowers the training losses.
- YOLOX (yolox/core/trainer.py): a line every 10 iterations with the latest iteration's losses printed
  `{:.1f}`; `iou_loss` is 5 × the IoU loss; `l1_loss` is 0 until the last `no_aug_epochs` (15).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from inspector.runlog.record import RunLog, Sparse, assemble

# The stable ids of every finding and root cause (the brief's vocabulary; scripts rely on them).
FINDING_IDS = (
    "dominant_component",
    "stationary_component",
    "high_volatility",
    "lr_collapsed",
    "metric_stuck_at_zero",
    "metric_near_zero",
    "non_finite_values",
    "total_mismatch",
    "loss_spikes",
    "restarts",
    "no_positive_anchors",
    "train_val_divergence",
    "eval_regression",
    "eval_stopped",
    "lr_out_of_range",
    "regime_change",
    "undefined_metric",
)
CAUSE_IDS = (
    "targets_or_assignment",
    "evaluation_stopped",
    "lr_schedule",
    "unstable_optimisation",
    "overfitting",
    "log_reading",
    "loss_balance",
)

# Logging periods and precisions of the trainers imitated (their defaults).
D2_PERIOD = 20  # detectron2 default_writers(period=20); smoothed scalars: median over window 20
MMDET_INTERVAL = 50  # mmdet/mmengine LoggerHook interval=50; a row is the mean of those iterations
MMDET_DECIMALS = 5  # mmcv TextLoggerHook._round_float: round(x, 5) in the .log.json
YOLOX_PERIOD = 10  # YOLOX exp.print_interval = 10
YOLOX_DECIMALS = 1  # Trainer.after_iter: "{}: {:.1f}".format(k, v.latest) for the loss meters
ULTRA_DIGITS = 5  # results.csv values: "%23.5g" (YOLOv8's padded files; newer ones "%.6g")
ULTRA_GAINS = {"box": 7.5, "cls": 0.5, "dfl": 1.5}  # ultralytics/cfg/default.yaml
ULTRA_CLOSE_MOSAIC = 10  # ultralytics/cfg/default.yaml close_mosaic: the last 10 epochs without mosaic
# Our reference trainer's gains (inspector/train): the healthy set, and our users' troubled set.
NATIVE_WEIGHTS = {"bbox": 1.0, "cls": 1.0, "supcon": 0.5, "cpe": 0.5}
SEED_WEIGHTS = {"bbox": 7.5, "cls": 0.5, "supcon": 1.0, "cpe": 0.5}
# Detectron2's Base-RCNN-FPN.yaml: BASE_LR 0.02 (batch 16), WarmupMultiStepLR warm-up factor 0.001 over
# 1000 iterations; mmdet's faster_rcnn_r50_fpn_1x: SGD lr 0.02, linear warm-up 500 iterations, ratio 0.001.
FRCNN_LR = 0.02
FRCNN_SGD = {"type": "SGD", "lr": FRCNN_LR, "momentum": 0.9, "weight_decay": 0.0001}
D2_WARMUP_ITERS, D2_WARMUP_FACTOR = 1000, 0.001
MMDET_WARMUP_ITERS, MMDET_WARMUP_RATIO = 500, 0.001
# Our users' few-shot run: 0 positives on 39% of its steps, scattered.
ZERO_POSITIVES_FRACTION = 0.39
# The overfitting runs (12-epoch schedule): validation loss and mAP at each evaluation, by number of evals.
# The validation loss ends 89% above its best (1.40 / 0.74); mAP falls from 0.30 to 0.21.
OVERFIT_VAL_LOSS = {6: (1.00, 0.82, 0.74, 0.93, 1.18, 1.40), 3: (0.80, 0.74, 1.40)}
OVERFIT_MAP = {6: (0.22, 0.27, 0.30, 0.28, 0.25, 0.21), 3: (0.27, 0.30, 0.21)}
# The lr our users' run ends at (inspector/train's final_lr), reached by a clamp in the cliff runs.
LR_FLOOR = 2e-6
# What one ×0.1 lr decay does to a Faster R-CNN's losses (mmdet 1x logs drop by ~10–15% at epoch 9).
LR_DECAY_ROI_DROP, LR_DECAY_RPN_DROP = 0.88, 0.95


@dataclass(frozen=True)
class LabelledRun:
    """One synthetic run and what its diagnosis must say: ids that must fire, ids that must not, healthy."""

    name: str
    log: RunLog
    must_fire: frozenset[str] = frozenset()
    must_not_fire: frozenset[str] = frozenset()
    healthy: bool = False

    def __post_init__(self) -> None:
        unknown = (self.must_fire | self.must_not_fire) - set(FINDING_IDS)
        if unknown:
            raise ValueError(f"{self.name}: unknown finding ids {sorted(unknown)}")
        if self.must_fire & self.must_not_fire:
            both = sorted(self.must_fire & self.must_not_fire)
            raise ValueError(f"{self.name}: {both} both must and must not fire")


@dataclass(frozen=True)
class Recipe:
    """How to build one labelled run; `heavy` runs (50k rows) are left to the slow tests."""

    name: str
    build: Callable[[], LabelledRun]
    heavy: bool = False


# Runs whose every loss curve is smooth (exponential, linear or cosine-driven, no switch, no lr step): a
# "lasting step change" reported there is false (measured on the first regime rule: the early part of an
# exponential decay read as a step from 1.74 to 1.14).
NO_STEP = frozenset({"regime_change"})


def labelled(name: str, log: RunLog, must_fire=(), must_not_fire=(), healthy: bool = False) -> LabelledRun:
    """A LabelledRun from any iterables of ids."""
    return LabelledRun(name, log, frozenset(must_fire), frozenset(must_not_fire), healthy)


# ---------------------------------------------------------------------------------------------------------
# Shapes: loss curves, noise, print precision, lr schedules (pure functions of arrays).


def decay(t: np.ndarray, start: float, end: float, tau: float) -> np.ndarray:
    """A loss falling exponentially from `start` towards `end` with time constant `tau` (same unit as t)."""
    return end + (start - end) * np.exp(-np.asarray(t, dtype=np.float64) / tau)


def saturating(t: np.ndarray, start: float, end: float, tau: float) -> np.ndarray:
    """A metric rising from `start` towards `end` with time constant `tau`."""
    return end - (end - start) * np.exp(-np.asarray(t, dtype=np.float64) / tau)


def noisy(rng: np.random.Generator, x: np.ndarray, rel: float) -> np.ndarray:
    """`x` times (1 + rel·N(0, 1)) per point, floored at 0 (a loss is never negative)."""
    return np.maximum(x * (1.0 + rel * rng.standard_normal(np.shape(x))), 0.0)


def significant(x: np.ndarray, digits: int) -> np.ndarray:
    """`x` rounded to `digits` significant digits, as "%.{digits}g" prints it."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(x != 0, np.floor(np.log10(np.abs(np.where(x != 0, x, 1.0)))), 0.0)
    scale = 10.0 ** (digits - 1 - mag)
    return np.where(np.isfinite(x), np.round(x * scale) / scale, x)


def window_means(x: np.ndarray, period: int) -> np.ndarray:
    """The mean of each block of `period` iterations (a logger that averages since its last line)."""
    n = x.shape[0] // period * period
    return x[:n].reshape(-1, period).mean(axis=1)


def window_medians(x: np.ndarray, period: int) -> np.ndarray:
    """The median of each block of `period` iterations (Detectron2's smoothed scalars)."""
    n = x.shape[0] // period * period
    return np.median(x[:n].reshape(-1, period), axis=1)


def at_period_ends(x: np.ndarray, period: int) -> np.ndarray:
    """The value at the last iteration of each block of `period` (a logger that prints the latest value)."""
    return x[period - 1 :: period][: x.shape[0] // period]


def linear_warmup(t: np.ndarray, iters: int, start_factor: float) -> np.ndarray:
    """The warm-up factor: from `start_factor` linearly to 1 at iteration `iters`, 1 after."""
    alpha = np.clip(np.asarray(t, dtype=np.float64) / iters, 0.0, 1.0)
    return start_factor * (1 - alpha) + alpha


def cosine(t: np.ndarray, n: int, peak: float, floor: float) -> np.ndarray:
    """Half a cosine from `peak` at t = 0 to `floor` at t = n − 1."""
    progress = np.clip(np.asarray(t, dtype=np.float64) / max(n - 1, 1), 0.0, 1.0)
    return floor + (peak - floor) * 0.5 * (1 + np.cos(np.pi * progress))


def native_lr(n: int, peak: float = 1e-3, warmup: int = 50, final: float = 2e-6) -> np.ndarray:
    """inspector/train/schedule.lr_at over n steps: warm-up from peak/warmup, then cosine to `final`."""
    t = np.arange(n, dtype=np.float64)
    warm = peak * (t + 1) / warmup
    after = cosine(t - warmup, n - warmup, peak, final)
    return np.where(t < warmup, warm, after)


def cliff_lr(n: int, peak: float, at: float, to: float, warmup: int, start: float) -> np.ndarray:
    """Linear warm-up from `start` to `peak`, flat, then a drop to `to` at fraction `at` of the run."""
    t = np.arange(n, dtype=np.float64)
    lr = start + (peak - start) * np.clip(t / warmup, 0.0, 1.0)
    return np.where(t >= int(round(at * n)), to, lr)


def scattered(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray:
    """A bool mask with `fraction` of n points set, chosen uniformly (independent episodes, no stretch)."""
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=int(round(fraction * n)), replace=False)] = True
    return mask


def evals_at(rows: np.ndarray, values) -> Sparse:
    """An eval column logged on `rows` only (absent elsewhere, as an eval metric is)."""
    return Sparse(np.asarray(rows, dtype=np.int64), np.asarray(values, dtype=np.float64))


# ---------------------------------------------------------------------------------------------------------
# One builder per trainer: per-iteration (or per-epoch) values in, a RunLog as that trainer logs it out.


def native_log(
    name: str,
    raw: dict[str, np.ndarray],
    weights: dict[str, float],
    lr: np.ndarray,
    *,
    positives: np.ndarray | None = None,
    evals: dict[str, Sparse] | None = None,
    epochs: np.ndarray | None = None,
    total: np.ndarray | None = None,
    steps: np.ndarray | None = None,
) -> RunLog:
    """A RunWriter log: `loss/<c>` raw, `loss/total` = Σ w·raw (unless given), lr, positives, `eval/<m>`."""
    n = lr.shape[0]
    cols: dict[str, np.ndarray | Sparse] = {f"loss/{k}": v for k, v in raw.items()}
    cols["loss/total"] = sum(weights[k] * v for k, v in raw.items()) if total is None else total
    cols["lr"] = lr
    if positives is not None:
        cols["positives"] = positives
    for metric, col in (evals or {}).items():
        cols[f"eval/{metric}"] = col
    return assemble(
        f"synthetic/{name}/log.jsonl",
        "inspector_jsonl",
        "native",
        np.arange(n, dtype=np.int64) if steps is None else steps,
        cols,
        epochs=epochs,
        config={"loss_weights": dict(weights)},
    )


def d2_log(
    name: str,
    per_iter: dict[str, np.ndarray],
    lr: np.ndarray,
    *,
    positives: np.ndarray | None = None,
    evals: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> RunLog:
    """A Detectron2 metrics.json: a row every 20 iterations (medians), `total_loss`, lr, `bbox/…` evals.

    `evals[name] = (iterations, values)`: the EvalHook writes at iteration k·EVAL_PERIOD − 1, which is a
    logging row when EVAL_PERIOD is a multiple of 20.
    """
    n = lr.shape[0]
    rows_at = np.arange(D2_PERIOD - 1, n // D2_PERIOD * D2_PERIOD, D2_PERIOD)
    cols: dict[str, np.ndarray | Sparse] = {k: window_medians(v, D2_PERIOD) for k, v in per_iter.items()}
    cols["total_loss"] = window_medians(sum(per_iter.values()), D2_PERIOD)
    cols["lr"] = at_period_ends(lr, D2_PERIOD)
    if positives is not None:
        cols["rpn/num_pos_anchors"] = window_medians(positives, D2_PERIOD)
        cols["roi_head/num_fg_samples"] = window_medians(np.minimum(positives * 1.6, 128.0), D2_PERIOD)
    cols["time"] = np.full(rows_at.size, 0.35)
    cols["data_time"] = np.full(rows_at.size, 0.01)
    for metric, (iters, values) in (evals or {}).items():
        cols[metric] = evals_at(np.searchsorted(rows_at, iters), values)
    return assemble(f"synthetic/{name}/metrics.json", "detectron2_json", "detectron2", rows_at, cols)


def mmdet_log(
    name: str,
    per_iter: dict[str, np.ndarray],
    lr: np.ndarray,
    iters_per_epoch: int,
    *,
    config: dict | None = None,
    evals: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    version: int = 2,
    weights: dict[str, float] | None = None,
) -> RunLog:
    """An MMDetection log (2.x .log.json or 3.x scalars.json): 50-iteration means, `loss`, lr, evals.

    `evals[name] = (epochs, values)`: written after the last iteration of each of those epochs (1-based).
    `weights`: the config's loss_weight per term (1.0 where not given, as the shipped configs mostly say).
    """
    n = lr.shape[0]
    steps = np.arange(MMDET_INTERVAL, n // MMDET_INTERVAL * MMDET_INTERVAL + 1, MMDET_INTERVAL)
    cols: dict[str, np.ndarray | Sparse] = {
        k: np.round(window_means(v, MMDET_INTERVAL), MMDET_DECIMALS) for k, v in per_iter.items()
    }
    cols["loss"] = np.round(window_means(sum(per_iter.values()), MMDET_INTERVAL), MMDET_DECIMALS)
    cols["lr"] = at_period_ends(lr, MMDET_INTERVAL)
    cols["time"] = np.full(steps.size, 0.4)
    cols["memory"] = np.full(steps.size, 3500.0)
    prefix = "coco/" if version == 3 else ""
    for metric, (ep, values) in (evals or {}).items():
        cols[prefix + metric] = evals_at(np.searchsorted(steps, np.asarray(ep) * iters_per_epoch), values)
    epochs = (steps - 1) // iters_per_epoch + 1
    fmt = "mmengine_json" if version == 3 else "mmdet2_json"
    source = f"synthetic/{name}/" + ("vis_data/scalars.json" if version == 3 else "20240101_000000.log.json")
    gains = {k: (weights or {}).get(k, 1.0) for k in per_iter}
    return assemble(
        source,
        fmt,
        "mmdet",
        steps,
        cols,
        epochs=epochs.astype(np.float64),
        config={"loss_weights": gains, **(config or {})},
    )


def ultralytics_log(
    name: str,
    train: dict[str, np.ndarray],
    val: dict[str, np.ndarray],
    metrics: dict[str, np.ndarray],
    lr: np.ndarray,
    *,
    lr0: float = 0.01,
    close_mosaic: int = ULTRA_CLOSE_MOSAIC,
) -> RunLog:
    """An Ultralytics results.csv: per epoch (1-based), `train/<t>_loss`, `val/<t>_loss` already × gain."""
    epochs = np.arange(1, lr.shape[0] + 1)
    cols: dict[str, np.ndarray] = {}
    for split, terms in (("train", train), ("val", val)):
        for term, v in terms.items():
            cols[f"{split}/{term}_loss"] = significant(v, ULTRA_DIGITS)
    for metric, v in metrics.items():
        cols[f"metrics/{metric}"] = significant(v, ULTRA_DIGITS)
    for group in range(3):  # optimizer "auto" picks AdamW and sets warmup_bias_lr 0: the groups agree
        cols[f"lr/pg{group}"] = significant(lr, ULTRA_DIGITS)
    weights = {
        f"{split}/{term}_loss": ULTRA_GAINS[term]
        for split, terms in (("train", train), ("val", val))
        for term in terms
    }
    args = {
        "epochs": int(epochs[-1]),
        "optimizer": "auto",
        "lr0": lr0,
        "lrf": 0.01,
        "warmup_epochs": 3.0,
        "warmup_bias_lr": 0.1,
        "close_mosaic": close_mosaic,
        **ULTRA_GAINS,
    }
    config = {
        "args": args,
        "args_file": f"synthetic/{name}/args.yaml",
        "lr0": lr0,
        "epochs": int(epochs[-1]),
        "loss_weights": weights,
        "weight_sources": {k: "args.yaml" for k in weights},
        "weights_file": "args.yaml",
    }
    return assemble(
        f"synthetic/{name}/results.csv",
        "ultralytics_csv",
        "ultralytics",
        epochs,
        cols,
        epochs=epochs.astype(np.float64),
        config=config,
        step_unit="epoch",
    )


def yolox_log(
    name: str,
    per_iter: dict[str, np.ndarray],
    lr: np.ndarray,
    iters_per_epoch: int,
    *,
    evals: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> RunLog:
    """A YOLOX train_log.txt: every 10 iterations the latest losses at 1 dp, `total_loss`, lr at 4 digits.

    `evals[name] = (epochs, values)`: `val/AP…` after those epochs (1-based), on the 0–1 scale.
    """
    n = lr.shape[0]
    steps = np.arange(YOLOX_PERIOD, n // YOLOX_PERIOD * YOLOX_PERIOD + 1, YOLOX_PERIOD)
    cols: dict[str, np.ndarray | Sparse] = {}
    latest = {k: at_period_ends(v, YOLOX_PERIOD) for k, v in per_iter.items()}
    cols["total_loss"] = np.round(sum(latest.values()), YOLOX_DECIMALS)
    for k, v in latest.items():
        cols[k] = np.round(v, YOLOX_DECIMALS)
    cols["lr"] = significant(at_period_ends(lr, YOLOX_PERIOD), 4)
    cols["iter_time"] = np.full(steps.size, 0.41)
    for metric, (ep, values) in (evals or {}).items():
        cols[metric] = evals_at(np.searchsorted(steps, np.asarray(ep) * iters_per_epoch), values)
    epochs = (steps - 1) // iters_per_epoch + 1
    return assemble(
        f"synthetic/{name}/train_log.txt",
        "text",
        "yolox",
        steps,
        cols,
        epochs=epochs.astype(np.float64),
        config={"dialect": "yolox"},
    )


# ---------------------------------------------------------------------------------------------------------
# The usual healthy curves of each trainer (reused by the pathologies, which then break one thing).


def progress(lr: np.ndarray) -> np.ndarray:
    """Training progress per step in steps-at-peak-lr: Σ lr / max lr (an update moves the weights ∝ lr).

    A loss curve drawn against it flattens where the lr is small and freezes after an lr collapse.
    """
    return np.cumsum(lr) / float(np.max(lr))


def native_terms(
    rng: np.random.Generator, n: int, rel: float, lr: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The reference detector's four raw terms over n steps, noise `rel`, falling with time constants ~n/4.

    With `lr`, the curves advance with `progress(lr)` instead of the step (frozen after a collapse).
    """
    t = np.arange(n, dtype=np.float64) if lr is None else progress(lr)
    return {
        "bbox": noisy(rng, decay(t, 1.8, 0.30, n / 4), rel),
        "cls": noisy(rng, decay(t, 1.2, 0.20, n / 4.5), rel),
        "supcon": noisy(rng, decay(t, 1.5, 0.50, n / 3.5), rel),
        "cpe": noisy(rng, decay(t, 1.2, 0.40, n / 5), rel),
    }


def native_evals(
    n: int, every: int, final: float, rng: np.random.Generator, names=("map50",)
) -> dict[str, Sparse]:
    """Eval metrics every `every` steps (after step k·every − 1), rising to `final`, ±0.003 jitter."""
    rows = np.arange(every - 1, n, every)
    out = {}
    for i, metric in enumerate(names):
        v = saturating(rows, 0.02, final * (1 - 0.1 * i), n / 4) + 0.003 * rng.standard_normal(rows.size)
        out[metric] = evals_at(rows, np.clip(v, 0.0, 1.0))
    return out


def positives_of(rng: np.random.Generator, n: int, mean: float = 20.0) -> np.ndarray:
    """Positive anchors per step: 3 + Poisson(mean − 3) (an episode with objects always gets a few)."""
    return 3.0 + rng.poisson(mean - 3.0, n).astype(np.float64)


def frcnn_terms(
    rng: np.random.Generator, n: int, rel: float, decays: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Faster R-CNN's four terms per iteration (Detectron2 names), falling over ~n/4 iterations.

    `decays` (per iteration): how many ×0.1 lr decays a step schedule has made so far. Each lowers the ROI
    terms by ~12% and the RPN terms by ~5% (the drops at epochs 9 and 12 of an mmdet 1x log).
    """
    t = np.arange(n, dtype=np.float64)
    k = np.zeros(n) if decays is None else decays
    roi, rpn = LR_DECAY_ROI_DROP**k, LR_DECAY_RPN_DROP**k
    return {
        "loss_cls": noisy(rng, decay(t, 0.70, 0.20, n / 4) * roi, rel),
        # box regression rises at first: proposals start to find objects
        "loss_box_reg": noisy(rng, decay(t, 0.15, 0.22, n / 4) * roi, rel),
        "loss_rpn_cls": noisy(rng, decay(t, 0.45, 0.04, n / 8) * rpn, rel),
        "loss_rpn_loc": noisy(rng, decay(t, 0.20, 0.06, n / 6) * rpn, rel),
    }


def to_mmdet_names(terms: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = {
        "loss_cls": "loss_cls",
        "loss_box_reg": "loss_bbox",
        "loss_rpn_cls": "loss_rpn_cls",
        "loss_rpn_loc": "loss_rpn_bbox",
    }
    return {names[k]: v for k, v in terms.items()}


def d2_multistep_lr(n: int, base: float = FRCNN_LR, steps=(0.75, 0.92)) -> np.ndarray:
    """WarmupMultiStepLR: warm-up ×0.001 → 1 over 1000 iterations, ×0.1 at each fraction in `steps`."""
    t = np.arange(n, dtype=np.float64)
    gamma = 0.1 ** sum((t >= int(s * n)).astype(np.float64) for s in steps)
    return base * linear_warmup(t, min(D2_WARMUP_ITERS, n), D2_WARMUP_FACTOR) * gamma


def decays_of(lr: np.ndarray) -> np.ndarray:
    """How many ×0.1 decays a step schedule has made by each step: log10(running peak / lr), rounded."""
    return np.round(np.log10(np.maximum.accumulate(lr) / lr))


def mmdet_step_lr(n: int, iters_per_epoch: int, base: float = FRCNN_LR, steps=(8, 11)) -> np.ndarray:
    """mmdet 1x: linear warm-up (ratio 0.001, 500 iterations), ×0.1 after epochs 8 and 11."""
    t = np.arange(n, dtype=np.float64)
    epoch = t // iters_per_epoch
    gamma = 0.1 ** sum((epoch >= s).astype(np.float64) for s in steps)
    return base * linear_warmup(t, MMDET_WARMUP_ITERS, MMDET_WARMUP_RATIO) * gamma


def coco_ap(rows: np.ndarray, n: int, final_ap: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """COCO AP family (0–1) at `rows`, rising towards `final_ap`, ±0.003 jitter (seed-to-seed spread)."""
    ap = saturating(rows, 0.05, final_ap, n / 4) + 0.003 * rng.standard_normal(rows.size)
    return {
        "AP": ap,
        "AP50": np.minimum(ap * 1.6, 0.99),
        "AP75": ap * 1.05,
        "APs": ap * 0.5,
        "APm": ap * 0.95,
        "APl": np.minimum(ap * 1.25, 0.99),
    }


Curves = dict[str, np.ndarray]


def ultra_curves(
    rng: np.random.Generator, epochs: int, rel: float = 0.015, close_mosaic: int = ULTRA_CLOSE_MOSAIC
) -> tuple[Curves, Curves, Curves, np.ndarray]:
    """Ultralytics epoch means (weighted), val losses, metrics and lr over `epochs` (a fine-tune from COCO).

    Epoch means wiggle by 1–3% (measured on the epoch-level sample logs); the last `close_mosaic` epochs
    train without mosaic, which lowers the training losses by ~10%. lr: "auto" → AdamW 0.002·5/(4 + nc)
    (nc = 1), warm-up over 3 epochs, then lr0·((1 − e/E)(1 − lrf) + lrf) with lrf = 0.01.
    """
    e = np.arange(epochs, dtype=np.float64)
    tau = max(epochs / 4, 2.0)
    mosaic_off = np.where(e >= epochs - close_mosaic, 0.9, 1.0) if 0 < close_mosaic < epochs else 1.0
    train = {
        "box": noisy(rng, decay(e, 1.35, 0.85, tau) * mosaic_off, rel),
        "cls": noisy(rng, decay(e, 2.10, 0.55, tau) * mosaic_off, rel),
        "dfl": noisy(rng, decay(e, 1.40, 1.02, tau) * mosaic_off, rel),
    }
    val = {
        "box": noisy(rng, decay(e, 1.30, 0.95, tau), rel),
        "cls": noisy(rng, decay(e, 2.00, 0.70, tau), rel),
        "dfl": noisy(rng, decay(e, 1.35, 1.08, tau), rel),
    }
    map50 = np.clip(saturating(e, 0.25, 0.82, tau) + 0.004 * rng.standard_normal(epochs), 0, 1)
    metrics = {
        "precision(B)": np.clip(map50 + 0.05, 0, 1),
        "recall(B)": np.clip(map50 - 0.04, 0, 1),
        "mAP50(B)": map50,
        "mAP50-95(B)": map50 * 0.68,
    }
    lr0 = 0.002 * 5 / (4 + 1)
    lf = (1 - e / epochs) * (1 - 0.01) + 0.01
    lr = lr0 * lf * np.minimum((e + 1) / 3.0, 1.0)
    return train, val, metrics, lr


# ---------------------------------------------------------------------------------------------------------
# Healthy look-alikes: nothing wrong, shaped like something that is.


def healthy_native(seed: int, n: int, rel: float) -> LabelledRun:
    """Iteration-level native run: four falling terms with `rel` noise, warm-up + cosine to 2e-6, mAP rising.

    The reference trainer's own schedule (inspector/train/schedule.py) ends at 2e-6, 2e-3 of its peak.
    """
    rng = np.random.default_rng(seed)
    lr = native_lr(n)
    evals = native_evals(n, max(n // 10, 50), 0.55, rng, ("map50", "st_iou"))
    log = native_log(
        f"healthy_native_{n}",
        native_terms(rng, n, rel, lr),
        NATIVE_WEIGHTS,
        lr,
        positives=positives_of(rng, n),
        evals=evals,
    )
    return labelled(
        f"healthy_native_{n // 1000}k_noise{int(rel * 100)}_s{seed}", log, must_not_fire=NO_STEP, healthy=True
    )


def healthy_d2(seed: int, n: int, rel: float) -> LabelledRun:
    """Iteration-level Detectron2 Faster R-CNN: 20-iteration medians, multistep lr, AP (0–100) rising."""
    rng = np.random.default_rng(seed)
    period = n // 5 // D2_PERIOD * D2_PERIOD
    iters = np.arange(period - 1, n, period)
    aps = coco_ap(iters, n, 0.40, rng)
    evals = {f"bbox/{k}": (iters, 100 * v) for k, v in aps.items()}
    lr = d2_multistep_lr(n)
    log = d2_log(
        f"healthy_d2_{n}",
        frcnn_terms(rng, n, rel, decays_of(lr)),
        lr,
        positives=positives_of(rng, n, 48.0),
        evals=evals,
    )
    return labelled(f"healthy_d2_{n // 1000}k_noise{int(rel * 100)}_s{seed}", log, healthy=True)


def healthy_mmdet(seed: int, n_epochs: int, iters_per_epoch: int, rel: float) -> LabelledRun:
    """Iteration-level mmdet 2.x Faster R-CNN 1x: 50-iteration means, step lr, bbox_mAP (0–1) each epoch."""
    rng = np.random.default_rng(seed)
    n = n_epochs * iters_per_epoch
    ep = np.arange(1, n_epochs + 1)
    aps = coco_ap(ep * iters_per_epoch, n, 0.37, rng)
    names = {
        "AP": "bbox_mAP",
        "AP50": "bbox_mAP_50",
        "AP75": "bbox_mAP_75",
        "APs": "bbox_mAP_s",
        "APm": "bbox_mAP_m",
        "APl": "bbox_mAP_l",
    }
    evals = {names[k]: (ep, np.round(v, 3)) for k, v in aps.items()}
    config = {"optimizer": FRCNN_SGD, "runner": {"type": "EpochBasedRunner", "max_epochs": n_epochs}}
    lr = mmdet_step_lr(n, iters_per_epoch)
    log = mmdet_log(
        f"healthy_mmdet_{n}",
        to_mmdet_names(frcnn_terms(rng, n, rel, decays_of(lr))),
        lr,
        iters_per_epoch,
        config=config,
        evals=evals,
    )
    return labelled(f"healthy_mmdet_{n // 1000}k_noise{int(rel * 100)}_s{seed}", log, healthy=True)


def healthy_epochs(
    seed: int, epochs: int, prefix: str = "epoch_level", close_mosaic: int = ULTRA_CLOSE_MOSAIC
) -> LabelledRun:
    """Ultralytics results.csv over `epochs` epochs: smooth epoch means, mosaic closed for the last 10."""
    rng = np.random.default_rng(seed)
    train, val, metrics, lr = ultra_curves(rng, epochs, close_mosaic=close_mosaic)
    log = ultralytics_log(f"{prefix}_{epochs}", train, val, metrics, lr, close_mosaic=close_mosaic)
    smooth = not 0 < close_mosaic < epochs  # mosaic on (or off) throughout: no step in the curves
    return labelled(
        f"{prefix}_{epochs}ep_s{seed}", log, must_not_fire=NO_STEP if smooth else (), healthy=True
    )


def short_smooth_31(seed: int) -> LabelledRun:
    """A 31-epoch log with smooth decay and print noise (5 significant digits, 1.5% epoch wiggle): no spikes.

    Measured: a rolling median over 31 monotone points is the point itself, so a 1% wiggle read as 6σ.
    close_mosaic = 0 (mosaic to the end) keeps the curves free of the mosaic step.
    """
    run = healthy_epochs(seed, 31, "short_smooth", close_mosaic=0)
    return labelled(run.name, run.log, must_not_fire={"loss_spikes", *NO_STEP}, healthy=True)


def quantised_yolox(seed: int) -> LabelledRun:
    """YOLOX printing losses at 1 dp (cls flips 0.6 ↔ 0.7), 120 of 300 epochs logged: no spikes, no noise.

    The run is still in its mosaic phase (l1_loss 0.0 throughout, as YOLOX logs it until the last 15 epochs).
    lr: yoloxwarmcos, 5 warm-up epochs quadratic from 0, cosine to 5% of 0.01 over 285 epochs.
    """
    rng = np.random.default_rng(seed)
    per_epoch, epochs, max_epoch = 50, 120, 300
    n = per_epoch * epochs
    t = np.arange(n, dtype=np.float64)
    e = t / per_epoch
    # Per-iteration noise of a YOLOX loss at batch 64: a few percent (the printed value is the latest one).
    terms = {
        "iou_loss": noisy(rng, decay(e, 3.4, 1.85, 25), 0.04),
        "l1_loss": np.zeros(n),
        "conf_loss": noisy(rng, decay(e, 4.0, 1.25, 15), 0.05),
        "cls_loss": noisy(rng, decay(e, 1.9, 0.65, 20), 0.04),
    }
    lr = yolox_lr(t, per_epoch, max_epoch)
    ep = np.arange(10, epochs + 1, 10)
    ap = saturating(ep, 0.05, 0.42, 30) + 0.003 * rng.standard_normal(ep.size)
    log = yolox_log(
        f"quantised_yolox_{seed}",
        terms,
        lr,
        per_epoch,
        evals={"val/AP": (ep, ap), "val/AP50": (ep, np.minimum(ap * 1.5, 0.99))},
    )
    return labelled(
        f"quantised_1dp_yolox_s{seed}",
        log,
        must_not_fire={"loss_spikes", "high_volatility", *NO_STEP},
        healthy=True,
    )


def yolox_lr(
    t: np.ndarray,
    per_epoch: int,
    max_epoch: int,
    base: float = 0.01,
    warmup_epochs: int = 5,
    no_aug: int = 15,
    min_ratio: float = 0.05,
) -> np.ndarray:
    """YOLOX yoloxwarmcos: quadratic warm-up from 0, cosine to min_ratio·base, flat for the no_aug epochs."""
    warm = warmup_epochs * per_epoch
    total = max_epoch * per_epoch
    end = total - no_aug * per_epoch
    low = base * min_ratio
    progress = np.clip((t - warm) / max(end - warm, 1), 0.0, 1.0)
    cos = low + 0.5 * (base - low) * (1 + np.cos(np.pi * progress))
    return np.where(t < warm, base * (t / warm) ** 2, np.where(t >= end, low, cos))


def quantised_2dp(seed: int) -> LabelledRun:
    """A custom loop printing `f"{loss:.2f}"` every 10 iterations: small terms step by 0.01 (10–15%)."""
    rng = np.random.default_rng(seed)
    n = 3000
    t = np.arange(n, dtype=np.float64)
    terms = {
        "loss_box": noisy(rng, decay(t, 0.45, 0.24, 800), 0.04),
        "loss_cls": noisy(rng, decay(t, 0.30, 0.08, 700), 0.04),
        "loss_obj": noisy(rng, decay(t, 0.12, 0.07, 900), 0.04),
    }
    steps = np.arange(10, n + 1, 10)
    cols: dict[str, np.ndarray | Sparse] = {k: np.round(at_period_ends(v, 10), 2) for k, v in terms.items()}
    cols["loss"] = np.round(sum(at_period_ends(v, 10) for v in terms.values()), 2)
    cols["lr"] = at_period_ends(cosine(t, n, 1e-3, 1e-5), 10)
    rows = np.arange(29, steps.size, 30)
    m = saturating(rows, 0.1, 0.6, 80) + 0.003 * rng.standard_normal(rows.size)
    cols["val/mAP50"] = evals_at(rows, m)
    log = assemble(f"synthetic/quantised_2dp_{seed}/train.log", "text", "generic", steps, cols)
    return labelled(
        f"quantised_2dp_generic_s{seed}",
        log,
        must_not_fire={"loss_spikes", "high_volatility", *NO_STEP},
        healthy=True,
    )


def collinear_mmdet(seed: int) -> LabelledRun:
    """mmdet Faster R-CNN with loss_cls = 0.5 × loss_bbox + noise per iteration (hard batches raise both)."""
    rng = np.random.default_rng(seed)
    per_epoch, epochs = 1000, 12
    n = per_epoch * epochs
    t = np.arange(n, dtype=np.float64)
    lr = mmdet_step_lr(n, per_epoch)
    difficulty = noisy(rng, np.ones(n), 0.10)  # shared per-batch factor
    bbox = decay(t, 0.20, 0.24, n / 4) * LR_DECAY_ROI_DROP ** decays_of(lr) * difficulty
    terms = {
        "loss_rpn_cls": noisy(rng, decay(t, 0.45, 0.04, n / 8), 0.10),
        "loss_rpn_bbox": noisy(rng, decay(t, 0.20, 0.06, n / 6), 0.10),
        "loss_cls": np.maximum(0.5 * bbox + 0.01 * rng.standard_normal(n), 0.0),
        "loss_bbox": bbox,
    }
    ep = np.arange(1, epochs + 1)
    ap = saturating(ep * per_epoch, 0.05, 0.37, n / 4) + 0.003 * rng.standard_normal(epochs)
    log = mmdet_log(
        f"collinear_{seed}",
        terms,
        lr,
        per_epoch,
        config={"optimizer": FRCNN_SGD},
        evals={"bbox_mAP": (ep, np.round(ap, 3)), "bbox_mAP_50": (ep, np.round(ap * 1.6, 3))},
    )
    return labelled(f"collinear_mmdet_s{seed}", log, healthy=True)


def yolox_l1_switched_on(seed: int) -> LabelledRun:
    """YOLOX, 100 epochs with no_aug_epochs = 15: l1_loss 0.0 for the first 85 epochs, then ~0.3.

    yolox/core/trainer.py before_epoch: at epoch max_epoch − no_aug_epochs, mosaic is closed and
    `head.use_l1 = True`; the other terms drop ~10% without mosaic. A lasting step, not a spike.
    """
    rng = np.random.default_rng(seed)
    per_epoch, max_epoch, no_aug = 50, 100, 15
    n = per_epoch * max_epoch
    t = np.arange(n, dtype=np.float64)
    e = t / per_epoch
    switched = e >= max_epoch - no_aug
    calmer = np.where(switched, 0.9, 1.0)
    terms = {
        "iou_loss": noisy(rng, decay(e, 3.4, 1.9, 20) * calmer, 0.04),
        "l1_loss": np.where(switched, noisy(rng, np.full(n, 0.30), 0.10), 0.0),
        "conf_loss": noisy(rng, decay(e, 4.0, 1.3, 12) * calmer, 0.05),
        "cls_loss": noisy(rng, decay(e, 1.9, 0.7, 15) * calmer, 0.04),
    }
    ep = np.arange(10, max_epoch + 1, 10)
    ap = saturating(ep, 0.05, 0.40, 25) + 0.003 * rng.standard_normal(ep.size)
    log = yolox_log(
        f"yolox_l1_{seed}",
        terms,
        yolox_lr(t, per_epoch, max_epoch),
        per_epoch,
        evals={"val/AP": (ep, ap), "val/AP50": (ep, np.minimum(ap * 1.5, 0.99))},
    )
    return labelled(
        f"late_l1_switch_yolox_s{seed}",
        log,
        must_fire={"regime_change"},
        must_not_fire={"loss_spikes"},
        healthy=True,
    )


def few_evals(seed: int, n_evals: int, overfit: bool) -> LabelledRun:
    """A 12-epoch native schedule (200 steps/epoch) evaluated every 12/n_evals epochs: eval/loss, eval/map50.

    Overfitting (Prechelt 1998, "Early stopping — but when?"): the validation loss falls to a best, then
    rises (+89% of the best here) while the training loss keeps falling; mAP peaks with it (0.30 → 0.21).
    Healthy: both keep improving, flattening out. Measured: with < 8 evaluations the old rule never judged.
    """
    rng = np.random.default_rng(seed)
    per_epoch, epochs = 200, 12
    n = per_epoch * epochs
    every = epochs // n_evals
    ep = np.arange(every, epochs + 1, every)
    rows = ep * per_epoch - 1
    if overfit:
        val, m = OVERFIT_VAL_LOSS[n_evals], OVERFIT_MAP[n_evals]
    else:
        val = {6: [1.00, 0.86, 0.79, 0.76, 0.745, 0.74], 3: [0.86, 0.76, 0.74]}[n_evals]
        m = {6: [0.12, 0.19, 0.24, 0.27, 0.29, 0.30], 3: [0.19, 0.27, 0.30]}[n_evals]
        m = np.asarray(m) + 0.002 * rng.standard_normal(len(m))
    epochs_col = (np.arange(n) // per_epoch + 1).astype(np.float64)
    evals = {"loss": evals_at(rows, val), "map50": evals_at(rows, m)}
    lr = native_lr(n, final=2e-5)
    log = native_log(
        f"few_evals_{n_evals}",
        native_terms(rng, n, 0.08, lr),
        NATIVE_WEIGHTS,
        lr,
        positives=positives_of(rng, n),
        evals=evals,
        epochs=epochs_col,
    )
    if overfit:
        return labelled(
            f"overfit_{n_evals}evals_s{seed}",
            log,
            must_fire={"train_val_divergence", "eval_regression"},
            must_not_fire=NO_STEP,
        )
    return labelled(
        f"few_evals_rising_{n_evals}_s{seed}",
        log,
        must_not_fire={"train_val_divergence", "eval_regression", *NO_STEP},
        healthy=True,
    )


def cosine_to_1pct(seed: int) -> LabelledRun:
    """Native run with warm-up + cosine to 1% of the peak and a good mAP (0.6): the lr ends low on purpose."""
    rng = np.random.default_rng(seed)
    n = 4000
    lr = native_lr(n, final=1e-5)
    log = native_log(
        "cosine_1pct",
        native_terms(rng, n, 0.10, lr),
        NATIVE_WEIGHTS,
        lr,
        positives=positives_of(rng, n),
        evals=native_evals(n, 400, 0.62, rng),
    )
    return labelled(
        f"cosine_1pct_good_map_s{seed}", log, must_not_fire={"lr_collapsed", *NO_STEP}, healthy=True
    )


def d2_cosine_to_zero(seed: int) -> LabelledRun:
    """Detectron2 WarmupCosineLR (cosine to 0 at MAX_ITER) with a good AP: the last lr is ~2e-8 of peak."""
    rng = np.random.default_rng(seed)
    n = 10000
    t = np.arange(n, dtype=np.float64)
    lr = FRCNN_LR * linear_warmup(t, D2_WARMUP_ITERS, D2_WARMUP_FACTOR) * 0.5 * (1 + np.cos(np.pi * t / n))
    iters = np.arange(1999, n, 2000)
    evals = {f"bbox/{k}": (iters, 100 * v) for k, v in coco_ap(iters, n, 0.42, rng).items()}
    log = d2_log(
        "d2_cosine", frcnn_terms(rng, n, 0.10), lr, positives=positives_of(rng, n, 48.0), evals=evals
    )
    return labelled(f"d2_cosine_to_zero_good_ap_s{seed}", log, must_not_fire=NO_STEP, healthy=True)


def d2_tutorial(seed: int) -> LabelledRun:
    """Detectron2's Colab tutorial (balloon): BASE_LR 0.00025, batch 2, MAX_ITER 300, an eval at the end.

    WARMUP_ITERS stays 1000 > MAX_ITER, so the lr climbs the whole run and peaks at 7.5e-5, and the
    detector works (bbox AP around 70 here). A small lr of the library's own tutorial is not out of range.
    """
    rng = np.random.default_rng(seed)
    n = 300
    t = np.arange(n, dtype=np.float64)
    lr = 0.00025 * linear_warmup(t, D2_WARMUP_ITERS, D2_WARMUP_FACTOR)
    terms = {
        "loss_cls": noisy(rng, decay(t, 0.70, 0.08, 60), 0.15),
        "loss_box_reg": noisy(rng, decay(t, 0.30, 0.15, 80), 0.15),
        "loss_mask": noisy(rng, decay(t, 0.69, 0.15, 90), 0.10),
        "loss_rpn_cls": noisy(rng, decay(t, 0.50, 0.02, 40), 0.2),
        "loss_rpn_loc": noisy(rng, decay(t, 0.10, 0.01, 60), 0.2),
    }
    iters = np.array([n - 1])
    evals = {
        "bbox/AP": (iters, [69.8]),
        "bbox/AP50": (iters, [85.4]),
        "bbox/AP75": (iters, [79.1]),
        "bbox/APs": (iters, [21.3]),
        "bbox/APm": (iters, [55.8]),
        "bbox/APl": (iters, [83.6]),
    }
    log = d2_log("d2_tutorial", terms, lr, positives=positives_of(rng, n, 30.0), evals=evals)
    return labelled(
        f"d2_tutorial_small_lr_s{seed}", log, must_not_fire={"lr_out_of_range", *NO_STEP}, healthy=True
    )


def _d2_small_ap_log(name: str, seed: int, small: float, per_class: bool) -> RunLog:
    """A Detectron2 run with AP ~0.45 whose `bbox/APs` is `small` (×100 as D2 prints) at every evaluation."""
    rng = np.random.default_rng(seed)
    n = 5000
    iters = np.arange(999, n, 1000)
    aps = coco_ap(iters, n, 0.45, rng)
    evals = {f"bbox/{k}": (iters, 100 * v) for k, v in aps.items()}
    evals["bbox/APs"] = (iters, np.full(iters.size, small))
    if per_class:
        evals["bbox/AP-balloon"] = (iters, 100 * aps["AP"])
    lr = d2_multistep_lr(n)
    return d2_log(
        name, frcnn_terms(rng, n, 0.10, decays_of(lr)), lr, positives=positives_of(rng, n, 48.0), evals=evals
    )


def nan_aps_d2(seed: int) -> LabelledRun:
    """Detectron2 on a dataset without small objects: `bbox/APs` is NaN at every evaluation."""
    log = _d2_small_ap_log("nan_aps_d2", seed, np.nan, per_class=True)
    return labelled(
        f"nan_ap_small_d2_s{seed}",
        log,
        must_fire={"undefined_metric"},
        must_not_fire={"non_finite_values", "eval_regression", "eval_stopped"},
        healthy=True,
    )


def zero_aps_d2(seed: int) -> LabelledRun:
    """Detectron2 whose few small objects are never found: `bbox/APs` is 0.0 at every evaluation, AP ~0.45."""
    log = _d2_small_ap_log("zero_aps_d2", seed, 0.0, per_class=False)
    return labelled(
        f"zero_ap_small_good_ap_d2_s{seed}",
        log,
        must_not_fire={"metric_near_zero", "metric_stuck_at_zero", "eval_regression"},
        healthy=True,
    )


def minus1_aps_mmdet(seed: int) -> LabelledRun:
    """mmdet 2.x on a dataset without small objects: `bbox_mAP_s` is −1.0 at every evaluation."""
    rng = np.random.default_rng(seed)
    per_epoch, epochs = 500, 12
    n = per_epoch * epochs
    ep = np.arange(1, epochs + 1)
    aps = coco_ap(ep * per_epoch, n, 0.38, rng)
    names = {
        "AP": "bbox_mAP",
        "AP50": "bbox_mAP_50",
        "AP75": "bbox_mAP_75",
        "APm": "bbox_mAP_m",
        "APl": "bbox_mAP_l",
    }
    evals = {names[k]: (ep, np.round(v, 3)) for k, v in aps.items() if k in names}
    evals["bbox_mAP_s"] = (ep, np.full(epochs, -1.0))
    lr = mmdet_step_lr(n, per_epoch)
    log = mmdet_log(
        "minus1_aps",
        to_mmdet_names(frcnn_terms(rng, n, 0.10, decays_of(lr))),
        lr,
        per_epoch,
        config={"optimizer": FRCNN_SGD},
        evals=evals,
    )
    return labelled(
        f"minus1_ap_small_mmdet_s{seed}",
        log,
        must_fire={"undefined_metric"},
        must_not_fire={"non_finite_values", "eval_regression", "eval_stopped"},
        healthy=True,
    )


def rtmdet_cls_dominant(seed: int) -> LabelledRun:
    """RTMDet (MMEngine scalars.json) that works: mAP 0.93, AP50 0.99, loss_cls ~70% of the loss.

    Shaped after tests/samples/mmdet_json/rtmdet-drink-mmengine (cls 74% of the mean, mAP 0.93, −1 for
    the absent small and medium ranges). RTMDet ships AdamW at base_lr 0.004 (rtmdet_l_8xb32-300e_coco.py),
    scaled by auto_scale_lr to the batch. Dominance in a run that works is not a reason to change a weight.
    """
    rng = np.random.default_rng(seed)
    per_epoch, epochs = 50, 40
    n = per_epoch * epochs
    t = np.arange(n, dtype=np.float64)
    terms = {
        "loss_cls": noisy(rng, decay(t, 2.0, 0.40, n / 6), 0.08),
        "loss_bbox": noisy(rng, decay(t, 0.72, 0.17, n / 6), 0.08),
    }
    peak = 0.004 * 10 / 256
    lr = np.where(t < n / 2, peak * linear_warmup(t, 300, 1e-5), cosine(t - n / 2, n // 2, peak, 0.05 * peak))
    ep = np.arange(10, epochs + 1, 10)
    m = np.array([0.78, 0.89, 0.92, 0.93]) + 0.002 * rng.standard_normal(4)
    evals = {
        "bbox_mAP": (ep, np.round(m, 3)),
        "bbox_mAP_50": (ep, np.round(np.minimum(m + 0.062, 0.995), 3)),
        "bbox_mAP_75": (ep, np.round(np.minimum(m + 0.06, 0.995), 3)),
        "bbox_mAP_s": (ep, np.full(4, -1.0)),
        "bbox_mAP_m": (ep, np.full(4, -1.0)),
        "bbox_mAP_l": (ep, np.round(m, 3)),
    }
    config = {
        "optim_wrapper": {
            "type": "OptimWrapper",
            "optimizer": {"type": "AdamW", "lr": 0.004, "weight_decay": 0.05},
        },
        "auto_scale_lr": {"enable": True, "base_batch_size": 256},
    }
    # RTMDet's head: QualityFocalLoss loss_weight 1.0, GIoULoss loss_weight 2.0 (logged after the weight).
    log = mmdet_log(
        f"rtmdet_{seed}",
        terms,
        lr,
        per_epoch,
        config=config,
        evals=evals,
        version=3,
        weights={"loss_cls": 1.0, "loss_bbox": 2.0},
    )
    return labelled(
        f"healthy_cls_dominant_rtmdet_s{seed}",
        log,
        must_fire={"undefined_metric"},
        must_not_fire={"lr_out_of_range", "eval_regression", *NO_STEP},
        healthy=True,
    )


def restarted_native(seed: int) -> LabelledRun:
    """A native log with an appended relaunch: steps 0–2999, then a resume from step 2000 to 3999."""
    rng = np.random.default_rng(seed)
    n = 4000
    first, resumed = np.arange(3000), np.arange(2000, n)
    steps = idx = np.r_[first, resumed]  # the resumed segment repeats the schedule from its checkpoint
    lr = native_lr(n)
    before, after = native_terms(rng, n, 0.08, lr), native_terms(rng, n, 0.08, lr)  # fresh batches
    raw = {k: np.r_[before[k][first], after[k][resumed]] for k in before}
    rows = np.flatnonzero(steps % 400 == 399)
    m = saturating(steps[rows], 0.02, 0.55, n / 4) + 0.003 * rng.standard_normal(rows.size)
    log = native_log(
        f"restarted_{seed}",
        raw,
        NATIVE_WEIGHTS,
        lr[idx],
        positives=positives_of(rng, n)[idx],
        evals={"map50": evals_at(rows, m)},
        steps=steps,
    )
    return labelled(
        f"restarted_native_s{seed}", log, must_fire={"restarts"}, must_not_fire=NO_STEP, healthy=True
    )


def linear_losses(seed: int, logged_total: bool) -> LabelledRun:
    """Every term a straight line (no noise): the total's steps are all equal, its step variance ~0.

    Measured: the share of a (near-)zero variance became ±1e10 and every term "dominated".
    """
    n = 2000
    t = np.arange(n, dtype=np.float64) / (n - 1)
    raw = {"bbox": 1.0 - 0.5 * t, "cls": 0.8 - 0.5 * t, "supcon": 1.2 - 0.3 * t, "cpe": 0.6 - 0.2 * t}
    rows = np.arange(199, n, 200)
    evals = {"map50": evals_at(rows, saturating(rows, 0.05, 0.5, n / 4))}
    lr = native_lr(n, final=1e-5)
    if logged_total:
        log = native_log("linear", raw, NATIVE_WEIGHTS, lr, positives=np.full(n, 20.0), evals=evals)
    else:  # a generic table of weighted terms with no total column: the rules rebuild the total
        cols: dict[str, np.ndarray | Sparse] = {
            f"train/{k}_loss": NATIVE_WEIGHTS[k] * v for k, v in raw.items()
        }
        cols["lr"] = lr
        cols["val/mAP50"] = evals["map50"]
        log = assemble("synthetic/linear/metrics.csv", "csv", "generic", np.arange(n, dtype=np.int64), cols)
    return labelled(
        f"linear_losses_{'total' if logged_total else 'no_total'}_s{seed}",
        log,
        must_not_fire={"loss_spikes", "high_volatility", "stationary_component", *NO_STEP},
        healthy=True,
    )


# ---------------------------------------------------------------------------------------------------------
# Pathologies: one thing broken, shaped from what it is.


def zero_positives_scattered(seed: int) -> LabelledRun:
    """0 positive anchors on 39% of steps, scattered; the box loss is exactly 0 on those steps.

    An episode whose objects are smaller than the stride gets no anchor centre inside any box (TAL's
    `select_candidates_in_gts`), and Ultralytics-style losses compute the box term only `if fg_mask.sum()`:
    it stays 0. Episodes are drawn independently, so those steps are scattered, never one stretch (39%:
    our users' few-shot run). The bbox term's jumps to 0 are the consequence, not a second finding.
    """
    rng = np.random.default_rng(seed)
    n = 3000
    lr = native_lr(n, final=2e-5)
    raw = native_terms(rng, n, 0.06, lr)
    none = scattered(rng, n, ZERO_POSITIVES_FRACTION)
    positives = np.where(none, 0.0, positives_of(rng, n, 14.0))
    raw["bbox"] = np.where(none, 0.0, raw["bbox"])
    log = native_log(
        f"zero_pos_{seed}",
        raw,
        NATIVE_WEIGHTS,
        lr,
        positives=positives,
        evals=native_evals(n, 300, 0.30, rng),
    )
    return labelled(
        f"zero_positives_scattered_s{seed}",
        log,
        must_fire={"no_positive_anchors"},
        must_not_fire={"dominant_component", "high_volatility", "loss_spikes", *NO_STEP},
    )


def eval_stopped_d2(seed: int) -> LabelledRun:
    """Detectron2 run that collapses at 35%: losses jump to flat bands, every later eval writes NaN APs.

    COCOEvaluator._derive_coco_results returns NaN for every metric when the model predicts nothing
    ("No predictions from the model!"); training goes on with finite losses (cls and objectness at the
    loss of a constant prediction, box regression near 0 without foreground proposals). The last good AP
    (at 30%) says nothing about the model after the collapse: the flat bands must still be reported.
    """
    rng = np.random.default_rng(seed)
    n = 10000
    t = np.arange(n, dtype=np.float64)
    at = int(0.35 * n)
    lr = d2_multistep_lr(n)
    terms = frcnn_terms(rng, n, 0.12, decays_of(lr))
    after = t >= at
    collapsed = {"loss_cls": 0.55, "loss_box_reg": 0.03, "loss_rpn_cls": 0.69, "loss_rpn_loc": 0.25}
    for k, level in collapsed.items():
        terms[k] = np.where(after, noisy(rng, np.full(n, level), 0.12), terms[k])
    iters = np.arange(999, n, 1000)
    aps = coco_ap(iters, n, 0.40, rng)
    evals = {f"bbox/{k}": (iters, np.where(iters >= at, np.nan, 100 * v)) for k, v in aps.items()}
    log = d2_log(f"eval_stopped_d2_{seed}", terms, lr, positives=positives_of(rng, n, 48.0), evals=evals)
    return labelled(
        f"eval_stopped_nan_d2_s{seed}",
        log,
        must_fire={"eval_stopped", "stationary_component"},
        must_not_fire={"metric_stuck_at_zero"},
    )


def eval_stopped_native(seed: int) -> LabelledRun:
    """Native run that diverges at 35%: later eval rows carry eval/loss but no map50/st_iou; lr cliff at 60%.

    The losses jump ×2.5 and sit in a flat noisy band; the evaluation still writes its loss, but the
    detector's metrics are absent (nothing to score). The lr is clamped to 2e-6 at 60% of the run. The
    last good mAP (0.3 at ~30%) must not hide the lr collapse or the flat losses.
    """
    rng = np.random.default_rng(seed)
    n = 6000
    t = np.arange(n, dtype=np.float64)
    at = int(0.35 * n)
    lr = cliff_lr(n, 1e-3, 0.60, LR_FLOOR, 50, 2e-5)
    raw = native_terms(rng, n, 0.08, lr)
    for k, v in raw.items():
        raw[k] = np.where(t >= at, noisy(rng, np.full(n, 2.5 * float(np.median(v[at - 200 : at]))), 0.10), v)
    rows = np.arange(299, n, 300)
    good = rows < at
    m = saturating(rows[good], 0.02, 0.40, n / 4)
    val = np.where(rows < at, decay(rows, 1.6, 0.8, n / 4), 2.6 + 0.05 * rng.standard_normal(rows.size))
    evals = {
        "loss": evals_at(rows, val),
        "map50": evals_at(rows[good], m),
        "st_iou": evals_at(rows[good], 0.8 * m),
    }
    log = native_log(
        f"eval_stopped_native_{seed}", raw, NATIVE_WEIGHTS, lr, positives=positives_of(rng, n), evals=evals
    )
    return labelled(
        f"eval_stopped_absent_native_s{seed}",
        log,
        must_fire={"eval_stopped", "lr_collapsed", "stationary_component"},
        must_not_fire={"metric_stuck_at_zero"},
    )


def lr_cliff(seed: int) -> LabelledRun:
    """Warm-up from ~0 (2e-6) to 1e-3, then a cliff to 2e-6 at 50% of the run; mAP stays poor (~0.04).

    Measured: the warm-up's first steps sit below the floor too, so the old rule dated the collapse at step 0.
    """
    rng = np.random.default_rng(seed)
    n = 4000
    lr = cliff_lr(n, 1e-3, 0.50, LR_FLOOR, 200, LR_FLOOR)
    rows = np.arange(399, n, 400)
    m = 0.04 + 0.005 * rng.standard_normal(rows.size)
    log = native_log(
        f"lr_cliff_{seed}",
        native_terms(rng, n, 0.08, lr),
        NATIVE_WEIGHTS,
        lr,
        positives=positives_of(rng, n),
        evals={"map50": evals_at(rows, np.clip(m, 0, 1))},
    )
    return labelled(f"lr_cliff_native_s{seed}", log, must_fire={"lr_collapsed"})


def lr_slow_floor(seed: int) -> LabelledRun:
    """Warm-up from ~0, then exponential decay from 1e-3 to 2e-6 at the last step; mAP poor (~0.04)."""
    rng = np.random.default_rng(seed)
    n = 4000
    t = np.arange(n, dtype=np.float64)
    warm = 200
    decayed = 1e-3 * np.exp(-np.clip(t - warm, 0, None) / (n - 1 - warm) * np.log(1e-3 / LR_FLOOR))
    lr = np.where(t < warm, LR_FLOOR + (1e-3 - LR_FLOOR) * t / warm, decayed)
    rows = np.arange(399, n, 400)
    m = 0.04 + 0.005 * rng.standard_normal(rows.size)
    log = native_log(
        f"lr_slow_{seed}",
        native_terms(rng, n, 0.08, lr),
        NATIVE_WEIGHTS,
        lr,
        positives=positives_of(rng, n),
        evals={"map50": evals_at(rows, np.clip(m, 0, 1))},
    )
    return labelled(
        f"lr_slow_decay_floor_native_s{seed}", log, must_fire={"lr_collapsed"}, must_not_fire=NO_STEP
    )


def lr_absurd_mmdet(seed: int) -> LabelledRun:
    """mmdet Faster R-CNN with SGD lr 0.1 (shipped: 0.02): the losses blow up in warm-up, then NaN.

    mmdet 2.x keeps training on a NaN loss and logs `loss: NaN`; the user stops it at 1500 iterations.
    """
    rng = np.random.default_rng(seed)
    n, per_epoch = 1500, 7330  # COCO at batch 16: 7330 iterations per epoch
    t = np.arange(n, dtype=np.float64)
    lr = 0.1 * linear_warmup(t, MMDET_WARMUP_ITERS, MMDET_WARMUP_RATIO)
    terms = to_mmdet_names(frcnn_terms(rng, 20000, 0.10))
    terms = {k: v[:n].copy() for k, v in terms.items()}
    blow, nan_from = 300, 420
    growth = np.exp(np.clip(t - blow, 0, None) / 25.0)
    for k in terms:
        terms[k] = np.where(t >= nan_from, np.nan, terms[k] * growth)
    config = {
        "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0001},
        "lr_config": {
            "policy": "step",
            "warmup": "linear",
            "warmup_iters": 500,
            "warmup_ratio": 0.001,
            "step": [8, 11],
        },
        "runner": {"type": "EpochBasedRunner", "max_epochs": 12},
    }
    log = mmdet_log(f"lr_absurd_mmdet_{seed}", terms, lr, per_epoch, config=config)
    return labelled(f"lr_absurd_mmdet_s{seed}", log, must_fire={"lr_out_of_range", "non_finite_values"})


def lr_absurd_d2(seed: int) -> LabelledRun:
    """Detectron2 Faster R-CNN at BASE_LR 0.1 (shipped 0.02): after warm-up the losses explode; the run ends.

    Detectron2 raises FloatingPointError on the first non-finite loss (SimpleTrainer._write_metrics), so
    metrics.json never holds the NaN: it ends on rising finite losses at the peak lr.
    """
    rng = np.random.default_rng(seed)
    n = 1300
    t = np.arange(n, dtype=np.float64)
    lr = 0.1 * linear_warmup(t, D2_WARMUP_ITERS, D2_WARMUP_FACTOR)
    terms = frcnn_terms(rng, 20000, 0.12)
    growth = np.exp(np.clip(t - 1050, 0, None) / 40.0)
    terms = {k: v[:n] * growth for k, v in terms.items()}
    log = d2_log(f"lr_absurd_d2_{seed}", terms, lr, positives=positives_of(rng, n, 48.0))
    return labelled(f"lr_absurd_d2_s{seed}", log, must_fire={"lr_out_of_range"})


def short_spike(seed: int) -> LabelledRun:
    """A 40-epoch Ultralytics log with one planted spike: train/cls_loss ×3 at epoch 24, then back."""
    rng = np.random.default_rng(seed)
    train, val, metrics, lr = ultra_curves(rng, 40)
    train["cls"] = train["cls"].copy()
    train["cls"][23] *= 3.0
    log = ultralytics_log(f"short_spike_{seed}", train, val, metrics, lr)
    return labelled(f"short_spike_40ep_s{seed}", log, must_fire={"loss_spikes"})


def one_outlier(seed: int) -> LabelledRun:
    """A calm 100-epoch Ultralytics log with train/cls_loss ×4 at epoch 80 only: a spike, not noise."""
    rng = np.random.default_rng(seed)
    train, val, metrics, lr = ultra_curves(rng, 100)
    train["cls"] = train["cls"].copy()
    train["cls"][79] *= 4.0
    log = ultralytics_log(f"one_outlier_{seed}", train, val, metrics, lr)
    return labelled(
        f"one_outlier_100ep_s{seed}", log, must_fire={"loss_spikes"}, must_not_fire={"high_volatility"}
    )


def noisy_term(seed: int) -> LabelledRun:
    """A native run whose supcon term is computed on a handful of pairs per episode: noise ~65% of its level.

    A contrastive loss over few positives per batch swings by tens of percent between steps (lognormal,
    σ = 0.6: its steps move by ~0.9 of its level); the term carries ~25% of the objective, so it matters.
    """
    rng = np.random.default_rng(seed)
    n = 4000
    lr = native_lr(n)
    raw = native_terms(rng, n, 0.06, lr)
    raw["supcon"] = decay(progress(lr), 1.5, 0.5, n / 3.5) * rng.lognormal(0.0, 0.6, n)
    log = native_log(
        f"noisy_term_{seed}",
        raw,
        NATIVE_WEIGHTS,
        lr,
        positives=positives_of(rng, n),
        evals=native_evals(n, 400, 0.5, rng),
    )
    return labelled(f"noisy_supcon_native_s{seed}", log, must_fire={"high_volatility"}, must_not_fire=NO_STEP)


def total_missing_term(seed: int) -> LabelledRun:
    """A native log whose logged total leaves out the cpe term (logged, weighted 0.5, not summed)."""
    rng = np.random.default_rng(seed)
    n = 4000
    lr = native_lr(n)
    raw = native_terms(rng, n, 0.08, lr)
    total = sum(NATIVE_WEIGHTS[k] * v for k, v in raw.items() if k != "cpe")
    log = native_log(
        f"total_missing_{seed}",
        raw,
        NATIVE_WEIGHTS,
        lr,
        positives=positives_of(rng, n),
        evals=native_evals(n, 400, 0.55, rng),
        total=total,
    )
    return labelled(
        f"total_missing_term_native_s{seed}", log, must_fire={"total_mismatch"}, must_not_fire=NO_STEP
    )


def seed_like(seed: int) -> LabelledRun:
    """Our users' run: weights bbox 7.5, cls 0.5, supcon 1.0, cpe 0.5; mAP and ST-IoU 0 from the first eval.

    Raw bbox is flat from step 0 in a narrow band (±5%) with four ×3 spikes and no trend (the box head is
    not learning: wrong targets); cls, supcon and cpe fall through the whole run; the lr warms up from ~0
    (the trainer's 50 steps from 2e-5), holds 1e-3 and is clamped to 2e-6 at 50% (a cliff); the first
    evaluation (step 499) is at full lr and already 0. Positives are normal: assignment finds anchors.
    """
    rng = np.random.default_rng(seed)
    n = 6000
    t = np.arange(n, dtype=np.float64)
    bbox = noisy(rng, np.full(n, 0.8), 0.05)
    bbox[[900, 2500, 4100, 5500]] *= 3.0
    raw = {
        "bbox": bbox,
        "cls": noisy(rng, decay(t, 1.4, 0.3, n / 1.5), 0.03),
        "supcon": noisy(rng, decay(t, 1.1, 0.3, n / 1.5), 0.03),
        "cpe": noisy(rng, decay(t, 0.7, 0.2, n / 1.5), 0.03),
    }
    rows = np.arange(499, n, 500)
    evals = {"map50": evals_at(rows, np.zeros(rows.size)), "st_iou": evals_at(rows, np.zeros(rows.size))}
    lr = cliff_lr(n, 1e-3, 0.50, LR_FLOOR, 50, 2e-5)
    log = native_log(
        f"seed_like_{seed}",
        raw,
        SEED_WEIGHTS,
        lr,
        positives=positives_of(rng, n),
        evals=evals,
        epochs=(t // 600).astype(np.float64),
    )
    return labelled(
        f"seed_like_s{seed}",
        log,
        must_fire={
            "metric_stuck_at_zero",
            "stationary_component",
            "lr_collapsed",
            "dominant_component",
            "loss_spikes",
        },
        must_not_fire={
            "no_positive_anchors",
            "eval_stopped",
            "eval_regression",
            "total_mismatch",
            "restarts",
            "non_finite_values",
            *NO_STEP,
        },
    )


def seed_poor_map(seed: int) -> LabelledRun:
    """The seed's run where the detector learnt a little: mAP@0.5 ~0.03 (noisy), ST-IoU 0 at every evaluation.

    Raw bbox flat in a narrow band with spikes; the other terms fall; lr cliff to 2e-6 at 10% of the run.
    Not every metric is 0, so this is not `metric_stuck_at_zero`; ST-IoU at 0 beside a poor mAP is.
    """
    rng = np.random.default_rng(seed)
    n = 4000
    t = np.arange(n, dtype=np.float64)
    bbox = noisy(rng, np.full(n, 0.4), 0.05)
    bbox[[700, 1900, 3300]] *= 3.0
    raw = {
        "bbox": bbox,
        "cls": noisy(rng, decay(t, 1.4, 0.9, n / 1.5), 0.03),
        "supcon": noisy(rng, decay(t, 2.2, 1.9, n / 1.5), 0.03),
        "cpe": noisy(rng, decay(t, 0.9, 0.7, n / 1.5), 0.03),
    }
    rows = np.arange(499, n, 500)
    evals = {
        "map50": evals_at(rows, np.clip(0.03 + 0.01 * rng.standard_normal(rows.size), 0.005, 1)),
        "map50_95": evals_at(rows, np.clip(0.01 + 0.003 * rng.standard_normal(rows.size), 0.001, 1)),
        "st_iou": evals_at(rows, np.zeros(rows.size)),
    }
    lr = cliff_lr(n, 1e-3, 0.10, LR_FLOOR, 50, 2e-5)
    log = native_log(
        f"seed_poor_map_{seed}",
        raw,
        SEED_WEIGHTS,
        lr,
        positives=positives_of(rng, n),
        evals=evals,
        epochs=(t // 500).astype(np.float64),
    )
    return labelled(
        f"seed_poor_map_s{seed}",
        log,
        must_fire={"metric_near_zero", "stationary_component", "lr_collapsed"},
        must_not_fire={
            "metric_stuck_at_zero",
            "no_positive_anchors",
            "eval_stopped",
            "total_mismatch",
            "non_finite_values",
        },
    )


# ---------------------------------------------------------------------------------------------------------
# The set.


def _recipes() -> tuple[Recipe, ...]:
    out: list[Recipe] = []

    def add(name: str, build: Callable[[], LabelledRun], heavy: bool = False) -> None:
        out.append(Recipe(name, build, heavy))

    seeds = (0, 1, 2)
    # Healthy look-alikes.
    for n, rel in ((1000, 0.05), (5000, 0.10), (20000, 0.15), (50000, 0.10)):
        for s in seeds:
            add(
                f"healthy_native_{n // 1000}k_noise{int(rel * 100)}_s{s}",
                partial(healthy_native, s, n, rel),
                heavy=n >= 50000,
            )
    for s in seeds:
        add(f"healthy_d2_20k_noise15_s{s}", partial(healthy_d2, s, 20000, 0.15))
        add(f"healthy_mmdet_50k_noise10_s{s}", partial(healthy_mmdet, s, 12, 4200, 0.10))
    for epochs in (50, 100, 300):
        for s in seeds:
            add(f"epoch_level_{epochs}ep_s{s}", partial(healthy_epochs, s, epochs))
    for epochs in (10, 20, 40):
        for s in (0, 1):
            add(f"short_{epochs}ep_s{s}", partial(healthy_epochs, s, epochs, "short"))
    for s in (0, 1):
        add(f"short_smooth_31ep_s{s}", partial(short_smooth_31, s))
        add(f"quantised_1dp_yolox_s{s}", partial(quantised_yolox, s))
        add(f"quantised_2dp_generic_s{s}", partial(quantised_2dp, s))
        add(f"late_l1_switch_yolox_s{s}", partial(yolox_l1_switched_on, s))
        add(f"few_evals_rising_6_s{s}", partial(few_evals, s, 6, False))
        add(f"few_evals_rising_3_s{s}", partial(few_evals, s, 3, False))
        add(f"cosine_1pct_good_map_s{s}", partial(cosine_to_1pct, s))
        add(f"nan_ap_small_d2_s{s}", partial(nan_aps_d2, s))
        add(f"minus1_ap_small_mmdet_s{s}", partial(minus1_aps_mmdet, s))
        add(f"zero_ap_small_good_ap_d2_s{s}", partial(zero_aps_d2, s))
        add(f"healthy_cls_dominant_rtmdet_s{s}", partial(rtmdet_cls_dominant, s))
    for s in seeds:
        add(f"collinear_mmdet_s{s}", partial(collinear_mmdet, s))
    add("d2_cosine_to_zero_good_ap_s0", partial(d2_cosine_to_zero, 0))
    add("d2_tutorial_small_lr_s0", partial(d2_tutorial, 0))
    add("restarted_native_s0", partial(restarted_native, 0))
    add("linear_losses_total_s0", partial(linear_losses, 0, True))
    add("linear_losses_no_total_s0", partial(linear_losses, 0, False))
    # Pathologies.
    for s in (0, 1):
        add(f"zero_positives_scattered_s{s}", partial(zero_positives_scattered, s))
        add(f"overfit_6evals_s{s}", partial(few_evals, s, 6, True))
        add(f"overfit_3evals_s{s}", partial(few_evals, s, 3, True))
        add(f"eval_stopped_nan_d2_s{s}", partial(eval_stopped_d2, s))
        add(f"eval_stopped_absent_native_s{s}", partial(eval_stopped_native, s))
        add(f"lr_cliff_native_s{s}", partial(lr_cliff, s))
        add(f"lr_slow_decay_floor_native_s{s}", partial(lr_slow_floor, s))
        add(f"lr_absurd_mmdet_s{s}", partial(lr_absurd_mmdet, s))
        add(f"lr_absurd_d2_s{s}", partial(lr_absurd_d2, s))
        add(f"short_spike_40ep_s{s}", partial(short_spike, s))
        add(f"one_outlier_100ep_s{s}", partial(one_outlier, s))
        add(f"total_missing_term_native_s{s}", partial(total_missing_term, s))
        add(f"noisy_supcon_native_s{s}", partial(noisy_term, s))
        add(f"seed_like_s{s}", partial(seed_like, s))
        add(f"seed_poor_map_s{s}", partial(seed_poor_map, s))
    return tuple(out)


RECIPES: tuple[Recipe, ...] = _recipes()


def labelled_runs(include_heavy: bool = True) -> tuple[LabelledRun, ...]:
    """Every labelled run of the set (built now; the heavy ones only when asked)."""
    return tuple(r.build() for r in RECIPES if include_heavy or not r.heavy)
