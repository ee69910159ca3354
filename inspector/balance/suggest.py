"""Suggested weights: equal gradient share (GradNorm's target), uncertainty weighting, DWA."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    # only a type here: inspector.data imports torch, which the Loss curves page (log levels) does not need
    pass

from inspector.balance.geometry import nanmean_columns
from inspector.balance.records import LogLevels, SuggestedWeights

DWA_TEMPERATURE = 2.0  # Liu et al. 2019 use T = 2


def _rescaled(
    names: Sequence[str], weights: np.ndarray, proposed: np.ndarray, usable: np.ndarray
) -> dict[str, float] | None:
    """{term: weight}: `proposed` (up to scale) on the usable terms, scaled so that they add up to what the
    current weights of those terms add up to; the other terms keep their weight. None if no term is usable."""
    usable = usable & np.isfinite(proposed) & (proposed > 0)
    if not usable.any():
        return None
    out = np.where(usable, 0.0, weights)
    out[usable] = proposed[usable] * weights[usable].sum() / proposed[usable].sum()
    return {n: float(w) for n, w in zip(names, out, strict=True)}


def _kept(names: Sequence[str], mask: np.ndarray, why: str) -> list[str]:
    return [f"{n}: {why}" for n, m in zip(names, mask, strict=True) if m]


def equal_grad_share(names: Sequence[str], weights: np.ndarray, norms: np.ndarray) -> SuggestedWeights:
    """Returns the weights that make the terms' mean gradient norms equal: w_i' ∝ w_i / mean‖g_i‖ (GradNorm's
    α = 0 target, Chen et al., ICML 2018, solved from the measurement), summing to the current weights' sum.

    `norms` (E, K) are the weighted terms' per-episode gradient norms. Equal MEAN norms make the shares of
    the mean norms exactly 1/K; each episode's share scatters around 1/K as much as the norms' ratios vary
    from episode to episode.
    """
    w = np.asarray(weights, np.float64)
    mean = nanmean_columns(np.asarray(norms, np.float64).reshape(-1, len(names)))
    on = np.isfinite(w) & (w > 0)
    reaches = on & np.isfinite(mean) & (mean > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        proposed = np.where(reaches, w / np.where(reaches, mean, 1.0), np.nan)
    notes = _kept(names, on & ~reaches, "no gradient on the shared parameters in any episode; weight kept")
    return SuggestedWeights(
        "equal_grad_share",
        _rescaled(names, w, proposed, reaches),
        "the episodes' mean gradient norms",
        tuple(f"equal_grad_share: {n}" for n in notes),
    )


def uncertainty(
    names: Sequence[str], weights: np.ndarray, levels: np.ndarray, basis: str
) -> SuggestedWeights:
    """Returns Kendall, Gal & Cipolla's (CVPR 2018) weights at their optimum σ_i² = L_i: w_i ∝ 1/L_i, L_i
    each term's recent RAW level (NaN: unknown), summing to the current weights' sum; `basis` says where the
    levels came from."""
    w = np.asarray(weights, np.float64)
    L = np.asarray(levels, np.float64)
    on = np.isfinite(w) & (w > 0)
    known = on & np.isfinite(L) & (L > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        proposed = np.where(known, 1.0 / np.where(known, L, 1.0), np.nan)
    notes = _kept(names, on & ~known, "no positive raw level; weight kept")
    return SuggestedWeights(
        "uncertainty",
        _rescaled(names, w, proposed, known),
        basis,
        tuple(f"uncertainty: {n}" for n in notes),
    )


def dwa(
    names: Sequence[str],
    weights: np.ndarray,
    last: np.ndarray | None,
    previous: np.ndarray | None,
    basis: str,
    temperature: float = DWA_TEMPERATURE,
) -> SuggestedWeights:
    """Returns Dynamic Weight Averaging's weights (Liu, Johns & Davison, CVPR 2019): w_k ∝ exp(r_k / T),
    r_k = L_k(t−1) / L_k(t−2) from each raw term's mean over the log's last two windows (None: no log),
    summing to the current weights' sum (the paper's K·softmax, rescaled)."""
    if last is None or previous is None:
        return SuggestedWeights(
            "dwa", None, "no log", ("dwa: needs the run's log (the loss history); none given",)
        )
    w = np.asarray(weights, np.float64)
    a, b = np.asarray(last, np.float64), np.asarray(previous, np.float64)
    on = np.isfinite(w) & (w > 0)
    known = on & np.isfinite(a) & np.isfinite(b) & (b > 0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r = np.where(known, a / np.where(known, b, 1.0), np.nan)
        z = np.where(known, r / temperature, -np.inf)
        proposed = np.exp(z - np.max(z)) if known.any() else np.full(len(names), np.nan)
    notes = _kept(names, on & ~known, "no loss ratio over the log's last two windows; weight kept")
    return SuggestedWeights(
        "dwa",
        _rescaled(names, w, proposed, known),
        basis,
        tuple(f"dwa: {n}" for n in notes),
    )


def log_suggestions(
    names: Sequence[str],
    weights: np.ndarray,
    levels: LogLevels | None,
    episodes_raw: np.ndarray | None = None,
) -> tuple[SuggestedWeights, SuggestedWeights]:
    """Returns the (uncertainty, dwa) suggestions for the terms `names` at their current `weights` (K,)
    from a run log's levels (None: no log). Uncertainty falls back on `episodes_raw` (K,), the episodes'
    mean raw values, for terms without a log series, or for every term without a log; without either it
    keeps those terms' weights."""
    w = np.asarray(weights, np.float64)
    fallback = np.full(len(names), np.nan) if episodes_raw is None else np.asarray(episodes_raw, np.float64)
    if levels is not None and levels.recent:
        recent = np.array([levels.recent.get(n, math.nan) for n in names])
        a, b = levels.recent_steps or (0, 0)
        basis = f"the log's raw levels over its last quarter (steps {a}–{b})"
        if not np.isfinite(recent).all() and episodes_raw is not None:
            recent = np.where(np.isfinite(recent), recent, fallback)
            basis += "; terms without a log series: the episodes' mean raw value"
        uncert = uncertainty(names, w, recent, basis)
    elif episodes_raw is not None:
        uncert = uncertainty(names, w, fallback, "the episodes' mean raw values")
    else:
        uncert = uncertainty(names, w, fallback, "no raw levels")
    if levels is not None and levels.last and levels.previous:
        (a0, a1), (b0, b1) = levels.previous_steps or (0, 0), levels.last_steps or (0, 0)
        dwa_weights = dwa(
            names,
            w,
            np.array([levels.last.get(n, math.nan) for n in names]),
            np.array([levels.previous.get(n, math.nan) for n in names]),
            f"the log's raw means over steps {a0}–{a1} (t−2) and {b0}–{b1} (t−1), T = {DWA_TEMPERATURE:g}",
        )
    else:
        dwa_weights = dwa(names, w, None, None, "no log")
    return uncert, dwa_weights
